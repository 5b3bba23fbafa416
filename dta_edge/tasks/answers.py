r"""Find the final answer in a model's text and read it as a number.

Models write answers many ways: ``\boxed{1.2 \times 10^{-3}}``, "Answer: 12.5%", "the final answer
is −83 dBm", "30 kbps". Extraction picks the intended span; parsing turns it into a value and a unit
so that scoring can compare in the reference unit. All functions are pure.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from dta_edge.tasks.arithmetic import evaluate, has_operation

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
ANSWER_WINDOW = 32 * 1024  # characters at the end of an output where its answer is looked for
MAX_ANSWER_DIGITS = 400  # a longer run of digits is no answer (no float holds it anyway)
_LONG_DIGITS = re.compile(rf"\d{{{MAX_ANSWER_DIGITS + 1}}}")
_PLAIN_ARITHMETIC = re.compile(r"[\d\s.,+\-*/x^()!eE]+")

# Prefixes read only in front of a base unit ("ms", "kbps", "cm"): a letter alone is never one,
# except the two bare multipliers people write for thousands and millions ("30k", "2M").
SI_PREFIXES: dict[str, float] = {
    "p": 1e-12, "n": 1e-9, "u": 1e-6, "µ": 1e-6, "μ": 1e-6, "m": 1e-3, "c": 1e-2,
    "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
}  # fmt: skip
# An upper-case K before a base unit ("Kbps", "KB") is an informal kilo; alone it is kelvin.
INFORMAL_PREFIXES: dict[str, float] = {"K": 1e3}
BARE_MULTIPLIERS: dict[str, float] = {"k": 1e3, "M": 1e6}
BASE_UNITS = (
    "bps", "b/s", "bit/s", "bits/s", "bit", "bits", "B", "B/s", "Hz", "s", "W", "J", "Wh", "V",
    "A", "F", "H", "ohm", "Ω", "m", "sps", "Bd", "baud",
)  # fmt: skip
# Units that take no prefix: decibel units (never deci-bytes), kelvin, and counts.
UNPREFIXED = {"K", "min", "h", "packets", "Erlang", "Erlangs", "users", "symbols"}

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
# What may stand between an answer cue and its number: markup and a few filler words.
_CUE_LEAD = re.compile(
    r"^(?:[\s*_:$~≈]|\\\(|\\\[|\\boxed\{|"
    r"(?i:is|are|therefore|thus|hence|so|then|approximately|approx\.?|about|roughly|around|"
    r"nearly|equal to|equals|of|we get|we obtain)\b)*"
)
_LATEX_FRAC = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
_LATEX_WRAPPER = re.compile(
    r"\\(?:text(?:bf|it|rm|sf|tt|normal)?|math(?:rm|bf|it|sf|tt|bb|cal)|operatorname|mbox|hbox"
    r"|boldsymbol|bm|emph|underline|overline)\s*\{([^{}]*)\}"
)
_LATEX_COLOR = re.compile(
    r"\\(?:textcolor|colorbox)\s*\{[^{}]*\}\s*\{([^{}]*)\}|\\color\s*\{[^{}]*\}"
)
_LATEX_SPACING = re.compile(r"\\(?:displaystyle|textstyle|quad|qquad|;|:|,|!)|\\ ")
_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺", "0123456789-+")
_SUPERSCRIPT_RUN = re.compile(r"[⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺]+")
_BRACED_EXPONENT = re.compile(r"\^\s*\{\s*([-+]?\d+)\s*\}")
_PARENTHESISED_NUMBER = re.compile(r"\(\s*([-+]?[\d.]+)\s*\)")
_THOUSANDS_SPACE = re.compile(r"(?<=\d) (?=\d{3}\b)")
# A decimal comma: "3,5", "0,125", "1234,5" (a comma that cannot group thousands), and the
# European "1.234,5". "1,234" stays one thousand two hundred thirty-four (English grouping).
_EURO_GROUPED = re.compile(r"(?<![\d.,])(\d{1,3}(?:\.\d{3})+),(\d+)(?![\d.,])")
_DECIMAL_COMMA = re.compile(r"(?<![\d.,])(\d+),(\d+)(?![\d.,])")
# Names of standards, releases and generations: numbers that are never the answer.
_STANDARD_REF = re.compile(
    r"\b3GPP(?:\s+T[SR])?(?:\s*\d+(?:\.\d+)+)?"
    r"|\bT[SR]\s+\d+\.\d+(?:\.\d+)*"
    r"|(?i:\bIEEE\s+(?:Std\.?\s+)?)?\b802\.\d+[a-z]*"
    r"|(?i:\bRel(?:ease)?)\.?[-\s]?\d+\b"
    r"|(?i:\bRFC)\s*\d+"
    r"|\bITU-[RT]\s+[A-Z]+\.\d+(?:-\d+)?"
    r"|\b[1-6]G\b(?:[- ]?NR)?"
    r"|(?i:\bWi-?Fi)\s*[4-7]E?\b"
)


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
    r"""Content of the last ``\boxed{...}`` or ``\fbox{...}``, braces balanced.

    One pass pairs every brace (a stack), so thousands of unclosed boxes cost linear time.
    """
    closing: dict[int, int] = {}
    opened: list[int] = []
    for match in re.finditer(r"[{}]", text):
        if match.group(0) == "{":
            opened.append(match.start())
        elif opened:
            closing[opened.pop()] = match.start()
    for box in reversed(list(re.finditer(r"\\(?:boxed|fbox)\s*\{", text))):
        end = closing.get(box.end() - 1)
        if end is not None:
            return text[box.end() : end].strip()
    return None


def strip_standard_names(text: str) -> str:
    """Remove standard, release and generation names ("3GPP TS 38.211", "Rel-15", "5G").

    Their digits look like numbers but are never the answer.
    """
    return _STANDARD_REF.sub(" ", text)


def _cue_answer(rest: str) -> str | None:
    """The number an answer cue introduces, or None when the cue introduces none.

    "Answer: P_r = -83 dBm" keeps what follows the last "="; "the answer in 3GPP TS 38.211"
    introduces no number once the standard's name is set aside, so an earlier cue wins.
    """
    rest = strip_standard_names(rest).strip()
    rest = re.split(r"=|≈|\\approx", rest)[-1]
    lead = _CUE_LEAD.match(rest)
    body = rest[lead.end() if lead else 0 :].strip().rstrip(".").strip()
    if not re.match(r"[-+−–.\d]|\\[dt]?frac|\\sqrt|⁻", body):
        return None
    return body if parse_quantity(body) is not None else None


def answer_window(text: str) -> str:
    """The answer part of an output (thinking removed), cut to its last characters.

    The final answer lives there (:data:`ANSWER_WINDOW` characters), and the cut keeps
    extraction linear and bounded on a runaway output of megabytes.
    """
    _, answer_text = split_thinking(text)
    return answer_text[-ANSWER_WINDOW:]


def explicit_answer(text: str) -> str | None:
    r"""The answer only if the model marked it (``\boxed{}`` or an "Answer:" cue), else None.

    This is what "well formed" means for a model's output: the final answer is declared, not
    guessed from the last number in the text.
    """
    answer_text = answer_window(text)
    boxed = _last_boxed(answer_text)
    if boxed:
        return boxed
    for cue in reversed(list(_ANSWER_CUE.finditer(answer_text))):
        found = _cue_answer(cue.group("rest"))
        if found is not None:
            return found
    return None


def extract_answer(text: str) -> str | None:
    r"""The final-answer span: last ``\boxed{}``, else an "Answer:" cue, else the last number.

    Thinking is removed first, so a number inside ``<think>`` never counts as the answer; nor
    does the number in a standard's name ("3GPP TS 38.211", "Rel-15", "802.11", "5G").
    """
    declared = explicit_answer(text)
    if declared is not None:
        return declared
    plain = _normalise(strip_standard_names(answer_window(text)))
    numbers = [m for m in _QUANTITY.finditer(plain)]
    return numbers[-1].group(0).strip().rstrip(".") if numbers else None


def _superscript(match: re.Match[str]) -> str:
    return "^{" + match.group(0).translate(_SUPERSCRIPTS) + "}"


def _decimal_comma(match: re.Match[str]) -> str:
    whole, fraction = match.group(1), match.group(2)
    groups_thousands = len(fraction) == 3 and len(whole) <= 3 and whole != "0"
    return match.group(0) if groups_thousands else f"{whole}.{fraction}"


def _normalise(text: str) -> str:
    """Rewrite LaTeX, typography and decimal commas into the plain forms numbers are read from.

    Each pattern runs only when the character it needs is there (a backslash, a caret, a comma):
    most answers are a plain number and a unit, and every output is read this way once.
    """
    s = text.replace("−", "-").replace("–", "-").replace("×", "x")
    for dot in ("·", "⋅", "∙"):
        s = s.replace(dot, "*")
    for space in ("\u00a0", "\u2009", "\u202f", "\u2006"):
        s = s.replace(space, " ")
    s = s.replace("\\times", "x").replace("\\cdot", "*").replace("\\%", "%").replace("$", "")
    s = s.replace("{,}", ",").replace("~", " ")
    if "\\" in s:
        s = _LATEX_SPACING.sub(" ", s)
        s = s.replace("\\left", "").replace("\\right", "")
        s = s.replace("\\mu", "µ").replace("\\Omega", "Ω")
    if not s.isascii():
        s = _SUPERSCRIPT_RUN.sub(_superscript, s)
    if "^" in s:
        s = _BRACED_EXPONENT.sub(r"^\1", s)  # 10^{-3} -> 10^-3: no braces left inside
    for _ in range(3 if "\\" in s else 0):  # nested wrappers such as \text{\mathrm{...}}
        s = _LATEX_FRAC.sub(r"(\1)/(\2)", s)
        s = _LATEX_COLOR.sub(r"\1", s)
        s = _LATEX_WRAPPER.sub(r"\1", s)
    if "(" in s:
        s = _PARENTHESISED_NUMBER.sub(r"\1", s)  # (3)/(4) -> 3/4
    if " " in s:
        s = _THOUSANDS_SPACE.sub("", s)  # thin-space thousands: 1 234
    if "," in s:
        s = _EURO_GROUPED.sub(lambda m: m.group(1).replace(".", "") + "." + m.group(2), s)
        s = _DECIMAL_COMMA.sub(_decimal_comma, s)
    return s.strip()


def _number(mantissa: str, exponent: str | None = None) -> float | None:
    """A finite float, or None for a number no float can hold (``1e400``, ``10^{-999}``)."""
    digits = mantissa.replace(",", "")
    try:
        value = float(f"{digits}e{exponent}" if exponent is not None else digits)
    except ValueError:
        return None
    if not math.isfinite(value) or (value == 0 and re.search(r"[1-9]", digits)):
        return None
    return value


def too_long(answer: str) -> bool:
    """An answer span past any number or expression a problem has (a runaway, or hostile)."""
    return len(answer) > 2000 or bool(_LONG_DIGITS.search(answer))


def parse_quantity(text: str | None) -> Quantity | None:
    """Read the first number in ``text`` with its exponent, fraction, percent sign and unit.

    A number too large or too small for a float is no answer (None), never an exception.
    """
    return read_quantity(text)[0]


def read_quantity(text: str | None) -> tuple[Quantity | None, bool]:
    """Like :func:`parse_quantity`, and whether a number was written but no float can hold it.

    Scoring needs the difference: ``1e400`` is an unrepresentable number (no answer), not an
    expression for the symbolic parser (which would read it as 1·e·400).
    """
    if text is None:
        return None, False
    if _LONG_DIGITS.search(text):
        return None, True
    s = _normalise(text)
    s = re.split(r"=|≈|\\approx", s)[-1].strip()  # "P_r = -83 dBm" -> "-83 dBm"
    power = _POWER_OF_TEN.match(s)
    if power and not has_operation(s[power.end() :]):
        value = _number("1", power.group("exp"))
        if value is None:
            return None, True
        return Quantity(value, _unit_after(s[power.end() :])), False
    if has_operation(s):  # "7 - 4", "3 x 10", "5!": the value, never the first number
        evaluated = evaluate(s)
        if evaluated is not None:
            return Quantity(evaluated[0], evaluated[1]), False
        if _PLAIN_ARITHMETIC.fullmatch(s):
            return None, False  # arithmetic without a finite value (1/0, 10^5000)
    match = _QUANTITY.search(s)
    if match is None:
        return None, False
    value = _number(match.group("num"), match.group("exp") or match.group("exp10"))
    if value is None:
        return None, True
    residue = s[: match.start()] + s[match.end() :]
    if re.search(r"\\[A-Za-z]|\^|sqrt|\bpi\b|\be\b", residue):
        return None, False  # a symbolic expression such as \sqrt{2}/2: not a plain number
    if match.group("den"):
        denominator = _number(match.group("den"))
        if not denominator:
            return None, denominator is None
        value /= denominator
    return Quantity(value, match.group("unit"), percent=bool(match.group("pct"))), False


def _unit_after(rest: str) -> str | None:
    found = re.match(r"\s*([A-Za-zµμΩ]+(?:/[A-Za-z]+)?)", rest)
    return found.group(1) if found else None


def unit_scale(unit: str | None) -> tuple[float, str | None]:
    """Split a unit into (SI scale, base unit): "Mbps" -> (1e6, "bps"), "dBm" -> (1, "dBm").

    Decibel units, kelvin and counts take no prefix; a bare "k" or "M" is a multiplier
    ("30k" -> (1e3, "")); any other letter that is not a prefix before a base unit ("G" in "5G")
    is kept as a unit of its own with scale 1.
    """
    if not unit:
        return 1.0, None
    if unit.startswith("dB") or unit in UNPREFIXED or unit in BASE_UNITS:
        return 1.0, unit
    if unit in BARE_MULTIPLIERS:
        return BARE_MULTIPLIERS[unit], ""
    prefix, base = unit[0], unit[1:]
    scale = SI_PREFIXES.get(prefix) or INFORMAL_PREFIXES.get(prefix)
    if scale is not None and base in BASE_UNITS:
        return scale, base
    return 1.0, unit


def candidate_values(quantity: Quantity, reference_unit: str | None) -> list[float]:
    """Values the quantity may mean in the reference unit.

    A percentage may mean a fraction. Against a reference with no unit (TeleMath's plain
    numbers), a prefixed answer ("3 ms") may mean the number as written (3) or its base-unit
    value (0.003): both are candidates.
    """
    scale, base = unit_scale(quantity.unit)
    ref_scale, ref_base = unit_scale(reference_unit)
    value = quantity.value
    values = [value]
    if base == "" or (base is not None and base == ref_base):
        values = [value * scale / ref_scale]
    elif reference_unit is None and base is not None and scale != 1.0:
        values = [value, value * scale]
    if quantity.percent and reference_unit != "%":
        values = [v for value in values for v in (value, value / 100.0)]
    return [v for v in values if math.isfinite(v)]
