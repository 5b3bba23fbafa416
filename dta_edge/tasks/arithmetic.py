r"""Plain arithmetic in an answer (``7 - 4``, ``3 \times 10``, ``5!``), evaluated safely.

A model may box an expression instead of its value. Reading only its first number scores
``\boxed{7 - 4}`` as 7; evaluating it scores it as 3, which is what it says. Only numbers,
``+ - * / x ^``, parentheses and ``!`` are read (no names, no ``eval``), with bounds on length,
exponents and factorials, so a hostile answer costs microseconds and never raises.
"""

from __future__ import annotations

import math
import re

MAX_CHARS = 200  # a longer span is prose, not an expression
MAX_FACTORIAL = 170  # 171! is past a float
MAX_EXPONENT = 1000

_NUMBER = r"(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?"
_TOKEN = re.compile(rf"\s*(?:(?P<num>{_NUMBER})|(?P<op>[-+*/x^()!]))")
_UNIT_TAIL = re.compile(r"\s*(?P<unit>[A-Za-zµμΩ]+(?:/[A-Za-z]+)?)\s*$")


class _NotArithmetic(Exception):
    pass


def _tokens(text: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            if text[position:].strip():
                raise _NotArithmetic
            break
        kind = "num" if match.group("num") else "op"
        found.append((kind, match.group(kind)))
        position = match.end()
    return found


class _Parser:
    """Recursive descent, one method per rule.

    sum := product (('+'|'-') product)*; product := unary (('*'|'/'|'x') unary)*;
    unary := '-' unary | power; power := postfix ('^' unary)?; postfix := atom '!'*;
    atom := number | '(' sum ')'.
    """

    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.at = 0
        self.operators = 0

    def peek(self) -> str | None:
        return self.tokens[self.at][1] if self.at < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        if self.at >= len(self.tokens):
            raise _NotArithmetic
        self.at += 1
        return self.tokens[self.at - 1]

    def sum(self) -> float:
        value = self.product()
        while self.peek() in ("+", "-"):
            operator = self.take()[1]
            self.operators += 1
            right = self.product()
            value = value + right if operator == "+" else value - right
        return value

    def product(self) -> float:
        value = self.unary()
        while self.peek() in ("*", "/", "x"):
            operator = self.take()[1]
            self.operators += 1
            right = self.unary()
            if operator == "/":
                if right == 0:
                    raise _NotArithmetic
                value /= right
            else:
                value *= right
        return value

    def unary(self) -> float:
        if self.peek() in ("-", "+"):
            sign = -1.0 if self.take()[1] == "-" else 1.0
            return sign * self.unary()
        return self.power()

    def power(self) -> float:
        base = self.postfix()
        if self.peek() == "^":
            self.take()
            self.operators += 1
            exponent = self.unary()
            if abs(exponent) > MAX_EXPONENT or (base < 0 and exponent != int(exponent)):
                raise _NotArithmetic
            try:
                return math.pow(base, exponent)
            except (OverflowError, ValueError, ZeroDivisionError):
                raise _NotArithmetic from None
        return base

    def postfix(self) -> float:
        value = self.atom()
        while self.peek() == "!":
            self.take()
            self.operators += 1
            if value != int(value) or not 0 <= value <= MAX_FACTORIAL:
                raise _NotArithmetic
            value = float(math.factorial(int(value)))
        return value

    def atom(self) -> float:
        kind, text = self.take()
        if kind == "num":
            return float(text.replace(",", ""))
        if text == "(":
            value = self.sum()
            if self.take()[1] != ")":
                raise _NotArithmetic
            return value
        raise _NotArithmetic


def evaluate(text: str) -> tuple[float, str | None] | None:
    r"""(value, unit) of an expression with at least one operation, else None.

    ``text`` is already normalised (LaTeX ``\\times`` read as ``x``). A trailing unit is kept
    apart ("7 - 4 dB" -> (3.0, "dB")). None means: not plain arithmetic (a single number, prose,
    a symbol) or no finite value (a division by zero, an overflow).
    """
    if len(text) > MAX_CHARS:
        return None
    unit = None
    tail = _UNIT_TAIL.search(text)
    if tail and tail.group("unit") != "x":
        unit, text = tail.group("unit"), text[: tail.start()]
    try:
        parser = _Parser(_tokens(text))
        if not parser.tokens:
            return None
        value = parser.sum()
    except (_NotArithmetic, OverflowError, ValueError, RecursionError):
        return None
    if parser.at != len(parser.tokens) or parser.operators == 0 or not math.isfinite(value):
        return None
    return value, unit


def has_operation(text: str) -> bool:
    """Whether ``text`` holds an operation between numbers ("7 - 4", "3 x 10", "5!")."""
    return bool(re.search(r"[\d)]\s*(?:[-+*/x^]\s*[\d(.]|!)", text))
