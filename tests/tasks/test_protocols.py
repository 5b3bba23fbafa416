"""The telemath-reference protocol reproduces the public scorer; docs/scoring's table is today's."""

from __future__ import annotations

import json

import pytest

from dta_edge.records import Problem
from dta_edge.tasks.protocols import judge, last_boxed
from dta_edge.tasks.scoring import ScoreConfig

from ..conftest import REPO
from .protocol_corpus import CORPUS, protocol_table


def problem(reference: str) -> Problem:
    return Problem(id="p", source="t", category="c", question="q", answer=float(reference),
                   answer_text=reference)  # fmt: skip


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"a \boxed{1} then \boxed{2}", "2"),
        (r"\boxed{\frac{1}{2}}", r"\frac{1}{2}"),
        (r"\boxed{a{b}c}", "a{b}c"),
        (r"\boxed{1} and an unclosed \boxed{2", None),  # the last box decides, closed or not
        ("no box", None),
    ],
)
def test_last_boxed(text, expected):
    assert last_boxed(text) == expected


@pytest.mark.parametrize(
    ("text", "reference", "expected"),
    [
        (r"\boxed{0.005}", "0.004", True),  # abs_tol 0.01
        (r"\boxed{0.021}", "0.004", False),
        (r"\boxed{1009}", "1000", True),  # rel_tol 1%
        (r"\boxed{1011}", "1000", False),
        (r"\boxed{30 kbps}", "30000", False),  # no units
        ("The answer is 42.", "42", False),  # only \boxed{}
        (r"\boxed{ 42 }", "42", True),  # stripped
    ],
)
def test_reference_protocol(text, reference, expected):
    assert judge("telemath-reference", text, problem(reference)).correct is expected


def test_a_non_numeric_reference_is_an_exact_string_match():
    qpsk = Problem(id="p", source="t", category="c", question="q", answer=None, answer_text="QPSK")
    assert judge("telemath-reference", r"\boxed{QPSK}", qpsk).correct
    assert not judge("telemath-reference", r"\boxed{qpsk}", qpsk).correct


def test_docs_scoring_shows_the_corpus_table_as_the_code_computes_it():
    page = (REPO / "docs" / "scoring.md").read_text(encoding="utf-8")
    table = "\n".join(protocol_table(CORPUS))
    assert table in page, "refresh docs/scoring.md's protocol table:\n" + table


def test_score_run_records_the_protocol_and_both_pass_at_1(tmp_path):
    from dta_edge.tasks.score_run import score_files

    problems = tmp_path / "problems.jsonl"
    problems.write_text(
        "\n".join(p.model_dump_json() for p in (problem("0.004"), problem("30000").model_copy(
            update={"id": "q", "unit": "bps"}))) + "\n"
    )  # fmt: skip
    completions = tmp_path / "completions.jsonl"
    rows = [{"request_id": "p", "sample_index": 0, "text": r"\boxed{0.005}"},
            {"request_id": "q", "sample_index": 0, "text": r"\boxed{30 kbps}"}]  # fmt: skip
    completions.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    for protocol, expected in (("dta", 0.5), ("telemath-reference", 0.5)):
        out = tmp_path / protocol
        summary = score_files(problems, completions, out, ScoreConfig(protocol=protocol))
        assert summary.protocol == protocol and summary.pass_at_1 == expected
        assert summary.pass_at_1_by_protocol == {"dta": 0.5, "telemath-reference": 0.5}
        scored = [json.loads(line) for line in (out / "scores.jsonl").read_text().splitlines()]
        decided = {s["problem_id"]: s["correct"] for s in scored}
        assert decided == ({"p": False, "q": True} if protocol == "dta" else
                           {"p": True, "q": False})  # fmt: skip
        assert json.loads((out / "summary.json").read_text())["protocol"] == protocol


def test_an_unknown_protocol_is_refused_with_the_choices():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="telemath-reference"):
        ScoreConfig(protocol="telemath")
