"""Pairwise judging: does model A's answer beat model B's, problem by problem?

Answers come from two bench runs (results.jsonl, sample 0 of each problem). A judge model sees the
problem, the reference answer when the data has one, and both answers, and names the better one
or a tie. Each pair is judged twice, A shown first and then B shown first; the two verdicts are
added (+1 for a win, -1 for a loss, 0 for a tie), so a judge that always prefers the first
position produces ties, not wins. Verdicts are appended to pairwise_verdicts.jsonl as they come,
so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

from dta_edge.backends.base import Generator, ask_until_parsed
from dta_edge.config import FrozenModel
from dta_edge.curation.prompts import PromptTemplate
from dta_edge.curation.steps import progress_ticker, run_bounded
from dta_edge.errors import DataError
from dta_edge.layout import PAIRWISE, PAIRWISE_PLOT, PAIRWISE_VERDICTS, RESULTS
from dta_edge.plot_text import literal
from dta_edge.records import BenchResult, ChatMessage, Problem, sample_key
from dta_edge.runs import recorded
from dta_edge.storage import JsonlWriter, atomic_write_json, read_jsonl
from dta_edge.tasks.scoring import wilson_interval

PROMPT = Path("analysis/prompts/pairwise.jinja")
SCHEMA = {
    "type": "object",
    "properties": {  # the verdict first: a reply cut at max_tokens still carries it
        "winner": {"type": "string", "enum": ["A", "B", "tie"]},
        "reason": {"type": "string", "maxLength": 300},
    },
    "required": ["winner", "reason"],
}
_WINNER = re.compile(r'"winner"\s*:\s*"([^"]*)"')
_REASON = re.compile(r'"reason"\s*:\s*"(.*)', re.DOTALL)
Progress = Callable[[str, int, int], None]
Order = Literal["ab", "ba"]


class PairwiseVerdict(FrozenModel):
    """One judged order of one problem."""

    schema_version: Literal[1] = 1
    problem_id: str
    order: Order = "ab"  # ab: run A's answer is shown as "Answer A"
    winner_shown: Literal["A", "B", "tie"] | None = None
    winner: Literal["a", "b", "tie"] | None = None
    reason: str = ""
    error: str | None = None

    @property
    def key(self) -> str:
        """One verdict per problem and order."""
        return sample_key(self.problem_id, self.order)


class RunAnswers(FrozenModel):
    """One system's first-sample answers from a bench run, and whether each was correct."""

    system: str
    texts: dict[str, str]
    correct: dict[str, bool]


def read_answers(run_dir: Path, system: str | None) -> RunAnswers:
    """A system's sample-0 answers from a bench run folder (or its results.jsonl).

    Raises:
        DataError: no results file, or an ambiguous / unknown system.
    """
    path = run_dir / RESULTS if run_dir.is_dir() else run_dir
    if not path.is_file():
        raise DataError(f"{path}: no bench results (run `dta bench` first)")
    results = read_jsonl(path, BenchResult, tolerate_torn_tail=True)
    systems = sorted({r.system for r in results})
    if system is None:
        if len(systems) != 1:
            raise DataError(f"{path}: holds systems {systems}; name one with --a-system/--b-system")
        system = systems[0]
    elif system not in systems:
        raise DataError(f"{path}: no system '{system}'; it holds {systems}")
    first = [r for r in results if r.system == system and r.sample_index == 0 and r.error is None]
    return RunAnswers(system=system, texts={r.problem_id: r.text for r in first},
                      correct={r.problem_id: r.correct for r in first})  # fmt: skip


def parse_winner(text: str) -> tuple[str, str]:
    """(winner 'A'|'B'|'tie', reason) from a reply; raises ValueError when there is none.

    A whole JSON object is read as such; a reply cut short still counts when its "winner" key
    is complete (the reason is then whatever was written).
    """
    start, end = text.find("{"), text.rfind("}")
    try:
        reply = json.loads(text[start : end + 1], strict=False) if 0 <= start < end else None
    except json.JSONDecodeError:
        reply = None
    if isinstance(reply, dict):
        winner, reason = str(reply.get("winner", "")).strip(), str(reply.get("reason", ""))
    else:
        match = _WINNER.search(text)
        if match is None:
            raise ValueError("no JSON object with a 'winner' in the reply")
        reason_match = _REASON.search(text, match.end())
        winner, reason = match.group(1).strip(), reason_match.group(1) if reason_match else ""
    normal = {"a": "A", "b": "B", "tie": "tie"}.get(winner.lower())
    if normal is None:
        raise ValueError(f"'winner' is {winner!r}, not A, B or tie")
    return normal, reason[:300]


