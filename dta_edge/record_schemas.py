"""JSON Schemas of every file a run writes, generated from the record models themselves.

docs/schemas/ holds them for readers who parse run folders without dta-edge; a test fails when
a model changes and the committed schema does not (refresh with `dta config schemas`).
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel


def record_models() -> dict[str, type[BaseModel]]:
    """File kind -> the model each line (JSONL) or the whole file (JSON) validates against."""
    from dta_edge.analysis.pairwise import PairwiseVerdict
    from dta_edge.bench.metrics import BenchSummaryFile, SystemSummary
    from dta_edge.export.runner import ExportManifest
    from dta_edge.records import (
        AlignedCandidate,
        BenchResult,
        Candidate,
        Completion,
        Funnel,
        JudgeVerdict,
        LossPoint,
        Problem,
        ScoredCompletion,
        SFTExample,
        TrainSummary,
    )
    from dta_edge.runs import RunInfo
    from dta_edge.tasks.scoring import ScoreSummary

    return {
        "problem": Problem, "completion": Completion, "scored-completion": ScoredCompletion,
        "candidate": Candidate, "aligned-candidate": AlignedCandidate,
        "judge-verdict": JudgeVerdict, "sft-example": SFTExample, "funnel": Funnel,
        "loss-point": LossPoint, "train-summary": TrainSummary, "bench-result": BenchResult,
        "system-summary": SystemSummary, "bench-summary": BenchSummaryFile,
        "score-summary": ScoreSummary, "export-manifest": ExportManifest, "run-info": RunInfo,
        "pairwise-verdict": PairwiseVerdict,
    }  # fmt: skip


def schema_texts() -> dict[str, str]:
    """``<kind>.schema.json`` -> its text, as committed under docs/schemas/."""
    return {
        f"{kind}.schema.json": json.dumps(model.model_json_schema(mode="serialization"),
                                          indent=2, sort_keys=True) + "\n"
        for kind, model in record_models().items()
    }  # fmt: skip


def write_schemas(folder: Path) -> list[Path]:
    """Write every schema into ``folder``; return the paths written."""
    from dta_edge.storage import atomic_write_text

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in schema_texts().items():
        atomic_write_text(folder / name, text)
        written.append(folder / name)
    return written
