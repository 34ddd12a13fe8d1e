"""The ``gaussmix`` command line: parses arguments, calls the library, prints.

Errors become one line on stderr and a non-zero exit status (1 for bad data
or files, 2 for bad usage); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import json
import logging
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import List, Optional

import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from . import __version__

app = typer.Typer(
    name="gaussmix",
    help="Gaussian mixture models fitted by EM: fit, select, predict, sample, plot.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)


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


#: Rows drawn from streamed data for a figure.
PLOT_ROWS = 5000


# ---------------------------------------------------------------- helpers
def _columns(columns: Optional[str]):
    return [c.strip() for c in columns.split(",") if c.strip()] if columns else None


def _read(path: Path, columns: Optional[str], keep=()):
    from .io import read_table

    return read_table(path, _columns(columns), keep=[k for k in keep if k])


def _standardized(X, transform, names):
    """The model's input: z-scores if the model was fitted on them, with names."""
    import pandas as pd

    values = X if transform is None else (X - transform["center"]) / transform["scale"]
    return pd.DataFrame(values, columns=names)


def _log_jacobian(transform):
    """log |dz/dx| per row when a model works on z = (x - center) / scale."""
    return 0.0 if transform is None else -float(np.sum(np.log(transform["scale"])))


def _summary(gm, X, path=None, transform=None):
    """Fit statistics in the data's own units (z-score fits are converted)."""
    loglik_z, log_map, n = gm._criterion_terms(X)  # one pass over the data
    loglik = loglik_z + n * _log_jacobian(transform)  # log p(x) = log p(z) + log|J|
    p = gm._n_parameters()
    bic = -2.0 * loglik + p * np.log(n)
    return {
        "model": None if path is None else str(path),
        "n_components": int(gm.n_components),
        "covariance_type": gm.covariance_type,
        "n_samples": int(n),
        "n_features": int(gm.n_features_in_),
        "converged": bool(gm.converged_),
        "n_iter": int(gm.n_iter_),
        "log_likelihood": float(loglik),
        "n_parameters": int(p),
        "bic": float(bic),
        "icl": float(bic - 2.0 * log_map),
        "aic": float(-2.0 * loglik + 2.0 * p),
        "weights": gm.weights_.tolist(),
        "means": gm.means_.tolist(),
    }


def _print_components(gm, names):
    table = Table("component", "weight", *[f"mean {n}" for n in names])
    for k in range(gm.n_components):
        table.add_row(str(k), f"{gm.weights_[k]:.4f}", *[f"{v:.4g}" for v in gm.means_[k]])
    out.print(table)


def _emit_json(obj):
    typer.echo(json.dumps(obj, indent=2))


class _ProgressHandler(logging.Handler):
    """Turns the library's log records into a rich progress display."""

    def __init__(self, progress, task):
        super().__init__(logging.DEBUG)
        self.progress, self.task = progress, task

    def emit(self, record):
        it = getattr(record, "gaussmix_iteration", None)
        if it is not None:
            n_iter, max_iter, lower_bound, change = it
            self.progress.update(
                self.task, completed=n_iter, total=max_iter,
                description=f"EM iteration {n_iter}: log-lik/n {lower_bound:.6f} (change {change:+.2e})",
            )
        cell = getattr(record, "gaussmix_cell", None)
        if cell is not None:
            done, total, (K, code) = cell
            self.progress.update(self.task, completed=done, total=total,
                                 description=f"fitted {code},{K}: {done} of {total} cells")


@contextmanager
def _progress(quiet, description):
    if quiet:
        yield
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    logger = logging.getLogger("gaussmix")
    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                  console=err, transient=True) as progress:
        task = progress.add_task(description, total=None)
        handler = _ProgressHandler(progress, task)
        old_level = logger.level
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
        try:
            yield
        finally:
            logger.removeHandler(handler)
            logger.setLevel(old_level)


#: ``.npy`` and Parquet files larger than this are streamed by default.
STREAM_BYTES = 256 * 2**20
STREAMABLE = (".npy", ".parquet", ".pq")


