r"""Find the final answer in a model's text and read it as a number.

Models write answers many ways: ``\boxed{1.2 \times 10^{-3}}``, "Answer: 12.5%", "the final answer
is −83 dBm", "30 kbps". Extraction picks the intended span; parsing turns it into a value and a unit
so that scoring can compare in the reference unit. All functions are pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"

SI_PREFIXES: dict[str, float] = {
    "p": 1e-12, "n": 1e-9, "u": 1e-6, "µ": 1e-6, "μ": 1e-6, "m": 1e-3,
    "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
}  # fmt: skip
BASE_UNITS = ("bps", "b/s", "bit/s", "bits/s", "Hz", "s", "W", "J", "ohm", "Ω", "B", "V", "A", "F")
UNPREFIXED = {
    "dB",
    "dBm",
    "dBi",
    "dBW",
    "dBc",
    "dBd",
    "m",
    "bits",
    "bit",
    "packets",
    "Erlang",
    "min",
    "h",
}

_MANT = r"[-+]?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?|[-+]?\.\d+"
_QUANTITY = re.compile(
    rf"(?P<num>{_MANT})"
    r"(?:[eE](?P<exp>[-+]?\d+)|\s*[x*]\s*10\s*\^\s*\{?\s*(?P<exp10>[-+]?\d+)\s*\}?)?"
    rf"(?:\s*/\s*(?P<den>{_MANT}))?"
    r"\s*(?P<pct>%|percent\b)?"
    r"\s*(?P<unit>[A-Za-zµμΩ]+(?:/[A-Za-z]+)?)?"
)
_POWER_OF_TEN = re.compile(r"^\s*10\s*\^\s*\{?\s*(?P<exp>[-+]?\d+)\s*\}?")
_ANSWER_CUE = re.compile(
    r"(?:final answer(?: is)?|answer(?: is)?)\s*[:=]?\s*(?P<rest>[^\n]+)", re.IGNORECASE
)
_LATEX_FRAC = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
_LATEX_WRAPPER = re.compile(r"\\(?:text|mathrm|operatorname|mbox)\s*\{([^{}]*)\}")


@dataclass(frozen=True)
class Quantity:
    """A parsed answer: its value, the unit written after it, and whether it was a percentage."""

    value: float
    unit: str | None = None
    percent: bool = False


def split_thinking(text: str) -> tuple[str, str]:
    """Separate reasoning from the answer: ``(reasoning, answer_text)``.

    Qwen3 templates may open ``<think>`` in the prompt, so the output can hold only the closing tag.
    An opened but never closed block means the model ran out of budget while thinking: no answer.
    """
    if THINK_CLOSE in text:
        reasoning, _, answer = text.rpartition(THINK_CLOSE)
        return reasoning.replace(THINK_OPEN, "").strip(), answer.strip()
    if THINK_OPEN in text:
        before, _, reasoning = text.partition(THINK_OPEN)
        return reasoning.strip(), before.strip()
    return "", text.strip()


def _last_boxed(text: str) -> str | None:
    r"""Content of the last ``\boxed{...}`` or ``\fbox{...}``, braces balanced."""
    starts = [m.end() for m in re.finditer(r"\\(?:boxed|fbox)\s*\{", text)]
    for start in reversed(starts):
        depth = 1
        for position in range(start, len(text)):
            char = text[position]
            depth += {"{": 1, "}": -1}.get(char, 0)
            if depth == 0:
                return text[start:position].strip()
    return None


def explicit_answer(text: str) -> str | None:
    r"""The answer only if the model marked it (``\boxed{}`` or an "Answer:" cue), else None.

    This is what "well formed" means for a model's output: the final answer is declared, not
    guessed from the last number in the text.
    """
    _, answer_text = split_thinking(text)
    boxed = _last_boxed(answer_text)
    if boxed:
        return boxed
    for cue in reversed(list(_ANSWER_CUE.finditer(answer_text))):
        rest = cue.group("rest").strip().rstrip(".").strip()
        if parse_quantity(rest) is not None:
            return rest
    return None


def extract_answer(text: str) -> str | None:
    r"""The final-answer span: last ``\boxed{}``, else an "Answer:" cue, else the last number.

    Thinking is removed first, so a number inside ``<think>`` never counts as the answer.
    """
    declared = explicit_answer(text)
    if declared is not None:
        return declared
    _, answer_text = split_thinking(text)
    numbers = [m for m in _QUANTITY.finditer(_normalise(answer_text))]
    return numbers[-1].group(0).strip().rstrip(".") if numbers else None


def _normalise(text: str) -> str:
    """Rewrite LaTeX and typography into the plain forms the number pattern reads."""
    s = text.replace("−", "-").replace("–", "-").replace("×", "x").replace("·", "*")
    s = s.replace("\\times", "x").replace("\\cdot", "*").replace("\\%", "%").replace("$", "")
    s = (
        s.replace("\\,", "")
        .replace("\\!", "")
        .replace("\\ ", " ")
        .replace("{,}", ",")
        .replace("~", " ")
    )
    s = s.replace("\\left", "").replace("\\right", "").replace("\\mu", "µ").replace("\\Omega", "Ω")
    for _ in range(3):  # nested wrappers such as \text{\mathrm{...}}
        s = _LATEX_WRAPPER.sub(r"\1", s)
    s = _LATEX_FRAC.sub(r"(\1)/(\2)", s)
    s = re.sub(r"\(\s*([-+]?[\d.]+)\s*\)", r"\1", s)  # (3)/(4) -> 3/4
    s = re.sub(r"(?<=\d) (?=\d{3}\b)", "", s)  # thin-space thousands: 1 234
    return s.strip()


def _to_float(number: str) -> float:
    return float(number.replace(",", ""))


def parse_quantity(text: str | None) -> Quantity | None:
    """Read the first number in ``text`` with its exponent, fraction, percent sign and unit."""
    if text is None:
        return None
    s = _normalise(text)
    s = re.split(r"=|≈|\\approx", s)[-1].strip()  # "P_r = -83 dBm" -> "-83 dBm"
    power = _POWER_OF_TEN.match(s)
    if power:
        return Quantity(10.0 ** int(power.group("exp")), _unit_after(s[power.end() :]))
    match = _QUANTITY.search(s)
    if match is None:
        return None
    residue = s[: match.start()] + s[match.end() :]
    if re.search(r"\\[A-Za-z]|\^|sqrt|\bpi\b|\be\b", residue):
        return None  # a symbolic expression such as \sqrt{2}/2: not a plain number
    value = _to_float(match.group("num"))
    exponent = match.group("exp") or match.group("exp10")
    if exponent is not None:
        value *= 10.0 ** int(exponent)
    if match.group("den"):
        denominator = _to_float(match.group("den"))
        if denominator == 0:
            return None
        value /= denominator
    return Quantity(value, match.group("unit"), percent=bool(match.group("pct")))


def _unit_after(rest: str) -> str | None:
    found = re.match(r"\s*([A-Za-zµμΩ]+(?:/[A-Za-z]+)?)", rest)
    return found.group(1) if found else None


def unit_scale(unit: str | None) -> tuple[float, str | None]:
    """Split a unit into (SI scale, base unit): "Mbps" -> (1e6, "bps"), "dBm" -> (1, "dBm")."""
    if not unit:
        return 1.0, None
    if unit in UNPREFIXED or unit in BASE_UNITS:
        return 1.0, unit
    if unit in SI_PREFIXES:  # a bare prefix, as in "30k"
        return SI_PREFIXES[unit], ""
    prefix, base = unit[0], unit[1:]
    if prefix in SI_PREFIXES and base in BASE_UNITS:
        return SI_PREFIXES[prefix], base
    return 1.0, unit


def candidate_values(quantity: Quantity, reference_unit: str | None) -> list[float]:
    """Values the quantity may mean in the reference unit (a percentage may mean a fraction)."""
    scale, base = unit_scale(quantity.unit)
    ref_scale, ref_base = unit_scale(reference_unit)
    value = quantity.value
    if base == "" or (base is not None and base == ref_base):
        value = value * scale / ref_scale
    if quantity.percent and reference_unit != "%":
        return [value, value / 100.0]
    return [value]
