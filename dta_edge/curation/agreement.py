"""Which teacher answers count as agreed, and how strongly.

With a reference answer, a candidate agrees when it is correct within tolerance (level 1.0).
Without one, answers are grouped (numeric within ``rel_tol``, else by text) across all teachers'
samples; the largest group is the consensus, and its members agree when its share of the answered
samples reaches ``min_ratio``. The share is kept on the record as the agreement level.
"""

from __future__ import annotations

from collections.abc import Sequence

from dta_edge.curation.recipe import AgreementSpec
from dta_edge.records import Candidate, Problem
from dta_edge.tasks.scoring import values_match


def _same(a: Candidate, b: Candidate, rel_tol: float) -> bool:
    if a.value is not None and b.value is not None:
        return values_match(a.value, b.value, rel_tol)
    return (a.extracted_answer or "").strip() == (b.extracted_answer or "").strip()


def agreement_levels(
    problem: Problem, candidates: Sequence[Candidate], spec: AgreementSpec
) -> dict[str, float]:
    """Candidate key -> agreement level, for the candidates that agree (others are absent)."""
    has_reference = problem.answer is not None or bool(problem.answer_text)
    if has_reference and any(c.correct is not None for c in candidates):
        return {c.key: 1.0 for c in candidates if c.correct}
    answered = [c for c in candidates if c.extracted_answer is not None and c.error is None]
    if not answered:
        return {}
    groups: list[list[Candidate]] = []
    for item in sorted(answered, key=lambda c: (c.teacher, c.sample_index)):
        for group in groups:
            if _same(group[0], item, spec.rel_tol):
                group.append(item)
                break
        else:
            groups.append([item])
    best = max(groups, key=len)
    share = len(best) / len(answered)
    if share < spec.min_ratio or (len(groups) > 1 and sorted(map(len, groups))[-2] == len(best)):
        return {}  # no majority, or a tie between answers
    return {c.key: share for c in best}
