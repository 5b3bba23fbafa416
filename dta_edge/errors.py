"""Project exceptions.

Every error a user can cause derives from :class:`DtaError`; the CLI turns it into a short message
and exit code 2, so a bad file never produces a traceback.
"""

from __future__ import annotations

from pathlib import Path


class DtaError(Exception):
    """Base class of user-facing errors (bad input, bad config, bad data)."""


class ConfigError(DtaError):
    """A recipe, profile or target file failed to parse or validate.

    Carries every problem found, so the user fixes them in one pass.
    """

    def __init__(self, path: Path | str, problems: list[str]) -> None:
        self.path = Path(path)
        self.problems = list(problems)
        if len(self.problems) == 1:  # one problem: one line, the file first
            super().__init__(f"{self.path}: {self.problems[0]}")
            return
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"invalid config {self.path} ({len(self.problems)} problem(s)):\n{lines}")


class RecordError(DtaError):
    """A JSONL record is malformed or does not match its schema."""

    def __init__(self, path: Path | str, line: int, message: str) -> None:
        self.path = Path(path)
        self.line = line
        where = f"{self.path}:{line}" if line > 0 else f"{self.path}"
        super().__init__(f"{where}: {message}")


class DataError(DtaError):
    """A data set (benchmark file, problem list) is missing fields or has bad values."""


class ModelError(DtaError):
    """A model folder is missing, incomplete or cannot be built."""


class ExportError(DtaError):
    """A model cannot be exported, or an exported file is missing, corrupt or unsupported."""


class ParityUnavailable(DtaError):
    """Parity cannot be measured on this machine (e.g. the graph needs the CUDA provider).

    The export itself is complete; the manifest records why its parity is missing.
    """


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: unwinds like Ctrl-C, so run.json says "interrupted", not "running"."""

    def __init__(self, signal_number: int) -> None:
        self.signal_number = signal_number
        super().__init__(f"terminated by signal {signal_number}")
