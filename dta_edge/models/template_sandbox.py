"""Jinja templates we did not write (a model's chat template, a prompt file), run within a budget.

Jinja's sandbox already refuses unsafe attribute access; what it does not bound is work. A
158-byte chat template of nested ``range()`` loops would hold a bench for hours, a doubling
string would fill memory, and ``{% include %}`` would read other files. Here, once per
template, the parsed tree is rewritten so that every loop iteration and macro call ticks a
per-render budget (time), string joins and ``+ * ** %`` check the size of what they build, and
filters check the size of what they return. Includes, imports and ``extends`` are refused when
the template is read. Every fault ends as one :class:`TemplateFault` naming the template's file
or model: a config error (exit 2), never a hang or a traceback.
"""

from __future__ import annotations

import functools
import time
from datetime import datetime
from typing import Any

from dta_edge.errors import ConfigError

RENDER_SECONDS = 2.0  # a chat template renders in microseconds; a prompt file in milliseconds
MAX_CHARS = 4 * 2**20  # the longest output, or value built inside a render
_CHECK_EVERY = 256  # ticks between clock reads
_TICK, _JOIN = "__dta_tick", "__dta_join"


class TemplateFault(ConfigError):
    """A template failed to compile or render: syntax, a raised error, unsafe access, a budget."""

    def __str__(self) -> str:
        return f"{self.path}: " + "; ".join(self.problems)


class _OverBudget(Exception):
    pass


class _Raised(Exception):
    """``raise_exception(message)`` in a template (transformers' chat-template convention)."""


class _Budget:
    """Work allowed to one render: a deadline, checked every few ticks."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.deadline = time.perf_counter() + seconds
        self.ticks = 0

    def tick(self) -> str:
        self.ticks += 1
        if self.ticks % _CHECK_EVERY == 0 and time.perf_counter() > self.deadline:
            raise _OverBudget(f"took over {self.seconds:g} s (loops or recursion without end?)")
        return ""


def _sized(value: Any) -> Any:
    if isinstance(value, str | bytes | list | tuple | dict) and len(value) > MAX_CHARS:
        raise _OverBudget(f"built a value of {len(value):,} items (at most {MAX_CHARS:,})")
    return value


def _join(*parts: Any) -> str:
    texts = [str(part) for part in parts]
    if sum(len(text) for text in texts) > MAX_CHARS:
        raise _OverBudget(f"built a string over {MAX_CHARS:,} characters")
    return "".join(texts)


def _raise_exception(message: str) -> None:
    raise _Raised(str(message))


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


def _check_counts(args: tuple, kwargs: dict) -> None:
    """A width or count past the size budget ('x'|center(10**9)) is refused before the call."""
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_CHARS:
            raise _OverBudget(f"passed a width or count of {value:,} (at most {MAX_CHARS:,})")


def _bounded_filter(function: Any) -> Any:
    @functools.wraps(function)  # keeps Jinja's pass_context / pass_environment markers
    def bounded(*args: Any, **kwargs: Any) -> Any:
        _check_counts(args[1:], kwargs)
        return _sized(function(*args, **kwargs))

    return bounded


def _check_binop(operator: str, left: Any, right: Any) -> None:
    """Refuse a power or a repetition whose result would be huge, before it is computed."""
    numbers = int | float
    huge_power = isinstance(right, numbers) and isinstance(left, numbers) and abs(right) > 1024
    if operator == "**" and huge_power and abs(left) > 1:
        raise _OverBudget(f"a power with exponent {right} (at most 1024)")
    count, value = (right, left) if isinstance(right, int) else (left, right)
    repeats = isinstance(count, int) and isinstance(value, str | list | tuple)
    if operator == "*" and repeats and len(value) * count > MAX_CHARS:
        raise _OverBudget(f"repeated a value {count:,} times")


def _environment(**options: Any) -> Any:
    """A sandboxed environment whose operators and filters check the size of what they make."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class Bounded(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset({"+", "*", "**", "%", "//"})

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            _check_binop(operator, left, right)
            return _sized(super().call_binop(context, operator, left, right))

        def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
            budget = __context.get("__dta_budget")
            if budget is not None:
                budget.tick()
            _check_counts(args, kwargs)
            return _sized(super().call(__context, __obj, *args, **kwargs))

    environment = Bounded(**options)
    environment.filters = {name: _bounded_filter(f) for name, f in environment.filters.items()}
    environment.globals.update(raise_exception=_raise_exception, strftime_now=_strftime_now)
    return environment


