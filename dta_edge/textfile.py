"""Read a text file a user handed us, or say plainly why it is not one.

Configs, data sets and JSON outputs all come through here, so a folder, an empty file, a binary
file or non-UTF-8 bytes are named the same way wherever they turn up.
"""

from __future__ import annotations

from pathlib import Path

from dta_edge.errors import DataError


class UnreadableFile(DataError):
    """A file that cannot be read as UTF-8 text; ``line`` is the first bad line, when known."""

    def __init__(self, path: Path, problem: str, line: int | None = None) -> None:
        self.path = path
        self.problem = problem
        self.line = line
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {problem}")


def read_user_text(path: Path | str) -> str:
    """The whole file as UTF-8 text.

    Raises:
        UnreadableFile: a folder, unreadable, empty, binary (NUL bytes) or not UTF-8.
    """
    path = Path(path)
    if path.is_dir():
        raise UnreadableFile(path, "is a folder; a file is expected here")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UnreadableFile(path, f"cannot read file: {exc.strerror or exc}") from None
    if not raw.strip():
        raise UnreadableFile(path, "the file is empty")
    if b"\0" in raw:
        raise UnreadableFile(path, "a binary file (it holds NUL bytes), not text")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        problem = f"not UTF-8 text (byte 0x{raw[exc.start]:02x}); is this a binary file?"
        raise UnreadableFile(path, problem, line) from None
