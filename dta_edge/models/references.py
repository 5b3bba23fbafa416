"""Model references a recipe may use besides paths: the embedded tiny model and its exports.

`embedded:tiny` is the built-in student; `embedded:tiny@<export target>` is that model exported
with a shipped target (done once, cached beside the model). Bench suites, curation recipes,
training recipes and the demo all resolve references here.
"""

from __future__ import annotations

from pathlib import Path

from dta_edge.errors import ConfigError

EMBEDDED = "embedded:tiny"


def resolve_model(reference: str, targets_dir: Path | None = None) -> str:
    """'embedded:tiny' -> the tiny model folder; 'embedded:tiny@T' -> its export for target T.

    Targets come from ``targets_dir`` when given, else from the shipped export targets, so the
    reference works from any working directory.
    """
    if not reference.startswith(EMBEDDED):
        return reference
    from dta_edge.models.tiny import tiny_model

    build = tiny_model()
    if reference == EMBEDDED:
        return str(build.path)
    target_name = reference.removeprefix(EMBEDDED + "@")
    from dta_edge.config import load_config
    from dta_edge.export.runner import MANIFEST, export_model, exported_model
    from dta_edge.export.targets import ExportTarget
    from dta_edge.shipped import shipped_folder

    target_file = (targets_dir or shipped_folder("export")) / f"{target_name}.yaml"
    if not target_file.exists():
        raise ConfigError(reference, [f"no export target {target_file}"])
    out = build.path.parent.parent / "exports" / f"{build.path.name}-{target_name}"
    if not (out / MANIFEST).exists():
        target = load_config(target_file, ExportTarget).model_copy(update={"parity_texts": 3})
        export_model(target, build.path, out)
    return str(exported_model(out))
