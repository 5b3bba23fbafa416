"""Shared fixtures: the CLI runner and the session-scoped tiny model."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "tests" / "artifacts"


def run_dta(
    *args: str, cwd: Path | None = None, timeout: float = 600
) -> subprocess.CompletedProcess:
    """Run the real `dta` entry point in a subprocess: exit codes and stderr as a user sees them."""
    return subprocess.run(
        [sys.executable, "-m", "dta_edge", *args],
        capture_output=True,
        text=True,
        cwd=cwd or REPO,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
    )


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    """The default embedded tiny model, built once (cached in the user cache dir across runs)."""
    from dta_edge.models.tiny import tiny_model

    return tiny_model().path


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests keep evidence worth reading after a run (screenshots, measured numbers)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
