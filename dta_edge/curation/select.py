"""Selection: the DTA set (sft.jsonl), the distilled-only control (distilled.jsonl), funnel.json.

DTA examples are kept rewrites the judge accepted, ranked per problem by agreement, judge score
and alignment gain (NLL before - after); the control set is the agreed teacher originals, ranked
by agreement. Both pass the same rules, so they differ by Phase II alone: at most
``per_problem`` per problem, near-duplicates dropped (MinHash over character 5-grams, rensa),
no category above ``category_share`` of the budget, and the global budget.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

from dta_edge.curation.agreement import agreement_levels
from dta_edge.curation.decontaminate import Ledger
from dta_edge.curation.recipe import CurationRecipe, SelectionSpec
from dta_edge.layout import ALIGNED, CANDIDATES, DISTILLED, FUNNEL, JUDGED, SFT
from dta_edge.models.chat import user_prompt
from dta_edge.records import (
    AlignedCandidate,
    Candidate,
    ChatMessage,
    Funnel,
    JudgeVerdict,
    Problem,
    SFTExample,
)
from dta_edge.storage import atomic_write_json, read_jsonl, write_jsonl

NUM_PERM = 128


def _shingles(text: str, n: int = 5) -> list[str]:
    flat = " ".join(text.lower().split())
    return [flat[i : i + n] for i in range(max(1, len(flat) - n + 1))]


class _NearDuplicates:
    """MinHash LSH index; ``seen`` says whether a text is a near-duplicate of one kept before."""

    def __init__(self, threshold: float) -> None:
        from rensa import RMinHashLSH

        self.threshold = threshold
        self.index = RMinHashLSH(threshold=threshold, num_perm=NUM_PERM, num_bands=16)
        self.hashes: dict[int, object] = {}

    def seen(self, text: str) -> bool:
        from rensa import RMinHash

        signature = RMinHash(num_perm=NUM_PERM, seed=42)
        signature.update(_shingles(text))
        for other in self.index.query(signature):
            if signature.jaccard(self.hashes[other]) >= self.threshold:
                return True
        key = len(self.hashes)
        self.hashes[key] = signature
        self.index.insert(key, signature)
        return False


def select(
    ranked: Sequence[tuple[Problem, str, object]], spec: SelectionSpec
) -> tuple[list[tuple[Problem, str, object]], Counter]:
    """Apply per-problem cap, near-duplicate removal, category quotas and budget, in rank order.

    ``ranked`` holds (problem, text, payload) best first; returns the kept items and a count of
    drops per reason. Without a budget, the category share applies to what the per-problem cap
    lets through.
    """
    budget = spec.budget or len({p.id for p, _, _ in ranked}) * spec.per_problem
    cap = max(1, math.floor(spec.category_share * budget))
    per_problem: Counter = Counter()
    per_category: Counter = Counter()
    drops: Counter = Counter()
    duplicates = _NearDuplicates(spec.near_duplicate)
    kept = []
    for problem, text, payload in ranked:
        if per_problem[problem.id] >= spec.per_problem:
            drops["per-problem cap"] += 1
        elif duplicates.seen(text):
            drops["near-duplicate"] += 1
        elif per_category[problem.category] >= cap:
            drops["category quota"] += 1
        elif len(kept) >= budget:
            drops["budget"] += 1
        else:
            kept.append((problem, text, payload))
            per_problem[problem.id] += 1
            per_category[problem.category] += 1
    return kept, drops


def _rank_round_robin(items: dict[str, list]) -> list:
    """Best of every problem first, then second-best of every problem, ...: fair under a budget."""
    ordered, depth = [], 0
    while True:
        layer = [group[depth] for group in items.values() if depth < len(group)]
        if not layer:
            return ordered
        ordered += layer
        depth += 1


def run_select(
    recipe: CurationRecipe, problems: list[Problem], out_dir: Path, ledger: Ledger | None = None
) -> Funnel:
    """Write sft.jsonl, distilled.jsonl and funnel.json; return the funnel.

    With a ``ledger``, every solution that could enter a set is checked against its bench
    questions first, and dropped where caught (unless the recipe only counts).
    """

    def leaks(item: Candidate | AlignedCandidate, text: str) -> bool:
        if ledger is None:
            return False
        item_id = f"{item.problem_id}-{item.teacher}-{item.sample_index}"
        return ledger.contaminated("solution", item_id, text) and recipe.decontaminate.drop

    by_id = {p.id: p for p in problems}
    candidates = read_jsonl(out_dir / CANDIDATES, Candidate)
    aligned = read_jsonl(out_dir / ALIGNED, AlignedCandidate)
    verdicts = {v.key: v for v in read_jsonl(out_dir / JUDGED, JudgeVerdict)}
    instruction = recipe.instruction

    dta: dict[str, list] = defaultdict(list)
    for item in aligned:
        verdict = verdicts.get(item.key)
        if item.kept and verdict is not None and verdict.accepted and not leaks(item, item.rewrite):
            gain = (item.nll_before or 0) - (item.nll_after or 0)
            dta[item.problem_id].append(((item.agreement, verdict.score or 0, gain), item))
    dta_ranked = {
        pid: [
            (by_id[pid], i.rewrite, i) for _, i in sorted(group, key=lambda g: g[0], reverse=True)
        ]
        for pid, group in dta.items()
    }
    dta_kept, dta_drops = select(_rank_round_robin(dta_ranked), recipe.selection)

    by_problem: dict[str, list[Candidate]] = defaultdict(list)
    for c in candidates:
        by_problem[c.problem_id].append(c)
    control: dict[str, list] = {}
    agreed_total = 0
    for problem in problems:
        levels = agreement_levels(problem, by_problem.get(problem.id, []), recipe.agreement)
        agreed = sorted((c for c in by_problem.get(problem.id, []) if c.key in levels),
                        key=lambda c: (-levels[c.key], c.teacher, c.sample_index))  # fmt: skip
        agreed_total += len(agreed)
        agreed = [c for c in agreed if not leaks(c, c.text)]
        if agreed:
            control[problem.id] = [(problem, c.text, c) for c in agreed]
    if recipe.selection.matched:  # the control follows the DTA set instead of its own rules
        dta_kept, control_kept, control_drops = _matched(
            dta_kept, dta_drops, control, recipe.selection.near_duplicate
        )
    else:
        control_kept, control_drops = select(_rank_round_robin(control), recipe.selection)

    def prompt(problem: Problem) -> str:
        return user_prompt(problem.question, instruction)

    def examples(kept, set_name: str) -> list[SFTExample]:
        rows = []
        for problem, text, payload in kept:
            rows.append(SFTExample(
                id=f"{set_name}-{payload.problem_id}-{payload.teacher}-{payload.sample_index}",
                problem_id=problem.id, set_name=set_name, teacher=payload.teacher,
                messages=(ChatMessage(role="user", content=prompt(problem)),
                          ChatMessage(role="assistant", content=text)),
                student_nll_before=getattr(payload, "nll_before", None),
                student_nll_after=getattr(payload, "nll_after", None),
            ))  # fmt: skip
        return rows

    write_jsonl(out_dir / SFT, examples(dta_kept, "dta"))
    write_jsonl(out_dir / DISTILLED, examples(control_kept, "distilled"))
    funnel = _funnel(problems, candidates, agreed_total, aligned, list(verdicts.values()),
                     dta_kept, dta_drops, control_kept, control_drops)  # fmt: skip
    if ledger is not None:
        funnel = funnel.model_copy(update={"decontamination": ledger.counts()})
    atomic_write_json(out_dir / FUNNEL, funnel.model_dump(mode="json"))
    return funnel


def _matched(
    dta_kept: list, dta_drops: Counter, control: dict[str, list], threshold: float
) -> tuple[list, list, Counter]:
    """Both sets on the same problems with the same count each; the control's drops counted.

    The control takes, per problem, as many agreed originals as DTA kept (in agreement order,
    near-duplicates skipped); where a problem has fewer originals, DTA gives up its lowest-ranked
    (counted in ``dta_drops``).
    """
    wanted = Counter(problem.id for problem, _, _ in dta_kept)
    duplicates = _NearDuplicates(threshold)
    have: Counter = Counter()
    drops: Counter = Counter()
    matched_control = []
    for problem_id in wanted:  # in the DTA set's order, which the near-duplicate index sees
        for item in control.get(problem_id, []):
            if have[problem_id] >= wanted[problem_id]:
                drops["beyond the DTA set's count"] += 1
            elif duplicates.seen(item[1]):
                drops["near-duplicate"] += 1
            else:
                matched_control.append(item)
                have[problem_id] += 1
    drops["problem not in the DTA set"] = sum(
        len(group) for problem_id, group in control.items() if problem_id not in wanted
    )
    taken: Counter = Counter()
    matched_dta = []
    for item in dta_kept:
        if taken[item[0].id] < have[item[0].id]:
            matched_dta.append(item)
            taken[item[0].id] += 1
        else:
            dta_drops["no original to match"] += 1
    return matched_dta, matched_control, drops


def _funnel(problems, candidates, agreed_total, aligned, verdicts, dta_kept, dta_drops,
            control_kept, control_drops) -> Funnel:  # fmt: skip
    kept_aligned = [a for a in aligned if a.kept]
    before = [a.nll_before for a in kept_aligned if a.nll_before is not None]
    after = [a.nll_after for a in kept_aligned if a.nll_after is not None]
    answered = [c for c in candidates if c.error is None]
    return Funnel.model_validate({
        "problems": len(problems),
        "phase1": {
            "candidates": len(candidates),
            "by_teacher": dict(Counter(c.teacher for c in candidates)),
            "request_errors": len(candidates) - len(answered),
            "synthetic_wrong": sum(c.synthetic for c in candidates),
            "no_answer_found": sum(c.extracted_answer is None for c in answered),
            "correct_vs_reference": sum(bool(c.correct) for c in candidates),
        },
        "agreement": {"agreed": agreed_total, "rejected": len(candidates) - agreed_total},
        "phase2": {
            "rewritten": len(aligned),
            "kept": len(kept_aligned),
            "rejected": dict(Counter(a.reason for a in aligned if not a.kept)),
            "student_nll_before_mean": sum(before) / len(before) if before else None,
            "student_nll_after_mean": sum(after) / len(after) if after else None,
        },
        "judge": {
            "judged": len(verdicts),
            "accepted": sum(v.accepted for v in verdicts),
            "rejected": dict(Counter(v.reason for v in verdicts if not v.accepted)),
            "revised_by_reflection": sum("revised" in v.reason for v in verdicts),
        },
        "selection": {
            "dta": {"kept": len(dta_kept), "dropped": dict(dta_drops)},
            "distilled": {"kept": len(control_kept), "dropped": dict(control_drops)},
        },
        "outputs": {SFT: len(dta_kept), DISTILLED: len(control_kept)},
    })  # fmt: skip
