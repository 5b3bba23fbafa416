"""run.json: what was run, with which config, code and machine, and when.

Written when a stage starts (status "running") and rewritten atomically when it ends, so a
crashed run is recognisable and a resumed one records that it resumed.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import Field

from dta_edge.config import FrozenModel
from dta_edge.errors import DataError
from dta_edge.layout import RUN
from dta_edge.run_folder import check_ours, exclusive, move_aside
from dta_edge.secrets import redact_argv
from dta_edge.storage import atomic_write_json, read_json

F = TypeVar("F", bound=Callable[..., Any])

TRACKED_PACKAGES = (
    "dta-edge",
    "torch",
    "transformers",
    "tokenizers",
    "peft",
    "trl",
    "gguf",
    "llama_cpp_python",
    "onnxruntime",
    "onnxruntime-genai",
    "vllm",
    "pydantic",
    "math-verify",
)


class Hardware(FrozenModel):
    """The machine a run happened on."""

    platform: str
    machine: str
    cpu_model: str
    cpu_count: int
    memory_gib: float | None
    gpus: tuple[str, ...] = ()
    jetson: dict[str, str] = Field(
        default_factory=dict,
        description="On a Jetson: nvpmodel's power mode and the GPU and EMC clocks (Hz).",
    )


class RunInfo(FrozenModel):
    """The content of run.json."""

    schema_version: Literal[1] = 1
    command: tuple[str, ...]
    stage: str
    config: dict[str, Any] = Field(default_factory=dict)
    python: str
    packages: dict[str, str]
    git_revision: str | None
    hardware: Hardware
    started_at: str
    ended_at: str | None = None
    status: Literal["running", "finished", "failed", "interrupted"] = "running"
    resumed: bool = False
    error: str | None = None


def package_versions(names: tuple[str, ...] = TRACKED_PACKAGES) -> dict[str, str]:
    """Installed versions of the packages that change results (absent ones are left out)."""
    found: dict[str, str] = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def git_revision(start: Path | None = None) -> str | None:
    """The git commit of the source tree (with '-dirty' when it has changes), or None."""
    where = start or Path(__file__).resolve().parent
    git = shutil.which("git")
    if git is None:
        return None
    try:
        rev = subprocess.run(
            [git, "-C", str(where), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
        if rev.returncode != 0:
            return None
        dirty = subprocess.run(
            [git, "-C", str(where), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return rev.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        pages = os.sysconf("SC_PHYS_PAGES")
        page_size = os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
    return round(pages * page_size / 2**30, 1)


def _gpus() -> tuple[str, ...]:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return ()
    try:
        out = subprocess.run(
            [smi, "--query-gpu=name,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ()
    return tuple(line.strip() for line in out.stdout.splitlines() if line.strip())


# devfreq nodes of the Jetson GPU and memory controller across JetPack releases
_JETSON_CLOCKS = {"gpu_hz": ("/sys/devices/platform/gpu.0/devfreq/*/cur_freq",
                             "/sys/devices/gpu.0/devfreq/*/cur_freq",
                             "/sys/devices/17000000.g*/devfreq/*/cur_freq"),
                  "emc_hz": ("/sys/kernel/debug/bpmp/debug/clk/emc/rate",
                             "/sys/kernel/actmon_avg_activity/mc_all")}  # fmt: skip


def _jetson() -> dict[str, str]:
    """The power mode (nvpmodel) and current clocks, when this is a Jetson (nvpmodel on PATH).

    Power mode and clocks change a Jetson's speed and power severalfold, so a run records them.
    """
    nvpmodel = shutil.which("nvpmodel")
    if nvpmodel is None:
        return {}
    found: dict[str, str] = {}
    try:
        out = subprocess.run([nvpmodel, "-q"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        out = None
    lines = [line.strip() for line in (out.stdout if out else "").splitlines() if line.strip()]
    for index, line in enumerate(lines):
        if line.startswith("NV Power Mode:"):
            found["power_mode"] = line.split(":", 1)[1].strip()
            if index + 1 < len(lines) and lines[index + 1].isdigit():
                found["power_mode_id"] = lines[index + 1]
    from glob import glob

    for key, patterns in _JETSON_CLOCKS.items():
        for path in (p for pattern in patterns for p in glob(pattern)):
            try:
                found[key] = Path(path).read_text().strip()
                break
            except OSError:
                continue
    return found


def detect_hardware() -> Hardware:
    """Describe this machine without importing torch."""
    return Hardware(
        platform=platform.platform(),
        machine=platform.machine(),
        cpu_model=_cpu_model(),
        cpu_count=os.cpu_count() or 1,
        memory_gib=_memory_gib(),
        gpus=_gpus(),
        jetson=_jetson(),
    )


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _differences(old: Any, new: Any, where: str = "") -> list[str]:
    """Key paths where two resolved configs differ, with both values (shortened)."""
    if isinstance(old, dict) and isinstance(new, dict):
        found: list[str] = []
        for key in sorted(set(old) | set(new), key=str):
            found += _differences(old.get(key), new.get(key), f"{where}.{key}" if where else key)
        return found
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [d for i, (a, b) in enumerate(zip(old, new, strict=True))
                for d in _differences(a, b, f"{where}[{i}]")]  # fmt: skip
    if old == new:
        return []

    def short(value: Any) -> str:
        text = json.dumps(value, default=str)
        return text if len(text) <= 64 else f"{text[:24]}...{text[-36:]}"  # paths end in news

    return [f"{where or '<config>'}: {short(old)} before, {short(new)} now"]


def _family(stage: str) -> str:
    """Steps of one run share a family ("curate.phase1", "curate.rewrite+judge"): "curate"."""
    return stage.split(".", 1)[0]


def prepare_run_folder(
    out_dir: Path | str, stage: str, config: dict[str, Any], *, overwrite: bool = False
) -> tuple[bool, Path | None]:
    """Make sure ``out_dir`` holds this run or nothing, before a stage writes into it.

    A folder whose run.json records another stage or another config is refused (exit 2, naming
    what differs), so a rerun never mixes two runs' records; with ``overwrite`` the old folder is
    moved aside whole first, never half kept. A folder holding files no run of ours wrote is
    refused whatever ``overwrite`` says (see :func:`dta_edge.run_folder.check_ours`).

    Returns:
        (resuming, where the old run was moved or None).

    Raises:
        DataError: the folder holds a different run and ``overwrite`` is off, holds files that
            are not ours, or ``out_dir`` is an existing file.
    """
    out = Path(out_dir)
    if check_ours(out, overwrite=overwrite):
        return False, move_aside(out)
    path = out / RUN
    if not path.exists():
        return False, None
    if overwrite:
        return False, move_aside(out)
    try:
        old = RunInfo.model_validate_json(json.dumps(read_json(path)))
    except (DataError, ValueError) as exc:
        raise DataError(
            f"{path}: unreadable ({exc}); pass --overwrite to move the folder aside and start anew"
        ) from None
    differences = (
        [f"stage: {old.stage} before, {stage} now"]
        if _family(old.stage) != _family(stage)
        else _differences(old.config, json.loads(json.dumps(config, default=str)))
    )
    if differences:
        shown = "; ".join(differences[:5]) + (
            f"; and {len(differences) - 5} more" if len(differences) > 5 else ""
        )
        raise DataError(
            f"{out}: holds a run of another config ({shown}). Pass --overwrite to move it aside "
            "and start anew, or choose another --out"
        )
    return True, None


def _claim(out: Path, stage: str, config: dict[str, Any], overwrite: bool, guard: bool) -> bool:
    """Check (and, with ``overwrite``, clear) the folder before its lock; True when resuming."""
    if guard:
        return prepare_run_folder(out, stage, config, overwrite=overwrite)[0]
    if check_ours(out, overwrite=overwrite):
        move_aside(out)
    return (out / RUN).exists()


def _write_status(path: Path, info: RunInfo, **update: Any) -> None:
    """Rewrite run.json; a full or read-only disk must not hide the error that ended the run."""
    try:
        atomic_write_json(path, info.model_copy(update=update).model_dump(mode="json"))
    except OSError:
        if update.get("status") == "finished":
            raise


@contextmanager
def run_record(
    out_dir: Path | str,
    stage: str,
    config: dict[str, Any],
    *,
    overwrite: bool = False,
    guard: bool = True,
    check: Callable[[], None] | None = None,
) -> Iterator[RunInfo]:
    """Own ``out_dir`` for a stage: its lock, and run.json "running" now, its outcome after.

    The folder is checked to be ours (see :func:`dta_edge.run_folder.check_ours`), locked
    against a second process (exit 2 naming the first's PID), and checked again under the lock.
    Outcome: "finished", "failed" (with the error), or "interrupted" (Ctrl-C or SIGTERM).

    Args:
        out_dir: the run folder.
        stage: the stage's name, e.g. "problems.generate".
        config: the resolved config (JSON-serialisable).
        overwrite: move a folder holding another run aside instead of refusing it
            (see :func:`prepare_run_folder`).
        guard: refuse a folder of another config (off for stages whose outputs are whole files
            written anew each time, such as a report, or guarded otherwise, such as an export).
        check: the stage's own guard, run under the lock before run.json is rewritten (the
            export's manifest check), so a refusal leaves the last run's record as it was.
    """
    out = Path(out_dir)
    path = out / RUN
    _claim(out, stage, config, overwrite, guard)
    with exclusive(out):
        resumed = _claim(out, stage, config, False, guard)  # again: another may have just started
        if check is not None:
            check()
        info = RunInfo(
            command=tuple(redact_argv(sys.argv)),
            stage=stage,
            config=config,
            python=sys.version.split()[0],
            packages=package_versions(),
            git_revision=git_revision(),
            hardware=detect_hardware(),
            started_at=_now(),
            resumed=resumed,
        )
        atomic_write_json(path, info.model_dump(mode="json"))
        try:
            yield info
        except KeyboardInterrupt as exc:  # Ctrl-C, and SIGTERM (errors.Terminated)
            _write_status(path, info, ended_at=_now(), status="interrupted", error=repr(exc))
            raise
        except BaseException as exc:
            _write_status(path, info, ended_at=_now(), status="failed", error=repr(exc)[:2000])
            raise
        _write_status(path, info, ended_at=_now(), status="finished")


def finished_run(folder: Path) -> RunInfo | None:
    """The run.json of ``folder`` if its run finished, else None (missing, running or failed)."""
    path = Path(folder) / RUN
    if not path.is_file():
        return None
    try:
        info = RunInfo.model_validate_json(path.read_bytes())
    except ValueError:
        return None
    return info if info.status == "finished" else None


def run_seconds(info: RunInfo) -> float:
    """How long a finished run took, from its start and end times."""
    if info.ended_at is None:
        return 0.0
    started = datetime.fromisoformat(info.started_at)
    return (datetime.fromisoformat(info.ended_at) - started).total_seconds()


def _digest(value: Any) -> str:
    """A short sha256 of a value's JSON form: what tells two data sets of one size apart."""
    import hashlib

    dumped = value.model_dump(mode="json") if hasattr(value, "model_dump") else value
    if isinstance(value, list | tuple):
        dumped = [v.model_dump(mode="json") if hasattr(v, "model_dump") else v for v in value]
    text = json.dumps(dumped, default=str, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _describe(value: Any) -> Any:
    """A stage argument as run.json records it: plain values as they are, objects by name.

    Data (a long list, a large record such as a run's answers) is recorded by its size and a
    digest, so a rerun on other data is told apart from a resume on the same.
    """
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _describe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        if len(value) > 10:  # data, not settings: how much of it and a digest, not all of it
            return {"items": len(value), "first": _describe(value[0]), "sha256": _digest(value)}
        return [_describe(v) for v in value]
    named = getattr(value, "name", None) or getattr(value, "system", None)
    if hasattr(value, "model_dump"):
        dumped = value.model_dump(mode="json")
        if len(json.dumps(dumped, default=str)) <= 2000:
            return dumped
        return {"name": named or type(value).__name__, "sha256": _digest(value)}
    return named or type(value).__name__


def recorded(stage: str, out_arg: str = "out_dir", *, guard: bool = True) -> Callable[[F], F]:
    """Decorate a stage function so that it owns its output folder and writes run.json there.

    The config recorded is the function's arguments (callbacks and objects by name); the folder
    is the argument named ``out_arg``. The decorated function takes one more keyword,
    ``overwrite``: move a folder of another config aside instead of refusing it. With ``guard``
    (analyses, which resume and whose verdicts must not mix with another judge's) a folder
    holding a run of other arguments is refused; the report, rebuilt whole from its inputs each
    time, passes ``guard=False``.
    """

    def wrap(function: F) -> F:
        signature = inspect.signature(function)

        @functools.wraps(function)
        def run(*args: Any, overwrite: bool = False, **kwargs: Any) -> Any:
            bound = signature.bind(*args, **kwargs)
            config = {name: _describe(value) for name, value in bound.arguments.items()
                      if not callable(value) or hasattr(value, "model_dump")}  # fmt: skip
            with run_record(Path(bound.arguments[out_arg]), stage, config, guard=guard,
                            overwrite=overwrite):  # fmt: skip
                return function(*args, **kwargs)

        return run  # type: ignore[return-value]

    return wrap
