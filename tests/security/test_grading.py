"""Grading reads what was written: an expression is evaluated (plain arithmetic) or is not a
number; NaN and infinite references are refused at load; a huge answer is a non-answer.
"""

from __future__ import annotations

import json

import pytest

from dta_edge.records import Problem
from dta_edge.tasks.scoring import score_text

from ..conftest import run_dta


def problem(answer: float) -> Problem:
    return Problem(id="p", source="t", category="c", question="q", answer=answer,
                   answer_text=f"{answer:g}")  # fmt: skip


@pytest.mark.parametrize(
    ("text", "reference", "correct"),
    [
        (r"\boxed{7 - 4}", 7, False),  # was right: the first number
        (r"\boxed{7 - 4}", 3, True),
        (r"\boxed{2 + 3}", 2, False),
        (r"\boxed{2 + 3}", 5, True),
        (r"\boxed{3 \times 10}", 3, False),
        (r"\boxed{3 \times 10}", 30, True),
        (r"\boxed{5!}", 5, False),
        (r"\boxed{5!}", 120, True),
        (r"\boxed{(2 + 3) \cdot 4}", 20, True),
        (r"\boxed{2^{10}}", 1024, True),
        (r"\boxed{1/(2 \times 4)}", 0.125, True),
        (r"\boxed{7 - 4 \text{ dB}}", 3, True),
        (r"\boxed{10 / 0}", 10, False),  # no finite value: not a number, never the first one
        # the readings that were right stay right
        (r"\boxed{1.2 \times 10^{-3}}", 0.0012, True),
        (r"\boxed{-83}", -83, True),
        (r"\boxed{-83 \text{ dBm}}", -83, True),
        (r"\boxed{3/4}", 0.75, True),
        (r"\boxed{1,234}", 1234, True),
        (r"\boxed{12.5\%}", 12.5, True),
        ("Answer: 42 dB at 5 GHz", 42, True),
        (r"\boxed{\frac{3}{4}}", 0.75, True),
        (r"\boxed{\sqrt{2}/2}", 0.70710678, True),
        (r"\boxed{2.5e-3}", 0.0025, True),
    ],
)
def test_an_expression_is_read_as_what_it_says(text, reference, correct):
    assert score_text(text, problem(reference))[2] is correct


@pytest.mark.parametrize("answer", ["1" * 10_001, "9" * 5000 + ".5", "1" * 401])
def test_a_huge_answer_is_a_non_answer(answer):
    extracted, value, correct, reason = score_text(f"\\boxed{{{answer}}}", problem(1.0))
    assert not correct and value is None
    assert "too long" in reason or "beyond" in reason


@pytest.mark.parametrize("reference", ["NaN", "Infinity", "-Infinity"])
def test_a_nan_or_infinite_reference_is_refused_at_load(tmp_path, reference):
    line = {"id": "a", "source": "t", "category": "c", "question": "q", "answer_text": "x"}
    text = json.dumps(line)[:-1] + f', "answer": {reference}}}\n'
    (tmp_path / "problems.jsonl").write_text(text)
    (tmp_path / "completions.jsonl").write_text('{"request_id": "a", "text": "1"}\n')
    result = run_dta("score", "run", "--problems", str(tmp_path / "problems.jsonl"),
                     "--completions", str(tmp_path / "completions.jsonl"),
                     "--out", str(tmp_path / "out"))  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "problems.jsonl:1" in result.stderr and "answer" in result.stderr


@pytest.mark.parametrize("value", ["nan", "inf", "-Infinity", "∞"])
def test_a_data_set_with_a_non_finite_answer_is_refused(value):
    from dta_edge.errors import DataError
    from dta_edge.tasks.loaders import FieldMap, row_to_problem

    fields = FieldMap(source="data", question="q", answer="a")
    with pytest.raises(DataError, match="not a finite answer"):
        row_to_problem({"q": "question", "a": value}, "data.jsonl:3", 0, fields)
