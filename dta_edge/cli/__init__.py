"""The `dta` command: one thin module per command group, each a parser around one library call.

Every user error (bad config, bad record, bad data) exits with code 2 and a one-screen message.
"""

from __future__ import annotations

import errno
import signal
import sys

import typer

from dta_edge import __version__
from dta_edge._console import make_console
from dta_edge.cli._common import console
from dta_edge.cli.analyze import analyze_app
from dta_edge.cli.bench import bench
from dta_edge.cli.config import config_app
from dta_edge.cli.configs import configs_app
from dta_edge.cli.curate import curate_app
from dta_edge.cli.demo import demo_command
from dta_edge.cli.export import export_app
from dta_edge.cli.model import model_app
from dta_edge.cli.problems import problems_app
from dta_edge.cli.profile import profile_app
from dta_edge.cli.report import report_command
from dta_edge.cli.score import score_app
from dta_edge.cli.train import train_command
from dta_edge.errors import DtaError, Terminated

app = typer.Typer(
    help="dta-edge: adapt an LLM to telecom mathematics with Data Trajectory Alignment, "
    "export it for edge devices, and prove it with measured numbers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _show_version(given: bool) -> None:
    if given:
        console.print(f"dta-edge {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        "-V",
        is_eager=True,
        callback=_show_version,
        help="Print dta-edge's version and exit (`dta version` lists the libraries too).",
    ),
) -> None:
    """dta-edge: adapt an LLM to telecom mathematics with Data Trajectory Alignment."""


app.add_typer(config_app, name="config")
app.add_typer(configs_app, name="configs")
app.add_typer(problems_app, name="problems")
app.add_typer(model_app, name="model")
app.add_typer(score_app, name="score")
app.add_typer(export_app, name="export")
app.add_typer(analyze_app, name="analyze")
app.add_typer(curate_app, name="curate")
app.add_typer(profile_app, name="profile")
app.command("bench")(bench)
app.command("train")(train_command)
app.command("report")(report_command)
app.command("demo")(demo_command)


@app.command()
def version() -> None:
    """Print the dta-edge version and the versions of the libraries that change results."""
    from dta_edge.runs import package_versions

    console.print(f"dta-edge {__version__}")
    for name, found in package_versions().items():
        if name != "dta-edge":
            console.print(f"  {name} {found}")


# What the OS said, and what the user can do about it (the records written so far are kept).
_OS_HINTS = {
    errno.ENOSPC: "the disk is full; free space and rerun (finished records are kept)",
    errno.EDQUOT: "the disk quota is used up; free space and rerun (finished records are kept)",
    errno.EFBIG: "the file grew past the size limit (ulimit -f); raise it and rerun",
    errno.EROFS: "the file system is read-only; choose another --out",
    errno.EACCES: "permission denied; choose a folder you may write, or fix its permissions",
    errno.EPERM: "operation not permitted; choose a folder you may write",
    errno.EIO: "an I/O error from the disk",
    errno.EMFILE: "too many open files (ulimit -n)",
}


def main() -> None:
    """Entry point of the `dta` console script."""
    received: list[int] = []

    def terminate(signal_number: int, _frame: object) -> None:
        received.append(signal_number)
        raise Terminated(signal_number)  # unwinds like Ctrl-C: run.json says "interrupted"

    signal.signal(signal.SIGTERM, terminate)
    try:
        _run_app(received)
    except DtaError as exc:
        _fail(str(exc))
    except (IsADirectoryError, NotADirectoryError, FileExistsError) as exc:
        # An output path that names a file where a folder belongs (or the reverse): the user's
        # path, not our bug. Nothing was written over it.
        _fail(
            f"{exc.filename}: {exc.strerror}; a file stands where a folder is expected, or the "
            "reverse (check --out and the paths given)"
        )
    except FileNotFoundError as exc:
        _fail(f"{exc.filename}: {exc.strerror}")
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        hint = _OS_HINTS.get(exc.errno or 0, exc.strerror or str(exc))
        _fail(f"{where}{exc.strerror or type(exc).__name__}: {hint}")
    except RecursionError:
        _fail("an input is nested too deeply to read (a config, JSON line or template)")
    except KeyboardInterrupt as exc:
        code = 128 + exc.signal_number if isinstance(exc, Terminated) else 130
        make_console(stderr=True).print("interrupted: rerun the same command to resume")
        sys.exit(code)


def _run_app(received: list[int]) -> None:
    """Run the app; a run ended by SIGTERM exits 128 + 15, as an unhandled SIGTERM would."""
    import typer

    command = typer.main.get_command(app)
    _flags_take_no_value(command)
    try:
        command()
    except SystemExit:
        if received:  # click turned the interrupt into its own exit code
            sys.exit(128 + received[0])
        raise


def _flags_take_no_value(command) -> None:
    """Show flags as flags in help: typer labels each bool option ``<bool>``, as if it took one."""
    for param in command.params:
        if getattr(param, "is_flag", False):
            param.metavar = ""
    help_option = command.get_help_option  # made anew for each help page

    def get_help_option(ctx, made=help_option):
        option = made(ctx)
        if option is not None:
            option.metavar = ""
        return option

    command.get_help_option = get_help_option
    for sub in getattr(command, "commands", {}).values():
        _flags_take_no_value(sub)


def _fail(message: str) -> None:
    """Print one error to stderr (model text and paths shown verbatim, never as markup), exit 2.

    Never wrapped at the console's width: one error is one line, for the terminal to fold and
    for ``grep`` to find whole.
    """
    from rich.text import Text

    make_console(stderr=True).print(
        Text("error: ", style="bold red") + Text(message), soft_wrap=True
    )
    sys.exit(2)


if __name__ == "__main__":
    main()
