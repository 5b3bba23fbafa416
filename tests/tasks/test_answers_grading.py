"""Answer scoring a careful grader would sign: the cases that fooled the scorer, table-driven.

Each table is one convention of README's scoring section; the cases are realistic model outputs.
"""

import math

import pytest

from dta_edge.records import Problem
from dta_edge.tasks.answers import extract_answer, parse_quantity, unit_scale
from dta_edge.tasks.scoring import score_completion, score_text, values_match


def problem(answer, unit=None, rel_tol=None):
    return Problem(
        id="p", source="test", category="c", question="q", answer=answer,
        answer_text=f"{answer}", unit=unit, rel_tol=rel_tol,
    )  # fmt: skip


def verdict(text, answer, unit=None):
    return score_text(text, problem(answer, unit))[2]


# Numbers no float can hold are a non-answer, never an exception.
OVERFLOW = [
    r"\boxed{1e400}",
    r"\boxed{10^{999}}",
    r"\boxed{2.5 \times 10^{999}}",
    "Answer: 1e99999999999999999999",
    r"\boxed{10^{-999}}",  # underflows to 0: not the number written
    "the result is 9" + "9" * 400 + "e400",
    r"\boxed{1e308 THz}",  # finite as written, overflows once the prefix is applied
]


@pytest.mark.parametrize("text", OVERFLOW)
def test_numbers_beyond_float_are_no_answer(text):
    extracted, value, correct, reason = score_text(text, problem(3.0, "Hz"))
    assert not correct and value is None, reason
    record = score_completion(problem(3.0, "Hz"), 0, text)
    assert record.model_dump_json()  # the record still serialises


# Tiny references are compared relatively: no absolute floor.
TINY = [
    (r"\boxed{4.0e-14}", 4.0e-14, True),
    (r"\boxed{4.02 \times 10^{-14}}", 4.0e-14, True),
    (r"\boxed{0}", 4.0e-14, False),
    (r"\boxed{8.0e-14}", 4.0e-14, False),  # twice the reference
    (r"\boxed{1e-12}", 1e-12, True),
    (r"\boxed{2e-12}", 1e-12, False),
    (r"\boxed{0}", 3.2e-11, False),
    (r"\boxed{1.6e-19}", 1.602e-19, True),
    (r"\boxed{-1.6e-19}", 1.602e-19, False),
]


@pytest.mark.parametrize(("text", "answer", "expected"), TINY)
def test_tiny_references_are_relative(text, answer, expected):
    assert verdict(text, answer) is expected


def test_values_match_has_no_absolute_floor():
    assert not values_match(0.0, 1e-13, 0.01)
    assert not values_match(2e-13, 1e-13, 0.01)
    assert values_match(0.0, 0.0, 0.01)
    assert not values_match(math.inf, 1.0, 0.01)


# Letters that are not SI prefixes are never read as one.
UNIT_LETTERS = [
    (r"\boxed{290 K}", 290.0, "K", True),  # kelvin, not kilo
    (r"\boxed{290 K}", 290.0, None, True),
    (r"\boxed{290\,\mathrm{K}}", 290.0, None, True),
    ("The noise temperature is 290 K", 290.0, None, True),
    (r"\boxed{5G}", 5e9, None, False),  # the G of 5G is no giga
    ("The peak rate is 20 Gbps for 5G", 20.0, "Gbps", True),
    (r"\boxed{-3 dBm}", -3.0, "dBm", True),
    (r"\boxed{-3 dBm}", -3e-3, None, False),  # dBm is not deci-Bm nor milli-anything
    (r"\boxed{10 dBi}", 10.0, None, True),
    (r"\boxed{3 dB}", 3.0, None, True),
    (r"\boxed{3 dB}", 0.3, None, False),  # never deci-bytes
    (r"\boxed{-30 dBW}", -30.0, "dBW", True),
    (r"\boxed{2 mW}", 0.002, "W", True),
    (r"\boxed{2 Kbps}", 2000.0, "bps", True),  # informal kilo before a base unit
    (r"\boxed{4 KB}", 4000.0, "B", True),
]


@pytest.mark.parametrize(("text", "answer", "unit", "expected"), UNIT_LETTERS)
def test_unit_letters(text, answer, unit, expected):
    assert verdict(text, answer, unit) is expected


@pytest.mark.parametrize(
    ("unit", "scale", "base"),
    [("K", 1.0, "K"), ("G", 1.0, "G"), ("dBm", 1.0, "dBm"), ("dB", 1.0, "dB"),
     ("dBHz", 1.0, "dBHz"), ("k", 1e3, ""), ("M", 1e6, ""), ("cm", 1e-2, "m"),
     ("km", 1e3, "m"), ("m", 1.0, "m"),
     ("ms", 1e-3, "s"), ("min", 1.0, "min"), ("Mbit", 1e6, "bit")],
)  # fmt: skip
def test_unit_scale(unit, scale, base):
    assert unit_scale(unit) == (scale, base)


# Unicode superscript exponents.
SUPERSCRIPTS = [
    ("Answer: 2.5 × 10⁻⁶", 2.5e-6),
    (r"\boxed{2.5 × 10⁻⁶ W}", 2.5e-6),
    ("BER ≈ 3.2×10⁻⁵", 3.2e-5),
    ("Answer: 10⁻³", 1e-3),
    ("Answer: 1.2 · 10⁹ Hz", 1.2e9),
    ("Answer: 4 × 10¹²", 4e12),
    ("Answer: 7.1 ⋅ 10⁺³", 7.1e3),
]


