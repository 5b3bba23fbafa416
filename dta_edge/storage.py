"""Crash-safe files: append-only JSONL with resume, and atomic whole-file writes.

A stage appends one record per line and flushes each, so a SIGKILL loses at most the line being
written. On reopen the torn tail is cut off and the keys already present are known, so a resumed
stage writes each missing record exactly once.
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from dta_edge.errors import DataError, RecordError
from dta_edge.layout import retried_name
from dta_edge.textfile import open_regular, read_user_text

R = TypeVar("R", bound=BaseModel)


def _umask() -> int:
    """The process umask, read without setting it (setting it is process-wide, even briefly)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    return 0o022  # no procfs: the usual default


def named_os_error(exc: OSError, path: Path | str) -> OSError:
    """``exc`` with the file it happened to (a write to an open file names none)."""
    if exc.filename is not None:
        return exc
    return type(exc)(exc.errno, exc.strerror or str(exc), str(path))


def atomic_write_text(path: Path | str, text: str) -> None:
    """Write a whole file so that readers see the old or the new content, never half.

    A full disk, a read-only folder or a file-size limit leaves the old file (or none) under the
    final name and raises the OSError with the file named.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise named_os_error(exc, path) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a report is meant to be shared
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise named_os_error(exc, path) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path | str, data: Any) -> None:
    """Atomically write ``data`` as indented JSON."""
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def read_text_file(path: Path | str) -> str:
    """A whole text file that a user handed us, or a DataError that says what is wrong with it.

    Missing files, folders, empty files, binary files and non-UTF-8 bytes are named with the file
    (and the line of the first bad byte) instead of surfacing as a traceback.
    """
    return read_user_text(path)


def read_json(path: Path | str, *, expect: type | tuple[type, ...] = dict) -> Any:
    """Parse a JSON file (summary, funnel, manifest, run.json), naming the file on any fault.

    Args:
        path: the file.
        expect: the type the top level must have (``dict`` or ``list``).

    Raises:
        DataError: unreadable, empty, not UTF-8, not JSON (with line and column), or the top level
            is not ``expect``; a truncated file from an interrupted copy says so.
    """
    text = read_text_file(path)
    deepest = nesting_depth(text)
    if deepest > MAX_JSON_DEPTH:
        raise DataError(f"{path}: nested {deepest} levels deep; at most {MAX_JSON_DEPTH} are read")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        truncated = " (the file looks truncated)" if exc.pos >= len(text.rstrip()) else ""
        raise DataError(
            f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}{truncated}"
        ) from None
    if not isinstance(data, expect):
        wanted = " or ".join(
            t.__name__ for t in (expect if isinstance(expect, tuple) else (expect,))
        )
        raise DataError(
            f"{path}: expected a JSON {wanted} at the top level, got {type(data).__name__}"
        )
    return data


MAX_JSON_DEPTH = 64  # our records nest 4 deep; a hostile line of 100,000 levels stops here
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKETS = re.compile(r"[\[\]{}]")


def nesting_depth(text: str, stop: int = MAX_JSON_DEPTH) -> int:
    """How deep JSON brackets nest in ``text`` (strings skipped), counted up to ``stop + 1``.

    Linear and recursion-free, so it runs before a parser that recurses per level.
    """
    if "[" not in text and "{" not in text:
        return 0
    depth = deepest = 0
    for match in _BRACKETS.finditer(_JSON_STRING.sub('""', text)):
        depth += 1 if match.group(0) in "[{" else -1
        if depth > deepest:
            deepest = depth
            if deepest > stop:
                break
    return deepest


def _parse_line(path: Path, number: int, line: str, model: type[R]) -> R:
    deepest = nesting_depth(line)
    if deepest > MAX_JSON_DEPTH:
        raise RecordError(path, number, f"nested over {MAX_JSON_DEPTH} levels deep")
    try:
        return model.model_validate_json(line)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "<record>"
        if first["type"] == "json_invalid":
            raise RecordError(path, number, f"not valid JSON ({first['msg']})") from None
        raise RecordError(path, number, f"field '{field}': {first['msg']}") from None


def iter_jsonl(
    path: Path | str, model: type[R], *, tolerate_torn_tail: bool = False
) -> Iterator[R]:
    """Yield the records of a JSONL file, validated against ``model``.

    Args:
        path: the file.
        model: the record type of every line.
        tolerate_torn_tail: skip a final line without a newline that does not parse (what a crash
            mid-write leaves); anywhere else a bad line is an error.

    Raises:
        RecordError: naming file and line of the first malformed record.
    """
    path = Path(path)
    if path.is_dir():
        raise RecordError(path, 0, "is a folder; give a JSONL file")
    with open_regular(path) as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            torn = not raw.endswith(b"\n")
            if b"\0" in raw and not (torn and tolerate_torn_tail):
                raise RecordError(path, number, "a binary file (NUL bytes), not JSONL text")
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                if torn and tolerate_torn_tail:
                    return
                raise RecordError(
                    path,
                    number,
                    f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}); "
                    "is this a binary file?",
                ) from None
            try:
                yield _parse_line(path, number, line, model)
            except RecordError:
                if torn and tolerate_torn_tail:
                    return
                raise


def read_jsonl(path: Path | str, model: type[R], *, tolerate_torn_tail: bool = False) -> list[R]:
    """Read a whole JSONL file (see :func:`iter_jsonl`)."""
    return list(iter_jsonl(path, model, tolerate_torn_tail=tolerate_torn_tail))


def _open_own(path: Path, flags: int) -> int:
    """Open a file of our run folder without following a symbolic link; regular files only.

    Raises:
        DataError: the name is a symbolic link or not a regular file (never written through).
    """
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o666)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise DataError(
                f"{path}: is a symbolic link; dta appends only to files it made, never through "
                "a link"
            ) from None
        raise named_os_error(exc, path) from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise DataError(f"{path}: not a regular file; dta appends only to files it made")
    if info.st_nlink > 1:  # a hard link: the same file has a name outside the run folder
        os.close(fd)
        raise DataError(f"{path}: has {info.st_nlink} names (hard links); dta appends only to "
                        "files it made")  # fmt: skip
    return fd


def _cut_torn_tail(path: Path) -> int:
    """Truncate a trailing partial line; return how many bytes were removed."""
    with os.fdopen(_open_own(path, os.O_RDWR), "rb+") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        if size == 0:
            return 0
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return 0
        # Walk back to the last newline; the bytes after it are the torn record.
        position = size - 1
        chunk = 4096
        while position > 0:
            start = max(0, position - chunk)
            handle.seek(start)
            block = handle.read(position - start)
            newline = block.rfind(b"\n")
            if newline >= 0:
                keep = start + newline + 1
                handle.truncate(keep)
                return size - keep
            position = start
        handle.truncate(0)
        return size


def _key_of(record: BaseModel) -> str:
    key = getattr(record, "key", None)
    if not isinstance(key, str):
        raise TypeError(f"{type(record).__name__} has no string 'key' property")
    return key


class JsonlWriter(Generic[R]):
    """Append records to a JSONL file, one flushed line each, skipping keys already written.

    Use as a context manager. On open, a torn last line from an earlier crash is removed and the
    keys of the intact records are loaded into :attr:`done`.
    """

    def __init__(
        self,
        path: Path | str,
        model: type[R],
        *,
        fsync: bool = False,
        retry: Callable[[R], bool] | None = None,
    ) -> None:
        """Open lazily (in ``__enter__``).

        Args:
            path: the JSONL file.
            model: the record type.
            fsync: fsync after every record (slower; survives power loss, not just a crash).
            retry: records for which this returns True (failed requests) are not done: on open
                they move to ``<name>.retried.jsonl`` beside the file, so the rerun asks again
                and the file never holds two records under one key.
        """
        self.path = Path(path)
        self.model = model
        self.fsync = fsync
        self.retry = retry
        self.done: set[str] = set()
        self.torn_bytes = 0
        self.retried = 0
        self._handle: Any = None

    def __enter__(self) -> JsonlWriter[R]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists() or self.path.is_symlink():
            self.torn_bytes = _cut_torn_tail(self.path)
            records = list(iter_jsonl(self.path, self.model))
            if self.retry is not None:
                records = self._set_aside_retries(records, self.retry)
            self.done.update(_key_of(record) for record in records)
        fd = _open_own(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        self._handle = os.fdopen(fd, "a", encoding="utf-8", newline="\n")
        return self

    def _set_aside_retries(self, records: list[R], retry: Callable[[R], bool]) -> list[R]:
        """Move records to retry out of the file: appended aside first, then the file rewritten."""
        again = [record for record in records if retry(record)]
        if not again:
            return records
        aside = self.path.with_name(retried_name(self.path.name))
        fd = _open_own(aside, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        with os.fdopen(fd, "a", encoding="utf-8", newline="\n") as handle:
            handle.writelines(record.model_dump_json() + "\n" for record in again)
        kept = [record for record in records if not retry(record)]
        write_jsonl(self.path, kept)
        self.retried = len(again)
        return kept

    def __exit__(self, *exc_info: object) -> None:
        if self._handle is not None:
            handle, self._handle = self._handle, None
            try:
                handle.close()
            except OSError as exc:
                if exc_info[0] is None:  # else the error already on its way says it
                    raise named_os_error(exc, self.path) from None

    def write(self, record: R) -> bool:
        """Append ``record`` unless its key is already written; return whether it was appended."""
        if self._handle is None:
            raise RuntimeError("JsonlWriter.write called outside its 'with' block")
        key = _key_of(record)
        if key in self.done:
            return False
        try:
            self._handle.write(record.model_dump_json() + "\n")
            self._handle.flush()
            if self.fsync:
                os.fsync(self._handle.fileno())
        except OSError as exc:  # a full disk: the torn line is cut when the run resumes
            raise named_os_error(exc, self.path) from None
        self.done.add(key)
        return True

    def write_all(self, records: Iterable[R]) -> int:
        """Append every new record; return how many were written."""
        return sum(self.write(record) for record in records)


def write_jsonl(path: Path | str, records: Iterable[BaseModel]) -> None:
    """Write a complete JSONL file atomically (for outputs produced in one go)."""
    atomic_write_text(path, "".join(record.model_dump_json() + "\n" for record in records))
