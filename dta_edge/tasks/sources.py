"""Where problems come from: the built-in generator, or a benchmark file read through a field map.

Bench suites, curation recipes and `dta analyze pairwise` all name their problems this way.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from dta_edge.config import FrozenModel
from dta_edge.records import Problem
from dta_edge.tasks.generator import ProblemsConfig


class ProblemSource(FrozenModel):
    """Generated problems, or a file (JSONL/CSV/Parquet) read through a field map."""

    generate: ProblemsConfig | None = None
    file: str | None = Field(default=None, description="e.g. data/telemath.jsonl")
    field_map: str = Field(default="telemath", description="A preset or a field-map YAML file.")

    @model_validator(mode="after")
    def _one_source(self) -> ProblemSource:
        if (self.generate is None) == (self.file is None):
            raise ValueError("give exactly one of generate or file")
        return self


def resolve_problem_file(suite_path: Path, file: str) -> Path:
    """Suite-relative paths resolve against the suite's folder, then the working directory."""
    candidate = Path(file)
    if not candidate.is_absolute() and not candidate.exists():
        beside = suite_path.parent / candidate
        if beside.exists():
            return beside
    return candidate


def load_problem_source(source: ProblemSource, n: int | None, config_path: Path) -> list[Problem]:
    """Generated problems or a file read through its field map, cut to the first ``n``."""
    if source.generate is not None:
        from dta_edge.tasks.generator import generate_problems

        problems = list(generate_problems(source.generate))
    else:
        from dta_edge.config import load_config
        from dta_edge.tasks.loaders import PRESETS, FieldMap, load_problems, read_rows

        path = resolve_problem_file(config_path, source.file or "")
        fields = PRESETS.get(source.field_map)
        if fields is None:
            fields = load_config(resolve_problem_file(config_path, source.field_map), FieldMap)
        problems = load_problems(read_rows(path), fields, str(path))
    return problems[:n] if n else problems
