"""Answer extraction and scoring, table-driven: the tricky spellings of a final answer."""

import math

import pytest

from dta_edge.records import Problem
from dta_edge.tasks.answers import explicit_answer, extract_answer, parse_quantity, split_thinking
from dta_edge.tasks.scoring import score_text

# (model output, expected value, or None when no answer should be found)
EXTRACTION_CASES = [
    # boxed
    (r"So the loss is \boxed{126.4} dB.", 126.4),
    (r"\boxed{-83.04}", -83.04),
    (r"first \boxed{1} then corrected \boxed{2}", 2.0),
    (r"\boxed{1.2 \times 10^{-3}}", 1.2e-3),
    (r"\boxed{1.2\times10^{-3}}", 1.2e-3),
    (r"\boxed{3.5 \cdot 10^{6}}", 3.5e6),
    (r"\boxed{\frac{3}{4}}", 0.75),
    (r"\boxed{\dfrac{1}{8}}", 0.125),
    (r"\boxed{-\frac{1}{2}}", -0.5),
    (r"\boxed{12.5\%}", 12.5),
    (r"\boxed{1{,}234.5}", 1234.5),
    (r"\boxed{2.5\,\text{ms}}", 2.5),
    (r"\boxed{P_r = -83.2\text{ dBm}}", -83.2),
    (r"\boxed{x_1 = 5}", 5.0),
    (r"\boxed{10^{-3}}", 1e-3),
    (r"\boxed{\mathrm{SNR} \approx 6.31}", 6.31),
    (r"$\boxed{42}$", 42.0),
    (r"\fbox{7.5}", 7.5),
    (r"\boxed{{0.25}}", 0.25),
    (r"\boxed{ 99 }", 99.0),
    # answer cues
    ("Answer: 12.5%", 12.5),
    ("Final answer: 3.0 dB", 3.0),
    ("The final answer is −83 dBm.", -83.0),
    ("the final answer is 0.0123", 0.0123),
    ("Therefore, the answer is 54 Mbps.", 54.0),
    ("ANSWER: 7", 7.0),
    ("Answer = 1.5e-5", 1.5e-5),
    ("Answer: 1,500,000 bps", 1_500_000.0),
    ("answer: 1 234 567", 1_234_567.0),
    ("Answer: 2/3", 2 / 3),
    ("Answer: -0.5", -0.5),
    ("Answer: +4.2", 4.2),
    ("Answer: .5", 0.5),
    # fall back to the last number
    ("The capacity is about 29902 bps", 29902.0),
    ("It comes to 1.2e-3 and then 4.5e-3", 4.5e-3),
    ("loss of 120 dB, so Pr = -79 dBm", -79.0),
    ("1.2×10^-3", 1.2e-3),
    ("roughly 3 x 10^8 m/s", 3e8),
    ("E = 1.6E-19 J", 1.6e-19),
    ("value 7.", 7.0),
    # unicode and typography
    ("Answer: −3.2", -3.2),
    ("Answer: –3.2", -3.2),
    ("Answer: 5·10^3", 5000.0),
    # thinking is removed first
    ("<think>maybe 42</think>It is 7", 7.0),
    ("<think>\n\n</think>\n\n\\boxed{8}", 8.0),
    ("reasoning 5 ... </think> Answer: 6", 6.0),
    ("<think>I think \\boxed{9}</think>", None),
    ("<think>still working on 5", None),
    # nothing numeric
    ("I do not know.", None),
    ("", None),
    (r"\boxed{}", None),
]


@pytest.mark.parametrize(("text", "expected"), EXTRACTION_CASES)
def test_extraction(text, expected):
    quantity = parse_quantity(extract_answer(text))
    if expected is None:
        assert quantity is None
    else:
        assert quantity is not None
        assert math.isclose(quantity.value, expected, rel_tol=1e-9)


def make_problem(answer, unit=None, rel_tol=None, answer_text=None):
    return Problem(
        id="p", source="test", category="c", question="q", answer=answer,
        answer_text=answer_text if answer_text is not None else f"{answer}",
        unit=unit, rel_tol=rel_tol,
    )  # fmt: skip


