"""Read a text file a user handed us, or say plainly why it is not one.

Configs, data sets and JSON outputs all come through here, so a folder, an empty file, a binary
file or non-UTF-8 bytes are named the same way wherever they turn up.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

from dta_edge.errors import DataError


class UnreadableFile(DataError):
    """A file that cannot be read as UTF-8 text; ``line`` is the first bad line, when known."""

    def __init__(self, path: Path, problem: str, line: int | None = None) -> None:
        self.path = path
        self.problem = problem
        self.line = line
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {problem}")


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def open_regular(path: Path | str) -> BinaryIO:
    """Open a file for reading in binary mode, if it is a regular file.

    A FIFO would block the run until someone writes to it, and ``/dev/zero`` never ends, so both
    are refused; the file is opened without blocking and checked on its descriptor (no race
    between a check and the open).

    Raises:
        UnreadableFile: a folder, a FIFO, a device or a socket, or the file cannot be opened.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except IsADirectoryError:
        raise UnreadableFile(path, "is a folder; a file is expected here") from None
    except OSError as exc:
        raise UnreadableFile(path, f"cannot read file: {exc.strerror or exc}") from None
    mode = os.fstat(fd).st_mode
    if stat.S_ISDIR(mode):
        os.close(fd)
        raise UnreadableFile(path, "is a folder; a file is expected here")
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise UnreadableFile(path, f"is {_kind(mode)}; give a regular file")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def read_user_text(path: Path | str) -> str:
    """The whole file as UTF-8 text.

    Raises:
        UnreadableFile: a folder, a FIFO or device, unreadable, empty, binary (NUL bytes) or not
            UTF-8.
    """
    path = Path(path)
    try:
        with open_regular(path) as handle:
            raw = handle.read()
    except OSError as exc:
        if exc.errno == errno.EISDIR:
            raise UnreadableFile(path, "is a folder; a file is expected here") from None
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
