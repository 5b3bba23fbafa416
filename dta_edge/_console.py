"""Rich output helpers shared by CLI commands (progress bars, tables, error printing)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.segment import Segment

# C0 controls but newline and tab, DEL, and the C1 range: an ESC in a model's name or text could
# move the cursor, retitle the window or hide what follows.
PIPED_WIDTH = 160  # columns for output that goes to a file or a pipe
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with terminal control characters shown as ``?``."""
    return _CONTROL.sub("?", text)


class SafeConsole(Console):
    """A rich Console that never writes a control character it did not make itself.

    Names, answers and errors come from files and servers. Rich strips only a few controls
    (bell, backspace, ...); ESC passes. Here every text segment is cleaned just before styles are
    rendered, so rich's own cursor moves (progress bars) stay and nothing else controls the
    terminal.
    """

    def _render_buffer(self, buffer: Iterable[Segment]) -> str:
        cleaned = (segment if segment.control else Segment(printable(segment.text), segment.style)
                   for segment in buffer)  # fmt: skip
        return super()._render_buffer(cleaned)


def make_console(stderr: bool = False) -> Console:
    """The console every command prints to (control characters in text made visible).

    Piped into a file or a CI log, rich would assume 80 columns and cut every table cell to a
    few letters; without a terminal (and no ``COLUMNS``), tables get room for their numbers.
    """
    console = SafeConsole(stderr=stderr, highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = PIPED_WIDTH
    return console


@contextmanager
def progress_bar(console: Console, description: str, total: int) -> Iterator:
    """Yield ``advance(done, extra_text, total=None)`` driving one rich progress bar."""
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[extra]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
    with progress:
        task = progress.add_task(description, total=total, extra="")

        def advance(done: int, extra: str = "", total: int | None = None) -> None:
            progress.update(task, completed=done, extra=extra, total=total)

        yield advance


@contextmanager
def step_bars(console: Console) -> Iterator:
    """Yield ``advance(step, done, total)``: one bar per named step, each with its time left."""
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
    with progress:
        tasks: dict[str, object] = {}

        def advance(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = progress.add_task(step, total=total)
            progress.update(tasks[step], completed=done, total=total)  # type: ignore[arg-type]

        yield advance


@contextmanager
def native_stderr_to(log_file: Path) -> Iterator[Path]:
    """Send file descriptor 2 to ``log_file`` while the block runs, then restore it.

    llama.cpp and ONNX Runtime log from C straight to descriptor 2 (quantization tables, context
    warnings), past Python's ``sys.stderr``; a command whose screen is its report sends them here
    instead. A Python traceback raised in the block prints after the restore, on the terminal.
    """
    import os
    import sys

    log_file.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    with log_file.open("ab") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield log_file
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