def _streaming(data: Path, stream: Optional[bool]):
    """Whether DATA is read chunk by chunk: asked for, or big by default."""
    suffix = data.suffix.lower()
    if stream is None:
        return suffix in STREAMABLE and data.is_file() and data.stat().st_size > STREAM_BYTES
    if stream and suffix not in STREAMABLE:
        raise typer.BadParameter(
            f"--stream reads .npy and Parquet files, not {suffix or 'this file'}; "
            f"convert it (pandas: read_csv(...).to_parquet(...)) or drop --stream."
        )
    return stream


def _open_stream(data: Path, columns: Optional[List[str]]):
    """A chunked source over DATA's chosen columns."""
    from .backends import NpySource, ParquetSource

    if not data.exists():
        raise FileNotFoundError(f"no data file at {data}")
    if data.suffix.lower() != ".npy":
        return ParquetSource(data, columns=columns)
    from .io import _npy_column

    width = np.load(data, mmap_mode="r", allow_pickle=False).shape[-1]
    idx = None if not columns else [_npy_column(c, width) for c in columns]
    source = NpySource(data, columns=idx)
    source.feature_names = np.asarray([str(i) for i in (range(width) if idx is None else idx)], dtype=object)
    return source


def _transformed(source, transform):
    """The source's rows as z-scores, when the model works on them."""
    if transform is None:
        return source
    from .backends._base import MappedSource

    center, scale = transform["center"], transform["scale"]
    return MappedSource(source, lambda X: ((X - center) / scale).astype(X.dtype))


def _standardize_stream(source, standardize):
    if not standardize:
        return None
    from .backends._base import column_moments

    return _transform(*column_moments(source))


def _transform(center, scale):
    if np.any(scale == 0) or not np.all(np.isfinite(scale)):
        raise ValueError("--standardize: a column is constant; drop it with --columns.")
    return {"center": center, "scale": scale}


def _standardize_params(X, standardize):
    if not standardize:
        return None
    return _transform(X.mean(axis=0), X.std(axis=0, ddof=1))


# ---------------------------------------------------------------- commands
@app.command()
def demo(
    output: Path = typer.Option(Path("gaussmix-demo"), "--output", "-o", help="Folder for the figures."),
    figures: bool = typer.Option(True, "--figures/--no-figures", help="Write the figures."),
    seed: int = typer.Option(0, help="Random seed for the fits."),
):
    """Walk through Gaussian mixtures on the iris flowers, and draw them."""
    from ._demo import run_demo

    run_demo(console=out, seed=seed, figures_dir=output if figures else None)


@app.command()
def fit(
    data: Path = typer.Argument(..., help="CSV, TSV, Parquet or .npy file."),
    components: int = typer.Option(2, "--components", "-k", min=1, help="Number of components."),
    covariance: str = typer.Option("full", "--covariance", "-c", help="full, tied, diag, spherical or an mclust code (VVV, VEV, ...)."),
    init: str = typer.Option("kmeans", "--init", help="kmeans, k-means++, random, random_from_data or hc."),
    n_init: int = typer.Option(1, "--n-init", min=1, help="Initialisations; the best is kept."),
    columns: Optional[str] = typer.Option(None, "--columns", help="Comma-separated columns to use."),
    standardize: bool = typer.Option(False, "--standardize", help="Fit on z-scores (stored with the model)."),
    output: Path = typer.Option(Path("model.gmm"), "--output", "-o", help="Where to save the model."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Also draw the fit to this PNG."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed."),
    max_iter: int = typer.Option(100, "--max-iter", min=1),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display."),
    stream: Optional[bool] = typer.Option(None, "--stream/--no-stream", help="Read DATA chunk by chunk (.npy, Parquet) in bounded memory; default: when over 256 MiB."),
):
    """Fit a mixture to DATA and save it."""
    from ._init import INIT_METHODS
    from .mixture import GaussianMixture
    from .models import get_model

    get_model(covariance)  # a bad name fails before any work
    if init not in INIT_METHODS:
        raise typer.BadParameter(f"--init {init!r}: choose one of {', '.join(INIT_METHODS)}")

    if _streaming(data, stream):
        raw = _open_stream(data, _columns(columns))
        transform = _standardize_stream(raw, standardize)
        Z = _transformed(raw, transform)
        names = [str(n) for n in Z.feature_names]
    else:
        _, X, names = _read(data, columns)
        transform = _standardize_params(X, standardize)
        Z = _standardized(X, transform, names)
    gm = GaussianMixture(components, covariance_type=covariance, init_params=init,
                         n_init=n_init, random_state=seed, max_iter=max_iter)
    with _progress(quiet or as_json, "fitting"):
        gm.fit(Z)
    from .io import save_model

    save_model(gm, output, standardize=transform)
    summary = _summary(gm, Z, output, transform)
    if plot is not None:
        if not isinstance(Z, pd.DataFrame):  # streamed: draw a sample of rows
            rows, _, _ = Z.sample(PLOT_ROWS, np.random.RandomState(0))
            Z = pd.DataFrame(rows, columns=names)
        _plot_fit(gm, Z, names, plot)
        summary["plot"] = str(plot)
    if as_json:
        _emit_json(summary)
        return
    out.print(f"Fitted {components} components ({covariance}) to {summary['n_samples']} rows x {summary['n_features']} features"
              f"{' (standardized)' if transform else ''}: "
              f"{'converged' if gm.converged_ else 'NOT converged'} after {gm.n_iter_} iterations.")
    out.print(f"log-likelihood {summary['log_likelihood']:.4f}, BIC {summary['bic']:.4f}, ICL {summary['icl']:.4f}")
    _print_components(gm, names)
    out.print(f"Model saved to [cyan]{output}[/cyan]")
    if plot is not None:
        out.print(f"Figure written to [cyan]{plot}[/cyan]")


