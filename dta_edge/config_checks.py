"""Checks a run would otherwise fail on minutes in: files a config names, and backend options.

Pydantic validators never touch the disk (STYLE); these checks do, once, when a config is
validated (`dta config validate`) or before a stage starts, and gather every problem at once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from dta_edge.errors import ConfigError, DtaError

# "Qwen/Qwen3-8B": a hub id the backend may download (not checked here, there may be no network).
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def _backend_options(backend: str, options: dict[str, Any], where: str) -> Iterator[str]:
    from dta_edge.backends.registry import backend_class

    try:
        cls = backend_class(backend)
    except ConfigError as exc:
        yield f"{where}.backend: {exc.problems[0]}"
        return
    try:
        cls.Options.model_validate_json(json.dumps(options))
    except ValidationError as exc:
        from dta_edge.plugins import option_problem

        for error in exc.errors():
            yield (
                f"{where}.options.{option_problem(error, list(cls.Options.model_fields))} "
                f"(backend {backend})"
            )
    template = options.get("chat_template")
    if isinstance(template, str) and not Path(template).exists():
        yield f"{where}.options.chat_template: {template} does not exist"


def _model(kind: str, model: str, where: str) -> Iterator[str]:
    """Check a model reference by what its backend opens (its class's ``model_kind``)."""
    from dta_edge.models.references import EMBEDDED, embedded_target
    from dta_edge.shipped import shipped_folder

    if model.startswith(EMBEDDED):
        if model == EMBEDDED:
            return
        try:
            target = embedded_target(model)
        except ConfigError as exc:
            yield f"{where}.model: {exc.problems[0] if exc.problems else exc}"
            return
        if not (shipped_folder("export") / f"{target}.yaml").is_file():
            yield f"{where}.model: {model}: no shipped export target '{target}'"
        return
    if kind == "served":
        return  # a name a server serves
    from dta_edge.model_checks import folder_problems, gguf_problems

    path = Path(model)
    if kind == "gguf":
        if not path.is_file():
            yield f"{where}.model: {model}: no such GGUF file"
            return
        yield from (f"{where}.model: {problem}" for problem in gguf_problems(path))
        return
    if kind == "onnx":
        if not (path / "genai_config.json").is_file():
            yield f"{where}.model: {model}: not an ONNX Runtime GenAI folder (no genai_config.json)"
            return
        yield from (f"{where}.model: {p}" for p in folder_problems(path, onnx=True))
        return
    if path.exists():
        if path.is_dir() and not (path / "config.json").is_file():
            yield f"{where}.model: {model}: not a transformers model folder (no config.json)"
        elif path.is_dir():
            yield from (f"{where}.model: {problem}" for problem in folder_problems(path))
        return
    if not _HUB_ID.match(model):
        yield f"{where}.model: {model}: no such folder (nor a hub id such as Qwen/Qwen3-8B)"
        return
    from dta_edge.models.hub import cached, check_reachable

    unreachable = check_reachable(model)
    if unreachable:
        yield f"{where}.model: {unreachable}"
    elif cached(model):  # checked like a local folder: config, code, weights, template
        from dta_edge.models.hub import resolve_hub

        snapshot = resolve_hub(model)
        yield from (f"{where}.model: {problem}" for problem in folder_problems(snapshot))


def _model_spec(spec: Any, where: str) -> Iterator[str]:
    from dta_edge.backends.registry import backend_class

    try:
        kind = backend_class(spec.backend).model_kind
    except (ConfigError, AttributeError):
        kind = "folder"
    yield from _model(kind, spec.model, where)
    yield from _backend_options(spec.backend, spec.options, where)


def _file(value: str, folder: str, where: str, suffix: str = ".yaml", relative_to=None):
    from dta_edge.shipped import resolve_file

    try:
        resolve_file(value, folder, relative_to=relative_to, suffix=suffix)
    except ConfigError:
        yield f"{where}: {value} does not exist"


def _prompt(value: str, where: str) -> Iterator[str]:
    """A prompt file that exists and compiles (syntax; no include, import or extends)."""
    from dta_edge.curation.prompts import PromptTemplate

    found = list(_file(value, "curation", where, ".jinja"))
    if found:
        yield from found
        return
    try:
        PromptTemplate(value)
    except ConfigError as exc:
        yield f"{where}: {exc}"


def _problem_source(source: Any, config_path: Path, where: str) -> Iterator[str]:
    from dta_edge.tasks.loaders import PRESETS
    from dta_edge.tasks.sources import resolve_problem_file

    if source.file is not None and not resolve_problem_file(config_path, source.file).exists():
        yield f"{where}.file: {source.file} does not exist"
    if (
        source.file is not None
        and source.field_map not in PRESETS
        and not resolve_problem_file(config_path, source.field_map).is_file()
    ):
        yield (f"{where}.field_map: {source.field_map} is neither a preset "
                   f"({', '.join(PRESETS)}) nor a file")  # fmt: skip


def _curation(recipe: Any, path: Path) -> Iterator[str]:
    yield from _problem_source(recipe.problems, path, "problems")
    scorer = recipe.student.scorer
    student_kind = {"llama-cpp": "gguf", "openai": "served"}.get(scorer, "folder")
    yield from _model(student_kind, recipe.student.model, "student")
    if scorer == "openai":
        options = {**recipe.student.scorer_options, "api": "completions"}
        yield from _backend_options("openai", options, "student.scorer")
        if "chat_template" not in recipe.student.scorer_options:
            yield (
                "student.scorer_options.chat_template: the served scorer renders the "
                "student's prompt here; name its tokenizer folder or .jinja file"
            )
    for index, teacher in enumerate(recipe.teachers):
        if teacher.kind == "model" and teacher.model is not None:
            yield from _model_spec(teacher.model, f"teachers[{index}].model")
            yield from _prompt(teacher.prompt, f"teachers[{index}].prompt")
    if recipe.rewriter.kind == "model":
        if recipe.rewriter.model is not None:
            yield from _model_spec(recipe.rewriter.model, "rewriter.model")
        yield from _prompt(recipe.rewriter.prompt, "rewriter.prompt")
    if recipe.judge.enabled and recipe.judge.kind == "model":
        if recipe.judge.model is not None:
            yield from _model_spec(recipe.judge.model, "judge.model")
        yield from _prompt(recipe.judge.prompt, "judge.prompt")
        yield from _prompt(recipe.judge.reflect_prompt, "judge.reflect_prompt")


def _suite(suite: Any, path: Path) -> Iterator[str]:
    yield from _problem_source(suite.problems, path, "problems")
    for index, system in enumerate(suite.systems):
        yield from _model_spec(system, f"systems[{index}]")


def _meter_options(profile: Any) -> Iterator[str]:
    from dta_edge.meters.registry import meter_options

    try:
        meter_options(profile.meter_chain[0], profile.meter_options, profile)
    except ConfigError as exc:
        yield from (f"meter_options.{problem}" for problem in exc.problems)


def _references(config: BaseModel, path: Path) -> Iterator[str]:
    kind = getattr(config, "kind", None)
    if kind == "curation-recipe":
        yield from _curation(config, path)
    elif kind == "bench-suite":
        yield from _suite(config, path)
    elif kind == "train-recipe":
        yield from _model("folder", config.base_model, "base_model")  # type: ignore[attr-defined]
    elif kind == "profile":
        yield from _meter_options(config)
    elif kind == "export-target":
        yield from _file(config.profile, "profiles", "profile", relative_to=path.parent)  # type: ignore[attr-defined]


def check_references(config: BaseModel, path: Path | str) -> None:
    """Check what ``config`` names on disk and every backend's options, before a run starts.

    Raises:
        ConfigError: every missing file, unknown model path and invalid backend option, each with
            its key path.
    """
    path = Path(path)
    try:
        problems = list(_references(config, path))
    except DtaError as exc:
        problems = [str(exc)]
    if problems:
        raise ConfigError(path, problems)
