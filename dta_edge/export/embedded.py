"""`embedded:tiny@<target>`: the embedded tiny model exported with a shipped (or given) target.

The export runs once and is cached beside the model. Stages below the export layer cannot
export, so the CLI and the demo hand them :func:`exporting_resolver` as their model resolver.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from dta_edge.errors import ConfigError
from dta_edge.models.references import ModelResolver, resolve_model
from dta_edge.safe_paths import plain_name


def export_embedded(model_dir: Path, target_name: str, targets_dir: Path | None = None) -> Path:
    """The cached export of ``model_dir`` for target ``target_name``, made on first use."""
    from dta_edge.config import load_config
    from dta_edge.export.runner import export_model, exported_model
    from dta_edge.export.targets import ExportTarget
    from dta_edge.layout import MANIFEST
    from dta_edge.shipped import shipped_folder

    plain_name(target_name, source=f"embedded:tiny@{target_name}")  # it becomes a file name
    target_file = (targets_dir or shipped_folder("export")) / f"{target_name}.yaml"
    if not target_file.exists():
        raise ConfigError(f"embedded:tiny@{target_name}", [f"no export target {target_file}"])
    out = model_dir.parent.parent / "exports" / f"{model_dir.name}-{target_name}"
    if not (out / MANIFEST).exists():
        target = load_config(target_file, ExportTarget).model_copy(update={"parity_texts": 3})
        export_model(target, model_dir, out, overwrite=True)
    return exported_model(out)


def exporting_resolver(targets_dir: Path | None = None) -> ModelResolver:
    """A model resolver that also turns ``embedded:tiny@<target>`` into its (cached) export."""
    return partial(resolve_model, export=partial(export_embedded, targets_dir=targets_dir))
