"""Model references a recipe may use besides paths: the embedded tiny model and its exports.

`embedded:tiny` is the built-in student; `embedded:tiny@<export target>` is that model exported
with a shipped target. Exporting lives a floor above (dta_edge/export), so whoever may export
(the CLI, the demo) hands stages a resolver that can: ``export.embedded.exporting_resolver()``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from dta_edge.errors import ConfigError
from dta_edge.safe_paths import check_plain_name

EMBEDDED = "embedded:tiny"

# reference -> a path or a name a backend opens
ModelResolver = Callable[[str], str]
# (tiny model folder, target name) -> the exported model (GGUF file or folder)
Exporter = Callable[[Path, str], Path]


def embedded_target(reference: str) -> str:
    """The target of ``embedded:tiny@NAME``, checked as a plain name (it becomes a file name).

    Raises:
        ConfigError: not ``embedded:tiny@NAME``, or NAME is not a plain name.
    """
    target = reference.removeprefix(EMBEDDED)
    if not target.startswith("@"):
        raise ConfigError(reference, [f"expected {EMBEDDED} or {EMBEDDED}@<export target>"])
    try:
        return check_plain_name(target[1:])
    except ValueError as exc:
        raise ConfigError(reference, [f"export target: {exc}"]) from None


def resolve_model(reference: str, export: Exporter | None = None) -> str:
    """'embedded:tiny' -> the tiny model folder; 'embedded:tiny@T' -> ``export(folder, T)``.

    A hub id (``owner/name``, not a local path) becomes its folder in the Hugging Face cache,
    fetched when online (models/hub); any other reference (a folder, a GGUF file) is returned
    unchanged. A name a server serves is never resolved: callers pass it through (see
    ``backends.registry.model_reference``).

    Raises:
        ConfigError: an ``@target`` reference and no exporter to make it.
    """
    if not reference.startswith(EMBEDDED):
        from dta_edge.models.hub import is_hub_id, resolve_hub

        return str(resolve_hub(reference)) if is_hub_id(reference) else reference
    from dta_edge.models.tiny import tiny_model

    build = tiny_model()
    if reference == EMBEDDED:
        return str(build.path)
    target_name = embedded_target(reference)
    if export is None:
        raise ConfigError(
            reference,
            ["an exported embedded model needs an exporter here; pass "
             "resolve=dta_edge.export.embedded.exporting_resolver()"],
        )  # fmt: skip
    return str(export(build.path, target_name))