def judge_order(
    judge: Generator, problem: Problem, answers: tuple[str, str], order: Order, *,
    reference: bool, max_tokens: int, retries: int, thinking: bool, json_schema: bool,
    template: PromptTemplate | None = None,
) -> PairwiseVerdict:  # fmt: skip
    """Ask the judge for one order (malformed replies are asked again with other seeds)."""
    shown = answers if order == "ab" else answers[::-1]
    prompt = (template or PromptTemplate(PROMPT)).render(
        question=problem.question, answer_a=shown[0], answer_b=shown[1],
        reference_answer=problem.answer_text if reference else "",
    )  # fmt: skip
    parsed, failure = ask_until_parsed(
        judge, [ChatMessage(role="user", content=prompt)], parse_winner, retries=retries,
        max_tokens=max_tokens, json_schema=SCHEMA if json_schema else None, thinking=thinking,
    )  # fmt: skip
    if parsed is None:
        return PairwiseVerdict(problem_id=problem.id, order=order, error=failure)
    shown_winner, reason = parsed
    sides = ("a", "b") if order == "ab" else ("b", "a")  # who was shown as A, who as B
    winner = {"A": sides[0], "B": sides[1], "tie": "tie"}[shown_winner]
    return PairwiseVerdict(problem_id=problem.id, order=order, winner_shown=shown_winner,
                           winner=winner, reason=reason)  # fmt: skip


def combine(verdicts: Sequence[PairwiseVerdict]) -> dict:
    """Outcome per problem from both orders, and the tallies with Wilson 95% intervals."""
    by_problem: dict[str, dict[str, PairwiseVerdict]] = {}
    for v in verdicts:
        by_problem.setdefault(v.problem_id, {})[v.order] = v
    score = {"a": 1, "b": -1, "tie": 0}
    outcomes: dict[str, str] = {}
    consistent = first_wins = decided_orders = failed = 0
    for problem_id, orders in by_problem.items():
        if len(orders) < 2 or any(v.winner is None for v in orders.values()):
            failed += 1
            continue
        total = sum(score[v.winner] for v in orders.values())  # type: ignore[index]
        outcomes[problem_id] = "a" if total > 0 else "b" if total < 0 else "tie"
        consistent += orders["ab"].winner == orders["ba"].winner
        for v in orders.values():
            decided_orders += v.winner_shown != "tie"
            first_wins += v.winner_shown == "A"
    n = len(outcomes)
    tally = {}
    for label, key in (("a_wins", "a"), ("ties", "tie"), ("b_wins", "b")):
        count = sum(o == key for o in outcomes.values())
        tally[label] = {"count": count, "rate": count / n if n else None,
                        "ci95": list(wilson_interval(count, n))}  # fmt: skip
    return {
        "problems_judged": n, "failed": failed, **tally,
        "position_consistency": consistent / n if n else None,
        "first_position_preference": first_wins / decided_orders if decided_orders else None,
        "outcomes": outcomes,
    }  # fmt: skip


def reference_agreement(
    outcomes: dict[str, str], correct: dict[str, tuple[bool, bool]]
) -> dict[str, float | int | None]:
    """Where exactly one answer is right by the reference: how often the judge picked it."""
    split = {pid: pair for pid, pair in correct.items() if pair[0] != pair[1] and pid in outcomes}
    agreed = sum(outcomes[pid] == ("a" if a_right else "b") for pid, (a_right, _) in split.items())
    return {"one_correct": len(split), "judge_picked_correct": agreed,
            "rate": agreed / len(split) if split else None}  # fmt: skip


