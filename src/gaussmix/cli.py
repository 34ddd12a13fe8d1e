"""The ``gaussmix`` command line: parses arguments, calls the library, prints."""

from __future__ import annotations

import typer

from . import __version__

app = typer.Typer(
    name="gaussmix",
    help="Gaussian mixture models fitted by EM.",
    no_args_is_help=True,
    add_completion=False,
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
):
    """Gaussian mixture models fitted by EM."""


@app.command()
def demo(seed: int = typer.Option(0, help="Random seed for the fits.")):
    """Walk through Gaussian mixtures on the iris flowers."""
    from ._demo import run_demo

    run_demo(seed=seed)


def main():
    app()
