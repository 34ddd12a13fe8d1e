"""The command that tests: ``bootstrap``, mclust's ``mclustBootstrapLRT`` for the number of components."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import emit_json, out, progress_display, read, refuse_overwriting


def bootstrap(
    data: Path = typer.Argument(..., help="CSV, TSV, Parquet or .npy file."),
    covariance: str = typer.Option(..., "--covariance", "-c", help="The model tested: full, tied, diag, spherical or an mclust code (VVV, EEE, E, ...)."),
    max_components: Optional[int] = typer.Option(None, "--max-components", "-k", min=1, help="The last test is K against K+1 (default 8, as mclust's G = 1:9)."),
    n_boot: int = typer.Option(999, "--n-boot", min=1, help="Bootstrap samples per test."),
    level: float = typer.Option(0.05, "--level", help="Stop at the first test whose p-value is above it."),
    all_tests: bool = typer.Option(False, "--all-tests", help="Run every test up to --max-components instead of stopping."),
    columns: Optional[str] = typer.Option(None, "--columns", help="Comma-separated columns to use."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Save the fit with the chosen K here."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Draw each bootstrap distribution to this PNG."),
    jobs: int = typer.Option(-1, "--jobs", "-j", help="Parallel jobs (-1: all cores)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed (the same result for any --jobs)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display."),
):
    """How many components: the sequential bootstrap likelihood-ratio test of K against K+1."""
    from ..models import get_model
    from ..selection import bootstrap_lrt

    get_model(covariance)  # a bad name fails before any work
    refuse_overwriting({"data": data}, [output, plot])
    refuse_overwriting({"model output": output}, [plot])
    _, X, names = read(data, columns)
    with progress_display(quiet or as_json, "bootstrapping"):
        result = bootstrap_lrt(X, covariance, max_components, n_boot, level=level, sequential=not all_tests,
                               random_state=seed, n_jobs=jobs)
    if output is not None:
        result.best_.save(output)
    if plot is not None:
        from .. import plotting

        plotting.save_figure(result.plot(), plot)
    if as_json:
        emit_json({
            "covariance_type": result.covariance_type, "n_boot": result.n_boot, "level": result.level,
            "n_components": int(result.n_components_),
            "tests": [{"null": int(G), "alternative": int(G) + 1, "statistic": float(stat), "p_value": float(p)}
                      for G, stat, p in zip(result.n_components, result.statistics_, result.p_values_)],
            "model": None if output is None else str(output), "plot": None if plot is None else str(plot),
        })
        return
    out.print(str(result), markup=False, highlight=False)
    if output is not None:
        out.print(f"The fit with {result.n_components_} components saved to [cyan]{output}[/cyan]")
    if plot is not None:
        out.print(f"Bootstrap distributions drawn to [cyan]{plot}[/cyan]")