def _bounded_tree(environment: Any, source: str, origin: str) -> Any:
    """The parsed template with ticks in every loop and macro, joins checked; no includes."""
    from jinja2 import nodes
    from jinja2.visitor import NodeTransformer

    tree = environment.parse(source)
    reads = ((nodes.Include, "include"), (nodes.Import, "import"),
             (nodes.FromImport, "from ... import"), (nodes.Extends, "extends"))  # fmt: skip
    for kind, what in reads:
        found = next(iter(tree.find_all(kind)), None)
        if found is not None:
            raise TemplateFault(origin, [f"line {found.lineno}: {{% {what} %}} is not allowed "
                                         "(a template may not read other files)"])  # fmt: skip

    def tick(lineno: int) -> Any:
        call = nodes.Call(nodes.Name(_TICK, "load"), [], [], None, None)
        return nodes.Output([call]).set_lineno(lineno)

    class Bound(NodeTransformer):
        def visit_For(self, node: Any) -> Any:
            node = self.generic_visit(node)
            node.body.insert(0, tick(node.lineno))
            return node

        def visit_Macro(self, node: Any) -> Any:
            node = self.generic_visit(node)
            node.body.insert(0, tick(node.lineno))
            return node

        def visit_Concat(self, node: Any) -> Any:
            node = self.generic_visit(node)
            return nodes.Call(nodes.Name(_JOIN, "load"), list(node.nodes), [], None, None
                              ).set_lineno(node.lineno)  # fmt: skip

    bounded = Bound().visit(tree)
    bounded.set_environment(environment)
    return bounded


class SandboxedTemplate:
    """One template compiled once, rendered many times, each render within the budget."""

    def __init__(
        self, source: str, origin: str, *, seconds: float = RENDER_SECONDS, **options: Any
    ) -> None:
        """Compile ``source``.

        Args:
            source: the Jinja text.
            origin: what to name in errors (the prompt file, or "chat template of MODEL").
            seconds: the time one render may take.
            options: Jinja environment options (``trim_blocks``, ``undefined``, ...).

        Raises:
            TemplateFault: a syntax error, or an include/import/extends.
        """
        from jinja2 import TemplateError

        self.origin = origin
        self.seconds = seconds
        environment = _environment(**options)
        try:
            tree = _bounded_tree(environment, source, origin)
            code = environment.compile(tree, name=None, filename=origin)
        except TemplateError as exc:
            raise TemplateFault(origin, [_describe(exc)]) from None
        except RecursionError:
            raise TemplateFault(origin, ["nested too deeply to compile"]) from None
        # A plain dict, not jinja's ChainMap over the environment's globals: each render copies
        # the globals into its context, and walking a ChainMap was half of a short render.
        # Nothing changes this private environment's globals after this point.
        globals_ = dict(environment.make_globals(None))
        self._template = environment.template_class.from_code(environment, code, globals_, None)

    def render(self, **values: Any) -> str:
        """The rendered text.

        Raises:
            TemplateFault: the template raised (``raise_exception``, an undefined name, unsafe
                access) or passed its time or size budget.
        """
        from jinja2 import TemplateError

        budget = _Budget(self.seconds)
        values = {**values, _TICK: budget.tick, _JOIN: _join, "__dta_budget": budget}
        pieces: list[str] = []
        size = 0
        try:
            for piece in self._template.generate(**values):
                size += len(piece)
                if size > MAX_CHARS:
                    raise _OverBudget(f"wrote over {MAX_CHARS:,} characters")
                pieces.append(piece)
                budget.tick()
        except _OverBudget as exc:
            raise TemplateFault(self.origin, [f"rendering stopped: the template {exc}"]) from None
        except _Raised as exc:
            raise TemplateFault(self.origin, [f"the template raised an error: {exc}"]) from None
        except TemplateError as exc:
            raise TemplateFault(self.origin, [_describe(exc)]) from None
        except RecursionError:
            raise TemplateFault(self.origin, ["rendering recursed without end"]) from None
        except MemoryError:
            raise TemplateFault(self.origin, ["rendering ran out of memory"]) from None
        except (TypeError, ValueError, ArithmeticError, LookupError, AttributeError) as exc:
            raise TemplateFault(self.origin, [f"rendering failed: {type(exc).__name__}: "
                                              f"{exc}"[:300]]) from None  # fmt: skip
        return "".join(pieces)


def _describe(exc: Exception) -> str:
    from jinja2 import TemplateSyntaxError
    from jinja2.exceptions import SecurityError

    if isinstance(exc, SecurityError):
        return f"unsafe access refused by the sandbox: {exc}"
    if isinstance(exc, TemplateSyntaxError):
        return f"line {exc.lineno}: syntax error: {exc.message}"
    return f"template error: {exc}"