# (output, reference value, reference unit, per-problem tolerance, expected verdict)
SCORING_CASES = [
    (r"\boxed{126.4}", 126.403, "dB", None, True),
    (r"\boxed{126}", 126.403, "dB", None, True),  # 0.3% off, inside 1%
    (r"\boxed{124}", 126.403, "dB", None, False),  # 1.9% off
    (r"\boxed{124}", 126.403, "dB", 0.02, True),  # per-problem tolerance
    (r"\boxed{30 kbps}", 30_000.0, "bps", None, True),  # SI prefix converted
    (r"\boxed{0.03 Mbps}", 30.0, "kbps", None, True),
    (r"\boxed{30}", 30_000.0, "bps", None, False),
    (r"\boxed{30k}", 30_000.0, None, None, True),  # bare prefix
    (r"\boxed{2.5 ms}", 2.5, "ms", None, True),
    (r"\boxed{2500 us}", 2.5, "ms", None, True),
    (r"\boxed{2500 µs}", 2.5, "ms", None, True),
    (r"\boxed{2.4 GHz}", 2400.0, "MHz", None, True),
    (r"\boxed{12.5\%}", 0.125, None, None, True),  # percent read as a fraction
    (r"\boxed{12.5\%}", 12.5, "%", None, True),
    ("Answer: 95%", 95.0, "%", None, True),
    (r"\boxed{-83 dBm}", -83.04, "dBm", None, True),
    (r"\boxed{83 dBm}", -83.04, "dBm", None, False),  # sign matters
    (r"\boxed{1.5 \times 10^{-5}}", 1.49886e-05, None, 0.02, True),
    (r"\boxed{1.5e-4}", 1.49886e-05, None, 0.02, False),
    (r"\boxed{0}", 0.0, None, None, True),
    (r"\boxed{1e-9}", 0.0, None, None, False),  # exact zero needs an exact zero
    (r"\boxed{\sqrt{2}/2}", 0.70711, None, None, True),  # symbolic, numerically equal
    (r"\boxed{\pi}", 3.14159, None, None, True),
    (r"<think>\boxed{5}</think> so \boxed{6}", 6.0, None, None, True),
    ("no answer", 6.0, None, None, False),
]


@pytest.mark.parametrize(("text", "answer", "unit", "tolerance", "verdict"), SCORING_CASES)
def test_scoring(text, answer, unit, tolerance, verdict):
    _, _, correct, reason = score_text(text, make_problem(answer, unit, tolerance))
    assert correct is verdict, reason


@pytest.mark.parametrize(
    ("text", "reference", "verdict"),
    [
        (r"\boxed{\frac{1}{2}}", r"\frac{1}{2}", True),
        (r"\boxed{0.5}", r"\frac{1}{2}", True),
        (r"\boxed{1/3}", r"\frac{1}{2}", False),
        (r"\boxed{x^2 + 2x + 1}", r"(x+1)^2", True),
        (r"\boxed{2\sqrt{2}}", r"\sqrt{8}", True),
    ],
)
def test_symbolic_answers_use_math_verify(text, reference, verdict):
    _, _, correct, _ = score_text(text, make_problem(None, answer_text=reference))
    assert correct is verdict


def test_default_tolerance_is_one_percent():
    problem = make_problem(100.0)
    assert score_text(r"\boxed{100.99}", problem)[2]
    assert not score_text(r"\boxed{101.01}", problem)[2]
    assert score_text(r"\boxed{101.5}", problem, default_rel_tol=0.02)[2]


def test_split_thinking():
    assert split_thinking("<think>\nplan\n</think>\n\nanswer") == ("plan", "answer")
    assert split_thinking("plan</think>answer") == ("plan", "answer")
    assert split_thinking("plain") == ("", "plain")
    assert split_thinking("<think>unfinished") == ("unfinished", "")


def test_explicit_answer_ignores_bare_numbers():
    assert explicit_answer("the loss is 120 dB") is None
    assert explicit_answer(r"so \boxed{120}") == "120"
    assert explicit_answer("Answer: 120 dB") == "120 dB"
    assert extract_answer("the loss is 120 dB") == "120 dB"
