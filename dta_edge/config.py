"""Typed configs: the base model every recipe, profile and target derives from, and YAML loading.

Each YAML file names its ``kind``; :data:`CONFIG_KINDS` maps a kind to the pydantic model that
owns it (imported lazily, so reading a profile never imports torch). Validation runs in JSON mode,
so YAML lists fill tuples and strings fill paths, while a string never silently becomes a number.
"""

from __future__ import annotations

import difflib
import importlib
import json
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from dta_edge._yaml import KeyPath, line_of, load_yaml_with_lines
from dta_edge.errors import ConfigError


class FrozenModel(BaseModel):
    """Base of every config and record: immutable, and unknown keys are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


M = TypeVar("M", bound=BaseModel)

CONFIG_KINDS: dict[str, str] = {
    "problems": "dta_edge.tasks.generator:ProblemsConfig",
    "tiny-model": "dta_edge.models.tiny_config:TinyModelConfig",
    "score": "dta_edge.tasks.scoring:ScoreConfig",
    "field-map": "dta_edge.tasks.loaders:FieldMap",
    "profile": "dta_edge.profiles:DeviceProfile",
    "export-target": "dta_edge.export.targets:ExportTarget",
    "bench-suite": "dta_edge.bench.suite:BenchSuite",
    "reported": "dta_edge.bench.suite:ReportedResults",
    "curation-recipe": "dta_edge.curation.recipe:CurationRecipe",
    "train-recipe": "dta_edge.train.recipe:TrainRecipe",
    "lexicon": "dta_edge.analysis.token_shift:Lexicon",
}


def repeated_names(names: list[str], what: str) -> None:
    """Raise (inside a validator) when a list of names repeats one: results are keyed by name.

    Raises:
        ValueError: naming every repeated name.
    """
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"{what} names must be unique; repeated: {', '.join(repeated)}")


def config_class(kind: str) -> type[BaseModel]:
    """Return the config model registered for ``kind``.

    Raises:
        ConfigError: ``kind`` is not registered; the message lists the valid kinds.
    """
    try:
        target = CONFIG_KINDS[kind]
    except KeyError:
        valid = ", ".join(sorted(CONFIG_KINDS))
        raise ConfigError("<kind>", [f"unknown kind '{kind}'; valid kinds: {valid}"]) from None
    module_name, _, class_name = target.partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def _submodel(model: type[BaseModel], loc: KeyPath) -> type[BaseModel] | None:
    """Follow ``loc`` through nested model fields, for "did you mean" hints."""
    current: type[BaseModel] = model
    for part in loc:
        field = current.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        current = annotation
    return current


def _describe(model: type[BaseModel], error: dict[str, Any], lines: dict[KeyPath, int]) -> str:
    loc: KeyPath = tuple(error["loc"])
    dotted = ".".join(str(p) for p in loc) or "<top level>"
    line = line_of(lines, loc)
    where = f"line {line}: " if line is not None else ""
    if error["type"] == "extra_forbidden":
        parent = _submodel(model, loc[:-1])
        hint = ""
        if parent is not None:
            close = difflib.get_close_matches(str(loc[-1]), list(parent.model_fields), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
        return f"{where}{dotted}: unknown key{hint}"
    if error["type"] == "missing":
        return f"{where}{dotted}: required field is missing"
    shown = json.dumps(error.get("input"), default=str)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{where}{dotted}: {error['msg']} (got {shown})"


def refuse_inline_secrets(data: Any, path: Path | str, lines: dict[KeyPath, int]) -> None:
    """An API key written into a config would be copied into run.json: refuse it, unshown.

    Raises:
        ConfigError: naming each key path (never its value) and how to pass the key instead.
    """
    from dta_edge.secrets import find_inline_secrets

    problems = []
    for loc in find_inline_secrets(data):
        line = line_of(lines, loc)
        dotted = ".".join(str(p) for p in loc)
        problems.append(
            f"{f'line {line}: ' if line is not None else ''}{dotted}: a credential is written in "
            "the config (a key or token, or one inside a URL); put it in an environment "
            "variable and name it with api_key_env: NAME"
        )
    if problems:
        raise ConfigError(path, problems)


def validate_mapping(
    model: type[M], data: Any, path: Path | str, lines: dict[KeyPath, int] | None = None
) -> M:
    """Validate already-parsed data, turning every pydantic error into one ConfigError.

    Raises:
        ConfigError: naming the file, each key path and, when known, its line.
    """
    refuse_inline_secrets(data, path, lines or {})
    try:
        payload = json.dumps(data, default=str)
    except (TypeError, ValueError) as exc:
        raise ConfigError(path, [f"cannot represent config as JSON: {exc}"]) from None
    try:
        return model.model_validate_json(payload)
    except ValidationError as exc:
        problems = [_describe(model, err, lines or {}) for err in exc.errors()]
        raise ConfigError(path, problems) from None


def load_config(path: Path | str, expected: type[M] | None = None) -> M:
    """Load a YAML config file and validate it against its kind.

    Args:
        path: the YAML file.
        expected: the model the caller needs; when given, the file's ``kind`` must match it.

    Returns:
        The validated, frozen config.

    Raises:
        ConfigError: unreadable file, invalid YAML, unknown kind, or failed validation.
    """
    path = Path(path)
    data, lines = load_yaml_with_lines(path)
    if not isinstance(data, dict):
        raise ConfigError(path, ["line 1: the file must hold a mapping of keys to values"])
    kind = data.get("kind")
    if expected is not None:
        expected_kind = expected.model_fields["kind"].default
        if kind is None:
            data = {"kind": expected_kind, **data}
        elif kind != expected_kind:
            raise ConfigError(
                path,
                [f"line {lines.get(('kind',), 1)}: kind: expected '{expected_kind}', got '{kind}'"],
            )
        model: type[BaseModel] = expected
    else:
        if kind is None:
            valid = ", ".join(sorted(CONFIG_KINDS))
            raise ConfigError(path, [f"line 1: kind: required field is missing (one of: {valid})"])
        try:
            model = config_class(str(kind))
        except ConfigError as exc:
            raise ConfigError(
                path, [f"line {lines.get(('kind',), 1)}: {exc.problems[0]}"]
            ) from None
    return validate_mapping(model, data, path, lines)  # type: ignore[return-value]


def dump_config(config: BaseModel) -> str:
    """Render a config as YAML, defaults included (what `dta config show` prints)."""
    import yaml

    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