def _plot_fit(gm, X, names, path):
    from . import plotting

    if X.shape[1] == 1:
        fig = plotting.plot_density(gm, X, feature_names=names)
    elif X.shape[1] == 2:
        fig = plotting.plot_clusters(gm, X, feature_names=names)
    else:
        fig = plotting.plot_pairs(gm, X, feature_names=names)
    plotting.save_figure(fig, path)


def _parse_components(text: str):
    try:
        if "-" in text:
            lo, hi = (int(v) for v in text.split("-", 1))
            return list(range(lo, hi + 1))
        return [int(v) for v in text.split(",")]
    except ValueError:
        raise typer.BadParameter(f"{text!r}: use a range like 1-9 or a list like 2,3,5") from None


@app.command()
def select(
    data: Path = typer.Argument(..., help="CSV, TSV, Parquet or .npy file."),
    components: str = typer.Option("1-9", "--components", "-k", help="Range (1-9) or list (2,3,5) of K."),
    covariance: List[str] = typer.Option(["all"], "--covariance", "-c", help="Models to try (repeat the option); 'all' is mclust's 14."),
    criterion: str = typer.Option("bic", "--criterion", help="bic or icl."),
    columns: Optional[str] = typer.Option(None, "--columns"),
    standardize: bool = typer.Option(False, "--standardize"),
    output: Path = typer.Option(Path("best.gmm"), "--output", "-o", help="Where to save the best model."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Draw the BIC/ICL plot to this PNG."),
    jobs: int = typer.Option(-1, "--jobs", "-j", help="Parallel jobs (-1: all cores)."),
    seed: Optional[int] = typer.Option(None, "--seed"),
    as_json: bool = typer.Option(False, "--json"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
):
    """Choose the covariance model and K by BIC or ICL, as mclust does."""
    if criterion not in ("bic", "icl"):
        raise typer.BadParameter(f"--criterion {criterion!r}: choose bic or icl")
    ks = _parse_components(components)
    from .io import save_model
    from .selection import select as run_select

    _, X, names = _read(data, columns)
    transform = _standardize_params(X, standardize)
    Z = _standardized(X, transform, names)
    types = "all" if covariance == ["all"] else covariance
    with _progress(quiet or as_json, "fitting cells"):
        result = run_select(Z, n_components=ks, covariance_types=types,
                            criterion=criterion, n_jobs=jobs, random_state=seed)
    best = result.best_
    save_model(best, output, standardize=transform)
    if plot is not None:
        from . import plotting

        plotting.save_figure(plotting.plot_criterion(result, criterion), plot)
    if as_json:
        _emit_json({
            "best": _summary(best, Z, output, transform),
            "top": [{"covariance_type": code, "n_components": K, criterion: v}
                    for (K, code), v in result.ranking(criterion, 3)],
            "cells": [
                {"covariance_type": code, "n_components": K,
                 "bic": _finite(result.bic_[i, j]), "icl": _finite(result.icl_[i, j]),
                 "error": result.errors_.get((K, code))}
                for i, K in enumerate(result.n_components)
                for j, code in enumerate(result.covariance_types)
            ],
            "plot": None if plot is None else str(plot),
        })
        return
    result.summary(criterion, file=out.file)
    out.print(f"Best: {best.covariance_type},{best.n_components}. Model saved to [cyan]{output}[/cyan]")
    if plot is not None:
        out.print(f"{criterion.upper()} plot written to [cyan]{plot}[/cyan]")


def _finite(v):
    return None if not np.isfinite(v) else float(v)


def _load(model_path):
    from .io import load_model

    return load_model(model_path)


def _model_input(gm, data, columns, keep=()):
    from .io import read_frame

    expected = [str(f) for f in getattr(gm, "feature_names_in_", [])]
    if not columns and expected:
        frame = read_frame(data)
        if frame is not None and set(expected) <= set(map(str, frame.columns)):
            columns = ",".join(expected)  # the model's columns, by name
    frame, X, names = _read(data, columns, keep)
    if X.shape[1] != gm.n_features_in_:
        raise ValueError(
            f"{data} has {X.shape[1]} feature column(s) but the model was fitted on "
            f"{gm.n_features_in_} ({', '.join(expected)}); choose them with --columns."
        )
    return frame, _standardized(X, getattr(gm, "input_transform_", None), expected or names)


def _write_rows(frame, output, what):
    """CSV on stdout, or a CSV/TSV/Parquet file written atomically."""
    from .io import write_table

    if output is None:
        typer.echo(frame.to_csv(index=False), nl=False)
    else:
        write_table(frame, output)
        err.print(f"{len(frame)} {what} written to {output}")


@app.command()
def predict(
    model: Path = typer.Argument(..., help="A model file from 'gaussmix fit' or 'select'."),
    data: Path = typer.Argument(..., help="CSV, TSV, Parquet or .npy file."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="CSV, TSV or Parquet file; CSV on stdout if omitted."),
    id_column: Optional[str] = typer.Option(None, "--id", help="Copy this column of DATA into the output."),
    columns: Optional[str] = typer.Option(None, "--columns"),
    stream: Optional[bool] = typer.Option(None, "--stream/--no-stream", help="Read DATA and write the output chunk by chunk (.npy, Parquet); default: when over 256 MiB."),
):
    """Write each row's label, component probabilities and log-density."""
    gm = _load(model)
    if _streaming(data, stream):
        _predict_stream(gm, data, output, id_column, columns)
        return
    frame, X = _model_input(gm, data, columns, keep=[id_column])
    result = _prediction_frame(gm, X)
    if id_column is not None:
        if frame is None or id_column not in frame.columns:
            raise ValueError(f"--id {id_column!r}: no such column in {data}.")
        result.insert(0, id_column, frame[id_column].to_numpy())
    _write_rows(result, output, "predictions")


def _prediction_frame(gm, X):
    proba, log_density = gm._proba_and_density(X)  # one E-step for both
    result = pd.DataFrame({f"prob_{k}": proba[:, k] for k in range(gm.n_components)})
    result.insert(0, "label", proba.argmax(axis=1))
    # in DATA's units, also for a model fitted on z-scores
    result["log_density"] = log_density + _log_jacobian(getattr(gm, "input_transform_", None))
    return result


def _predict_stream(gm, data, output, id_column, columns):
    """Predict chunk by chunk; the output file appears whole, or not at all."""
    expected = [str(f) for f in getattr(gm, "feature_names_in_", [])]
    cols = _columns(columns) or (expected if data.suffix.lower() != ".npy" else None)
    raw = _open_stream(data, cols)
    if raw.n_features != gm.n_features_in_:
        raise ValueError(
            f"{data} has {raw.n_features} feature column(s) but the model was fitted on "
            f"{gm.n_features_in_} ({', '.join(expected)}); choose them with --columns."
        )
    if id_column is not None and data.suffix.lower() == ".npy":
        raise ValueError("--id: a .npy file has no named columns; use Parquet or CSV.")
    ids = None if id_column is None else raw.iter_column(id_column)
    source = _transformed(raw, getattr(gm, "input_transform_", None))
    names = expected or [str(n) for n in source.feature_names]
    count = [0]

    def frames():
        for X, _ in source.iter_chunks():
            result = _prediction_frame(gm, pd.DataFrame(X, columns=names))
            if ids is not None:
                result.insert(0, id_column, next(ids))
            count[0] += len(result)
            yield result

    if output is None:
        for i, result in enumerate(frames()):
            typer.echo(result.to_csv(index=False, header=i == 0), nl=False)
        return
    from .io import write_table_chunks

    write_table_chunks(frames(), output)
    err.print(f"{count[0]} predictions written to {output}")


@app.command()
def sample(
    model: Path = typer.Argument(...),
    n: int = typer.Option(100, "-n", "--n-samples", min=1, help="How many points."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="CSV, TSV or Parquet; CSV on stdout if omitted."),
    seed: Optional[int] = typer.Option(None, "--seed"),
):
    """Draw N points from a fitted mixture (in the data's original units)."""
    import pandas as pd

    gm = _load(model)
    if seed is not None:
        gm.random_state = seed
    X, y = gm.sample(n)
    transform = getattr(gm, "input_transform_", None)
    if transform is not None:
        X = X * transform["scale"] + transform["center"]
    names = [str(f) for f in getattr(gm, "feature_names_in_", [f"x{j}" for j in range(X.shape[1])])]
    frame = pd.DataFrame(X, columns=names)
    frame["component"] = y
    _write_rows(frame, output, "samples")


@app.command()
def plot(
    model: Path = typer.Argument(...),
    data: Path = typer.Argument(...),
    output: Path = typer.Option(Path("gaussmix-plots"), "--output", "-o", help="Folder for the PNGs."),
    columns: Optional[str] = typer.Option(None, "--columns"),
):
    """Draw the model over DATA: clusters, uncertainty, EM trace."""
    from . import plotting

    gm = _load(model)
    _, X = _model_input(gm, data, columns)
    names = [str(f) for f in getattr(gm, "feature_names_in_", [])] or None
    output.mkdir(parents=True, exist_ok=True)
    written = []
    path = output / "clusters.png"
    _plot_fit(gm, X, names or [f"x{j}" for j in range(X.shape[1])], path)
    written.append(path)
    if X.shape[1] >= 2:
        written.append(plotting.save_figure(plotting.plot_uncertainty(gm, X, feature_names=names), output / "uncertainty.png"))
    if gm.lower_bounds_:
        written.append(plotting.save_figure(plotting.plot_loglik(gm), output / "loglik.png"))
    for p in written:
        out.print(f"wrote [cyan]{p}[/cyan]")


@app.command()
def info(
    model: Path = typer.Argument(...),
    as_json: bool = typer.Option(False, "--json"),
):
    """Print a model's parameters."""
    from .models import get_model

    gm = _load(model)
    names = [str(f) for f in getattr(gm, "feature_names_in_", [])] or [f"x{j}" for j in range(gm.n_features_in_)]
    code = get_model(gm.covariance_type)[0]
    transform = getattr(gm, "input_transform_", None)
    data = {
        "covariance_type": gm.covariance_type,
        "description": code.description,
        "n_components": int(gm.n_components),
        "features": names,
        "standardized": transform is not None,
        "converged": bool(gm.converged_),
        "n_iter": int(gm.n_iter_),
        "n_parameters": int(gm._n_parameters()),
        "weights": gm.weights_.tolist(),
        "means": gm.means_.tolist(),
        "covariances": np.asarray(gm.covariances_).tolist(),
    }
    if as_json:
        _emit_json(data)
        return
    out.print(f"[bold]{gm.covariance_type}[/bold] ({code.description}), {gm.n_components} components, "
              f"{len(names)} features, {data['n_parameters']} parameters"
              f"{', fitted on standardized data' if transform is not None else ''}")
    _print_components(gm, names)


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
