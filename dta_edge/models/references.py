"""Model references a recipe may use besides paths: the embedded tiny model and its exports.

`embedded:tiny` is the built-in student; `embedded:tiny@<export target>` is that model exported
with a shipped target. Exporting lives a floor above (dta_edge/export), so whoever may export
(the CLI, the demo) hands stages a resolver that can: ``export.embedded.exporting_resolver()``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from dta_edge.errors import ConfigError

EMBEDDED = "embedded:tiny"

# reference -> a path or a name a backend opens
ModelResolver = Callable[[str], str]
# (tiny model folder, target name) -> the exported model (GGUF file or folder)
Exporter = Callable[[Path, str], Path]


def resolve_model(reference: str, export: Exporter | None = None) -> str:
    """'embedded:tiny' -> the tiny model folder; 'embedded:tiny@T' -> ``export(folder, T)``.

    Any other reference (a folder, a GGUF file, a hub id, a served name) is returned unchanged.

    Raises:
        ConfigError: an ``@target`` reference and no exporter to make it.
    """
    if not reference.startswith(EMBEDDED):
        return reference
    from dta_edge.models.tiny import tiny_model

    build = tiny_model()
    if reference == EMBEDDED:
        return str(build.path)
    target_name = reference.removeprefix(EMBEDDED + "@")
    if export is None:
        raise ConfigError(
            reference,
            ["an exported embedded model needs an exporter here; pass "
             "resolve=dta_edge.export.embedded.exporting_resolver()"],
        )  # fmt: skip
    return str(export(build.path, target_name))
