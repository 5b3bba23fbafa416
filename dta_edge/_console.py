"""Rich output helpers shared by CLI commands (progress bars, tables, error printing)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

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