def _bar_chart(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [literal(f"{result['a']} wins"), "tie", literal(f"{result['b']} wins")]
    rows = [result["a_wins"], result["ties"], result["b_wins"]]
    rates = [r["rate"] or 0.0 for r in rows]
    errors = [[rate - r["ci95"][0] for rate, r in zip(rates, rows, strict=True)],
              [r["ci95"][1] - rate for rate, r in zip(rates, rows, strict=True)]]  # fmt: skip
    figure, axis = plt.subplots(figsize=(6, 3), dpi=110)
    axis.barh(labels, rates, xerr=errors, color=["C0", "C7", "C1"], capsize=4)
    axis.set_xlim(0, 1)
    axis.set_xlabel(f"share of {result['problems_judged']} problems (95% Wilson interval)")
    axis.set_title(literal(f"pairwise, judge {result['judge']}, both orders"), fontsize=9)
    axis.grid(alpha=0.3, axis="x")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def pairwise_problems(run_a: Path, data: Path | None, field_map: str | None) -> list[Problem]:
    """The problems to judge: ``data`` through ``field_map``, else those beside run A's results.

    Any math set works through a field map; without one, ``data`` (default: the problems.jsonl
    a bench run keeps beside its results) holds dta problem records.

    Raises:
        DataError: no data given and run A keeps no problems.jsonl.
    """
    from dta_edge.layout import PROBLEMS
    from dta_edge.tasks.loaders import read_problem_file
    from dta_edge.tasks.sources import ProblemSource, load_problem_source

    data = data or (run_a if run_a.is_dir() else run_a.parent) / PROBLEMS
    if field_map is not None:
        source = ProblemSource(file=str(data), field_map=field_map)
        return load_problem_source(source, None, Path("pairwise"))
    if not data.is_file():
        raise DataError(f"{data}: no such file; pass --data")
    return read_problem_file(data)


@recorded("analyze.pairwise")
def run_pairwise(
    judge: Generator,
    judge_name: str,
    problems: Sequence[Problem],
    a: RunAnswers,
    b: RunAnswers,
    out_dir: Path,
    *,
    reference: bool = True,
    max_tokens: int = 256,
    retries: int = 2,
    thinking: bool = False,
    json_schema: bool = True,
    workers: int = 1,
    on_progress: Progress | None = None,
) -> Path:
    """Judge every problem both runs answered, both orders; write pairwise.json and .png.

    Raises:
        DataError: the runs share no answered problem of the data set.
    """
    name_a, answers_a, name_b, answers_b = a.system, a.texts, b.system, b.texts
    shared = [p for p in problems if p.id in answers_a and p.id in answers_b]
    if not shared:
        raise DataError(f"{name_a} and {name_b} answered no problem of the data set in common")
    progress = on_progress or (lambda _name, _done, _total: None)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / PAIRWISE_VERDICTS
    jobs = [(p, order) for p in shared for order in ("ab", "ba")]
    with JsonlWriter(path, PairwiseVerdict) as writer:
        todo = [(p, o) for p, o in jobs if sample_key(p.id, o) not in writer.done]
        tick = progress_ticker(progress, "pairwise", len(jobs) - len(todo), len(jobs))
        template = PromptTemplate(PROMPT)

        def ask(job: tuple[Problem, Order]) -> PairwiseVerdict:
            problem, order = job
            return judge_order(
                judge, problem, (answers_a[problem.id], answers_b[problem.id]), order,
                reference=reference and bool(problem.answer_text), max_tokens=max_tokens,
                retries=retries, thinking=thinking, json_schema=json_schema, template=template,
            )  # fmt: skip

        keep = lambda _job, verdict: writer.write(verdict)  # noqa: E731
        run_bounded(todo, ask, keep, workers=workers, on_done=tick)
    ids = {p.id for p in shared}
    verdicts = [v for v in read_jsonl(path, PairwiseVerdict) if v.problem_id in ids]
    result = {"a": name_a, "b": name_b, "judge": judge_name, "reference_shown": reference,
              **combine(verdicts)}  # fmt: skip
    if any(p.answer_text for p in shared):  # bench scored the answers against a reference
        pairs = {p.id: (a.correct[p.id], b.correct[p.id]) for p in shared}
        result["reference_agreement"] = reference_agreement(result["outcomes"], pairs)
    _bar_chart(result, out_dir / PAIRWISE_PLOT)
    result["plot"] = PAIRWISE_PLOT
    json_path = out_dir / PAIRWISE
    atomic_write_json(json_path, result)
    return json_path
