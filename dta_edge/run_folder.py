"""Who may write into a run folder: one process at a time, and only into a folder that is ours.

A run folder is ours when it does not exist, is empty, or holds the run.json one of our stages
wrote. Anything else (someone's ``results.jsonl``, a notes file, a symbolic link pointing out of
the folder) is refused before a single file in it is opened for writing, so a resumed stage never
cuts a torn tail off a file it did not write, and never writes through a link. While a stage
runs, an exclusive ``flock`` on ``.dta.lock`` inside the folder keeps a second process out; the
kernel releases it when the first exits or crashes.
"""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from dta_edge.errors import DataError
from dta_edge.layout import LOCK, RUN
from dta_edge.safe_paths import symlinks_below


class FolderBusy(DataError):
    """Another process holds the folder's lock."""


def _entries(out: Path) -> list[str]:
    """Names in ``out`` other than our lock file (a run stopped before run.json leaves only it)."""
    try:
        return sorted(name for name in os.listdir(out) if name != LOCK)
    except FileNotFoundError:
        return []


def check_ours(out: Path, *, overwrite: bool) -> bool:
    """Refuse a folder that holds what our runs did not write; True when it must move aside.

    Args:
        out: the run folder.
        overwrite: a run folder of ours holding a symbolic link may be moved aside whole.

    Raises:
        DataError: ``out`` is a file; holds files but no run.json (refused even with
            ``overwrite``: such a folder is never moved); or holds a symbolic link and
            ``overwrite`` is off.
    """
    if out.is_symlink() and not out.exists():
        raise DataError(f"{out}: a dangling symbolic link; --out takes a folder")
    if out.exists() and not out.is_dir():
        raise DataError(f"{out}: is an existing file; --out takes a folder")
    names = _entries(out)
    if not names:
        return False
    if not (out / RUN).is_file() or (out / RUN).is_symlink():
        # never moved aside, --overwrite or not: it may be a home folder or a project
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        raise DataError(
            f"{out}: holds files no dta run wrote ({shown}) and no {RUN}; nothing in it was "
            "opened or moved. Choose an empty or new --out"
        )
    links = symlinks_below(out)
    if links:
        if overwrite:
            return True
        raise DataError(
            f"{out}: holds a symbolic link ({links[0]}); dta writes only files it made, never "
            "through a link. Remove the link, or pass --overwrite to move this folder aside"
        )
    return False


def check_new_folder(out: Path, *, overwrite: bool, marker: str) -> bool:
    """Check a folder that receives a whole new copy (a model); True when it must move aside.

    Args:
        out: the folder.
        overwrite: move a folder of the same kind aside instead of refusing it.
        marker: the file that says the folder is of that kind (``config.json`` of a model).

    Raises:
        DataError: a file; or holds files and ``overwrite`` is off (old and new would mix); or
            holds files without ``marker`` (never moved: it is not ours).
    """
    if out.exists() and not out.is_dir():
        raise DataError(f"{out}: is an existing file; --out takes a folder")
    if not _entries(out):
        return False
    if not overwrite:
        raise DataError(
            f"{out}: already holds files; old and new would mix. Choose a new --out, or pass "
            "--overwrite to move the old folder aside"
        )
    if not (out / marker).is_file():
        raise DataError(
            f"{out}: holds files but no {marker}, so it is not what this command writes; "
            "nothing was moved. Choose a new --out"
        )
    return True


def move_aside(out: Path) -> Path:
    """Rename a run folder out of the way (never deleted: it may hold hours of requests).

    The folder's lock is taken first, so a folder another process is writing into stays put.
    """
    out = out.absolute()
    with exclusive(out, create=False):
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
        target = out.with_name(f"{out.name}.replaced-{stamp}")
        counter = 1
        while target.exists():
            target = out.with_name(f"{out.name}.replaced-{stamp}-{counter}")
            counter += 1
        out.rename(target)
    return target


def _holder(lock: Path) -> str:
    try:
        text = lock.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return "unknown"
    return text if text.isdigit() else "unknown"


@contextmanager
def exclusive(out: Path, *, create: bool = True) -> Iterator[None]:
    """Hold ``out/.dta.lock`` exclusively for the block; a held lock is refused at once.

    Args:
        out: the run folder (made when ``create``; a missing folder with ``create`` off needs
            no lock).
        create: make the folder and the lock file when missing.

    Raises:
        FolderBusy: another process holds the lock; the message names its PID.
    """
    if create:
        out.mkdir(parents=True, exist_ok=True)
    elif not out.is_dir():
        yield
        return
    lock = out / LOCK
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(lock, flags, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise DataError(f"{lock}: is a symbolic link; remove it") from None
        raise
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _holder(lock)
            mine = (
                " (this process: a stage nested in another on one folder)"
                if pid == str(os.getpid())
                else ""
            )
            raise FolderBusy(
                f"{out}: another dta process (PID {pid}){mine} is writing into this folder; "
                "wait for it to finish, stop it, or choose another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
