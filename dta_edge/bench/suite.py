"""Bench suites (bench/<name>.yaml): the systems under test, the data, and how to run them.

A system is a backend, a model, thinking on or off, k samples per problem and explicit sampling.
Figures quoted from papers live in their own files (kind ``reported``) and are never run or mixed
with measured ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from dta_edge.backends.base import SamplingSettings
from dta_edge.backends.registry import BackendName
from dta_edge.config import FrozenModel, repeated_names
from dta_edge.models.references import EMBEDDED
from dta_edge.tasks.protocols import DEFAULT_PROTOCOL, ProtocolName
from dta_edge.tasks.sources import ProblemSource


class SystemSpec(FrozenModel):
    """One system under test."""

    name: str = Field(description="Row name in results and the report.")
    backend: BackendName = Field(description="A registered backend (dta_edge/backends).")
    model: str = Field(
        description=f"Folder, GGUF file, hub id or served name; '{EMBEDDED}' is the built-in tiny "
        f"model and '{EMBEDDED}@<export target>' its export."
    )
    options: dict[str, Any] = Field(default_factory=dict, description="Backend options.")
    thinking: bool = False
    thinking_budget: int | None = Field(default=None, ge=1)
    k: int = Field(default=1, ge=1, description="Samples per problem; cons@k when k > 1.")
    issue: Literal["sequential", "parallel"] = Field(
        default="sequential",
        description="How the k samples go out: one after another (each its own energy window) "
        "or together (one window; backends with concurrency run them at once).",
    )
    sampling: SamplingSettings = SamplingSettings()
    quantization: str = Field(default="", description="For the report, e.g. 'q8_0', 'bf16'.")
    arm: str | None = Field(
        default=None,
        description="Systems sharing an arm are one method trained with several seeds: the "
        "report pools them, and a headline between two arms resamples seeds and problems.",
    )
    seed: int | None = Field(default=None, description="The training seed of this arm's system.")


class BenchSuite(FrozenModel):
    """`dta bench --suite`: systems x problems."""

    kind: Literal["bench-suite"] = "bench-suite"
    name: str
    description: str = ""
    problems: ProblemSource
    n: int | None = Field(default=None, ge=1, description="Use the first n problems; all.")
    warmup: int = Field(default=1, ge=0, description="Requests per system outside any window.")
    idle_seconds: float = Field(
        default=0.0, ge=0, description="Measure idle power first and subtract it (0: don't)."
    )
    instruction: str | None = Field(
        default="Please reason step by step, and put your final answer within \\boxed{}."
    )
    protocol: ProtocolName = Field(
        default=DEFAULT_PROTOCOL,
        description="Scoring protocol behind pass@1: dta (ours) or telemath-reference (the "
        "public TeleMath scorer, for comparison with published tables); both are recorded.",
    )
    systems: tuple[SystemSpec, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> BenchSuite:
        repeated_names([s.name for s in self.systems], "system")
        return self


class ReportedSystem(FrozenModel):
    """Figures a paper reports for one system; shown apart, labelled reported."""

    name: str
    source: str = Field(description="Paper and table the figures come from.")
    thinking: bool | None = None
    k: int = 1
    pass_at_1: float | None = Field(default=None, ge=0, le=100, description="Percent.")
    cons_at_k: float | None = Field(default=None, ge=0, le=100, description="Percent.")
    protocol: str = Field(
        default="",
        description="How the source scored its answers (e.g. telemath-reference); '' if unstated.",
    )
    notes: str = ""


class ReportedResults(FrozenModel):
    """bench/paper-reported.yaml: quoted, never measured."""

    kind: Literal["reported"] = "reported"
    name: str
    description: str = ""
    systems: tuple[ReportedSystem, ...] = Field(min_length=1)


def write_reported(reported: ReportedResults, out_dir: Path, *, overwrite: bool = False) -> Path:
    """reported.json in ``out_dir``: the quoted rows, labelled, for the report to show apart.

    The folder is owned like a bench run's (run.json, its lock; a folder of another suite is
    refused unless ``overwrite`` moves it aside).
    """
    from dta_edge.layout import REPORTED
    from dta_edge.runs import run_record
    from dta_edge.storage import atomic_write_json

    config = {"reported": reported.model_dump(mode="json")}
    with run_record(out_dir, "bench.reported", config, overwrite=overwrite):
        path = out_dir / REPORTED
        atomic_write_json(path, {"label": "reported", **reported.model_dump(mode="json")})
    return path
