"""`dta score run`: score a completions file against its problems, resumably."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from dta_edge.errors import DataError
from dta_edge.layout import SCORES, SUMMARY
from dta_edge.records import Completion, ScoredCompletion
from dta_edge.runs import run_record
from dta_edge.storage import JsonlWriter, atomic_write_json, read_jsonl
from dta_edge.tasks.loaders import read_problem_file
from dta_edge.tasks.scoring import ScoreConfig, ScoreSummary, score_completion, summarize


def score_files(
    problems_path: Path,
    completions_path: Path,
    out_dir: Path,
    config: ScoreConfig,
    on_record: Callable[[int, int], None] | None = None,
    *,
    overwrite: bool = False,
) -> ScoreSummary:
    """Score every completion, append to scores.jsonl (skipping ones already scored), summarize.

    Raises:
        DataError: a completion names a problem the problems file does not have.
    """
    problems = {p.id: p for p in read_problem_file(problems_path)}
    completions = read_jsonl(completions_path, Completion)
    if not completions:
        raise DataError(f"{completions_path}: holds no completions")
    resolved = {
        **config.model_dump(mode="json"),
        "problems": str(problems_path),
        "completions": str(completions_path),
    }
    with run_record(out_dir, "score.run", resolved, overwrite=overwrite):
        with JsonlWriter(out_dir / SCORES, ScoredCompletion) as writer:
            for index, completion in enumerate(completions, start=1):
                problem = problems.get(completion.request_id)
                if problem is None:
                    raise DataError(
                        f"{completions_path}: completion {completion.key} names problem "
                        f"'{completion.request_id}', which {problems_path} does not contain"
                    )
                if completion.key not in writer.done:
                    writer.write(
                        score_completion(
                            problem,
                            completion.sample_index,
                            completion.text,
                            config.rel_tol,
                            config.protocol,
                        )  # fmt: skip
                    )
                if on_record is not None:
                    on_record(index, len(completions))
        scored = read_jsonl(out_dir / SCORES, ScoredCompletion)
        summary = summarize(scored, problems, config.k_values, config.rel_tol, config.protocol)
        atomic_write_json(out_dir / SUMMARY, summary.model_dump(mode="json"))
    return summary
