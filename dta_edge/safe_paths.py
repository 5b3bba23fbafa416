"""Names read from files and servers, validated into types that cannot leave their folder.

A manifest, a run.json, a target reference (``embedded:tiny@NAME``), a suite's system name or a
model's self-reported name is text someone else wrote. Before it becomes part of a path that is
opened, written or removed, it is parsed here, once, into a :data:`PlainName` (one path
component) or a :data:`RelativeName` (components below a folder), and joined with :func:`inside`,
which refuses anything that would resolve outside the folder. Call sites never check names
themselves.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path, PurePosixPath
from typing import Annotated

from pydantic import AfterValidator

from dta_edge.errors import DataError

MAX_NAME_BYTES = 255  # what every common filesystem allows for one component
MAX_DEPTH = 16  # components of a relative name; our deepest output is 3
_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f/\\]")


def check_plain_name(value: str) -> str:
    r"""``value`` if it is one plain path component, else a ValueError saying why.

    Refused: empty, ``.``, ``..``, a separator (``/`` or ``\\``), a NUL or other control
    character, or more than 255 bytes.
    """
    if not value:
        raise ValueError("an empty name")
    if value in (".", ".."):
        raise ValueError(f"'{value}' is not a name (it names a folder by position)")
    bad = _FORBIDDEN.search(value)
    if bad:
        shown = "a separator" if bad.group(0) in "/\\" else "a control character"
        raise ValueError(f"{value!r} holds {shown}; a plain name is expected")
    if len(value.encode("utf-8")) > MAX_NAME_BYTES:
        raise ValueError(f"a name of {len(value.encode('utf-8'))} bytes (at most {MAX_NAME_BYTES})")
    return value


def check_relative_name(value: str) -> str:
    """``value`` if it is a relative POSIX path of plain components, else a ValueError."""
    if not value:
        raise ValueError("an empty path")
    if value.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", value):
        raise ValueError(f"{value!r} is an absolute path; a path inside the folder is expected")
    parts = PurePosixPath(value).parts
    if len(parts) > MAX_DEPTH:
        raise ValueError(f"{value!r} is {len(parts)} folders deep (at most {MAX_DEPTH})")
    for part in value.split("/"):
        try:
            check_plain_name(part)
        except ValueError as exc:
            raise ValueError(f"{value!r}: {exc}") from None
    return value


PlainName = Annotated[str, AfterValidator(check_plain_name)]
RelativeName = Annotated[str, AfterValidator(check_relative_name)]


def inside(folder: Path, relative: str, *, source: str = "") -> Path:
    """``folder / relative``, proven to stay inside ``folder``.

    Args:
        folder: the folder the name belongs to.
        relative: a name read from a file or a server.
        source: where the name was read ("manifest.json files[0].path"), for the error.

    Raises:
        DataError: the name is not a plain relative name, or (through a symbolic link on the
            way) resolves outside ``folder``.
    """
    where = f"{source}: " if source else ""
    try:
        check_relative_name(relative)
    except ValueError as exc:
        raise DataError(f"{where}{exc}") from None
    path = folder / relative
    root = folder.resolve()
    if not path.resolve().is_relative_to(root):
        raise DataError(f"{where}{relative!r} leads outside {folder} (through a symbolic link)")
    return path


def plain_name(value: str, *, source: str) -> str:
    """``value`` checked as one plain name, or a DataError naming ``source``."""
    try:
        return check_plain_name(value)
    except ValueError as exc:
        raise DataError(f"{source}: {exc}") from None


def remove_inside(folder: Path, relative: str, *, source: str) -> None:
    """Remove a file or folder named by ``relative`` below ``folder``, never outside it.

    A symbolic link is removed as a link: what it points to is never touched.
    """
    import shutil

    path = inside(folder, relative, source=source)
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if stat.S_ISDIR(mode):
        shutil.rmtree(path)
    else:
        path.unlink()


def symlinks_below(folder: Path, limit: int = 5) -> list[Path]:
    """Up to ``limit`` symbolic links anywhere below ``folder`` (never followed)."""
    found: list[Path] = []
    pending = [folder]
    while pending and len(found) < limit:
        current = pending.pop()
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue
        for entry in entries:
            if entry.is_symlink():
                found.append(Path(entry.path))
                if len(found) >= limit:
                    break
            elif entry.is_dir(follow_symlinks=False):
                pending.append(Path(entry.path))
    return found
