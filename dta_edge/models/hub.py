"""Models named by hub id (``Qwen/Qwen3-8B``), resolved through the Hugging Face cache.

A reference that is not a local path but has the shape ``owner/name`` is looked up in the cache
(``HF_HOME`` / ``HF_HUB_CACHE``) and downloaded when online. With ``HF_HUB_OFFLINE=1`` a model
missing from the cache is one line naming the id and the command that fetches it, raised when a
config is validated, before any work. Only what a checkpoint needs is fetched (configs,
safetensors, tokenizer, chat template), never pickle weights.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from dta_edge.errors import ModelError

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
FETCHED = ["*.json", "*.safetensors", "*.jinja", "*.txt", "*.model", "tokenizer*"]


def is_hub_id(reference: str) -> bool:
    """``owner/name`` that is not a path on this machine."""
    return bool(HUB_ID.match(reference)) and not Path(reference).exists()


def offline() -> bool:
    """Whether the environment forbids hub access (HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE)."""
    return any(os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")
               for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))  # fmt: skip


def _missing(reference: str) -> ModelError:
    return ModelError(
        f"{reference}: not in the Hugging Face cache and hub access is off (HF_HUB_OFFLINE); "
        f"fetch it first with `hf download {reference}` (or point at a local folder)"
    )


def cached(reference: str) -> bool:
    """Whether the hub model's config is in the local cache (no network)."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(reference, "config.json")
    return isinstance(found, str) and Path(found).is_file()


def check_reachable(reference: str) -> str | None:
    """Why a hub id cannot be used here (offline and not cached), or None."""
    return str(_missing(reference)) if offline() and not cached(reference) else None


def resolve_hub(reference: str) -> Path:
    """The local snapshot folder of a hub model, from the cache or downloaded.

    Raises:
        ModelError: offline and not cached, or the hub refused (unknown id, gated, no network).
    """
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
    )

    if offline() and not cached(reference):
        raise _missing(reference)
    try:
        return Path(snapshot_download(reference, allow_patterns=FETCHED,
                                      local_files_only=offline()))  # fmt: skip
    except (LocalEntryNotFoundError, OfflineModeIsEnabled):
        raise _missing(reference) from None
    except RepositoryNotFoundError:
        raise ModelError(f"{reference}: no such model on the hub (or it is gated: log in with "
                         "`hf auth login`)") from None  # fmt: skip
    except (HfHubHTTPError, OSError) as exc:
        raise ModelError(f"{reference}: cannot fetch from the hub ({exc}); run `hf download "
                         f"{reference}` where the hub is reachable") from None  # fmt: skip
