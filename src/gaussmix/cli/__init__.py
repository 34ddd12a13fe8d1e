"""The ``gaussmix`` command line: parses arguments, calls the library, prints.

Errors become one line on stderr and a non-zero exit status (1 for bad data
or files, 2 for bad usage); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import gc
import sys

import typer

from .._version import __version__
from . import classifying, fitting, testing, using

app = typer.Typer(
    name="gaussmix",
    help="Gaussian mixture models fitted by EM: fit, select, predict, impute, sample, plot.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool):
    if value:
        typer.echo(f"gaussmix {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
):
    """Gaussian mixture models fitted by EM."""
    del debug  # read by main() from the raw arguments, so parse errors honour it too


# The commands, in the order ``--help`` lists them.
for _command in (fitting.demo, fitting.fit, fitting.select, testing.bootstrap, classifying.classify,
                 using.predict, using.impute, using.sample,
                 using.plot, using.info):
    app.command()(_command)
del _command


# ---------------------------------------------------------------- entry point
def main(argv=None):
    """Run the command line; errors become one line and an exit status."""
    import warnings

    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv
    if debug:  # a global option, accepted anywhere on the line
        argv = ["--debug"] + [a for a in argv if a != "--debug"]
    if not debug:
        # A warning (not converged, a collapsed component) is one line too.
        def one_line(message, category, filename, lineno, file=None, line=None):
            first = str(message).strip().splitlines()[0]
            sys.stderr.write(f"gaussmix: warning: {first}\n")

        warnings.showwarning = one_line
    try:
        app(args=argv, standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.stderr.write("gaussmix: aborted\n")
        sys.exit(130)
    except Exception as exc:  # one line for the user; the traceback with --debug
        if debug:
            raise
        usage = hasattr(exc, "format_message") and hasattr(exc, "exit_code")
        if not usage and not isinstance(exc, (ValueError, OSError, ImportError, KeyError)):
            raise
        text = exc.format_message() if usage else str(exc)
        message = text.strip().splitlines()[0] if text.strip() else exc.__class__.__name__
        sys.stderr.write(f"gaussmix: error: {message}\n")
        sys.exit(2 if usage else 1)


def run():
    """The ``gaussmix`` script and ``python -m gaussmix``: :func:`main`, then a quick exit.

    At exit CPython runs full collections over every object still alive,
    and after scikit-learn's import those are some 110 000 objects: 0.15-0.25 s
    of a command's 2-3 s here, for nothing, as the process's memory goes
    back whole. Frozen (``gc.freeze``), they are skipped by those
    collections and freed with the process; atexit handlers, the standard
    streams' flush and threads end as before. An object left in a reference
    cycle is then not finalised: every file gaussmix writes is closed
    before a command returns (``io.atomic``). Not in :func:`main`, which
    tests call in-process.
    """
    try:
        main()
    finally:
        gc.freeze()
