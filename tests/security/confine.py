"""Run `dta` with every file system read-only except one folder, where the OS allows it.

The path tests hand `dta` names that, on a vulnerable build, remove whatever they name: an
absolute path in a manifest once made `dta export` run ``shutil.rmtree("/")``, and running these
tests against that build as root took a machine's /etc with it. A regression must fail the
test, not the host. As root with util-linux's ``unshare``, the command runs in its own mount
namespace with ``/`` remounted read-only and only ``writable`` bound read-write; elsewhere (not
root, no unshare) it runs as ``run_dta`` does, where the user's own permissions are the limit.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

from ..conftest import REPO

# every mount read-only (/dev and /dev/shm are shared with the host too), then $1 read-write
_CONFINE = (
    'mount --make-rprivate / && for m in $(cut -d" " -f2 /proc/self/mounts); do '
    'mount -o remount,bind,ro "$m" 2>/dev/null; done; '
    'mount --bind "$1" "$1" && mount -o remount,bind,rw "$1" && shift && exec "$@"'
)


@functools.cache
def confinement_works() -> bool:
    """Whether this host can run a command in a read-only mount namespace (root + unshare)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-m", "sh", "-c", _CONFINE, "sh", "/tmp", "true"],
                           capture_output=True, timeout=30)  # fmt: skip
    return probe.returncode == 0


def run_dta_confined(writable: Path, *args: str, timeout: float = 600):
    """`dta ARGS` as a user runs it, able to write under ``writable`` only (where possible)."""
    command = [sys.executable, "-m", "dta_edge", *args]
    if confinement_works():
        command = ["unshare", "-m", "sh", "-c", _CONFINE, "sh", str(writable), *command]
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=timeout,
                          env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1",
                               "PYTHONDONTWRITEBYTECODE": "1"})  # fmt: skip
