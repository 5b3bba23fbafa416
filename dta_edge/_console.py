"""Rich output helpers shared by CLI commands (progress bars, tables, error printing)."""

from __future__ import annotations

from collections.abc import Iterator
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


def make_console(stderr: bool = False) -> Console:
    return Console(stderr=stderr, highlight=False)


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