@pytest.mark.parametrize(("text", "expected"), SUPERSCRIPTS)
def test_superscript_exponents(text, expected):
    quantity = parse_quantity(extract_answer(text))
    assert quantity is not None and math.isclose(quantity.value, expected, rel_tol=1e-9)


# Formatting commands inside \boxed{}.
FORMATTING = [
    (r"\boxed{\textbf{42}}", 42.0, None),
    (r"\boxed{\mathbf{3.5}\ \text{Mbps}}", 3.5, "Mbps"),
    (r"\boxed{\mathrm{12.5\ dB}}", 12.5, "dB"),
    (r"\boxed{\text{12.5 dB}}", 12.5, "dB"),
    (r"\boxed{\textit{0.25}}", 0.25, None),
    (r"\boxed{\displaystyle 7.5}", 7.5, None),
    (r"\boxed{\color{red}{8.25}}", 8.25, None),
    (r"\boxed{\textcolor{blue}{-1.5}}", -1.5, None),
    (r"\boxed{\text{\textbf{99}}\,\mathrm{ms}}", 99.0, "ms"),
    (r"\boxed{\boldsymbol{3.0 \times 10^{8}}}", 3e8, None),
]


@pytest.mark.parametrize(("text", "answer", "unit"), FORMATTING)
def test_formatting_inside_boxed(text, answer, unit):
    assert verdict(text, answer, unit)


# The centi prefix.
CENTI = [
    (r"\boxed{12.5 cm}", 0.125, "m", True),
    (r"\boxed{12.5 cm}", 125.0, "mm", True),
    (r"\boxed{12.5 cm}", 12.5, "cm", True),
    (r"\boxed{0.125 m}", 12.5, "cm", True),
    (r"\boxed{3 km}", 3000.0, "m", True),
    (r"\boxed{12.5 cm}", 12.5, "m", False),
]


@pytest.mark.parametrize(("text", "answer", "unit", "expected"), CENTI)
def test_centi_prefix(text, answer, unit, expected):
    assert verdict(text, answer, unit) is expected


# A prefixed answer against a reference that carries no unit: the number as written, or its value
# in the base unit; a known problem unit converts exactly.
UNITLESS_REFERENCE = [
    (r"\boxed{3 ms}", 3.0, None, True),  # reference written in ms
    (r"\boxed{3 ms}", 0.003, None, True),  # reference written in s
    (r"\boxed{3 ms}", 3000.0, None, False),
    (r"\boxed{12.5 Mbps}", 12.5, None, True),
    (r"\boxed{12.5 Mbps}", 12.5e6, None, True),
    (r"\boxed{12.5 Mbps}", 1.25e6, None, False),
    (r"\boxed{3 ms}", 0.003, "s", True),  # unit known: exact conversion
    (r"\boxed{3 ms}", 3.0, "s", False),
    (r"\boxed{2.4 GHz}", 2.4e9, None, True),
    (r"\boxed{30k}", 30_000.0, None, True),
]


@pytest.mark.parametrize(("text", "answer", "unit", "expected"), UNITLESS_REFERENCE)
def test_prefixed_answer_against_unitless_reference(text, answer, unit, expected):
    assert verdict(text, answer, unit) is expected


# A decimal comma is read as the number meant, never as another one.
DECIMAL_COMMA = [
    (r"\boxed{3,5}", 3.5),
    ("Answer: 0,125", 0.125),
    ("Answer: 12,75 dB", 12.75),
    ("Answer: 1234,5", 1234.5),
    ("Answer: 1.234,5", 1234.5),
    ("Answer: 3,14159", 3.14159),
    ("Answer: 1,234", 1234.0),  # English thousands grouping
    ("Answer: 1,234,567.5", 1234567.5),
    (r"\boxed{1{,}234.5}", 1234.5),
]


@pytest.mark.parametrize(("text", "expected"), DECIMAL_COMMA)
def test_decimal_comma(text, expected):
    quantity = parse_quantity(extract_answer(text))
    assert quantity is not None and math.isclose(quantity.value, expected, rel_tol=1e-12)


def test_decimal_comma_is_never_truncated():
    assert not verdict(r"\boxed{3,5}", 3.0)
    assert verdict(r"\boxed{3,5}", 3.5)


# A standard or release number after an explicit answer never wins over it.
STANDARDS = [
    ("Answer: 300 Mbps\n\nThe answer follows 3GPP TS 38.211.", 300.0),
    ("Final answer: 12.5 dB. This is the answer in Rel-15.", 12.5),
    ("The answer is 54 Mbps, as in IEEE 802.11a.", 54.0),
    ("Answer: 54\nThat answer holds for 802.11g and 802.11ac.", 54.0),
    ("So the answer is 4.5 ms (see RFC 6298)", 4.5),
    ("The throughput comes to 150 Mbps under 3GPP TS 36.213", 150.0),
    ("The latency is 1 ms in 5G", 1.0),
    ("Peak rate 20 Gbps per ITU-R M.2410 for 5G NR Release 15", 20.0),
    ("Answer: Under Rel-15 numerology the slot is 0.5 ms", 0.5),
]


@pytest.mark.parametrize(("text", "expected"), STANDARDS)
def test_standard_numbers_never_win(text, expected):
    quantity = parse_quantity(extract_answer(text))
    assert quantity is not None and math.isclose(quantity.value, expected, rel_tol=1e-12)
