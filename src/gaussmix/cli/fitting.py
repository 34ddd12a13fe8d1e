"""The commands that fit: ``demo``, ``fit`` and ``select``."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from .common import NOISE_DENSITY_HELP, NOISE_HELP, noise_density_of, noise_of
from .common import (NAN_POLICY_HELP, PLOT_ROWS, columns_of, emit_json, finite, nan_policy_of, open_stream,
                     refuse_overwriting, out, plot_fit, print_components, progress_display, read,
                     skip_compiling_if_small,
                     standardize_params, standardize_stream, standardized, streaming, summary_of,
                     transformed)


PRIOR_HELP = ("none, or default: mclust's conjugate prior (priorControl()), fitted by MAP EM; "
              "it keeps covariances from collapsing.")
PRIOR_METHOD_HELP = ("With --prior default: mclust (mclust's M-steps) or exact (the exact MAP, "
                     "whose objective never falls).")


def prior_of(prior: str, method: str):
    """The ``prior`` argument for ``--prior`` and ``--prior-method``."""
    from ..conjugate import METHODS, ConjugatePrior

    if prior not in ("none", "default"):
        raise typer.BadParameter(f"--prior {prior!r}: choose none or default")
    if method not in METHODS:
        raise typer.BadParameter(f"--prior-method {method!r}: choose {' or '.join(METHODS)}")
    return None if prior == "none" else ConjugatePrior(method=method)


def demo(
    output: Path = typer.Option(Path("gaussmix-demo"), "--output", "-o", help="Folder for the figures."),
    figures: bool = typer.Option(True, "--figures/--no-figures", help="Write the figures."),
    seed: int = typer.Option(0, help="Random seed for the fits."),
):
    """Walk through Gaussian mixtures on the iris flowers, and draw them."""
    from ..demo import run_demo

    run_demo(console=out, seed=seed, figures_dir=output if figures else None)


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
    prior: str = typer.Option("none", "--prior", help=PRIOR_HELP),
    prior_method: str = typer.Option("mclust", "--prior-method", help=PRIOR_METHOD_HELP),
    nan_policy: str = typer.Option("marginalize", "--nan-policy", help=NAN_POLICY_HELP),
    noise: str = typer.Option("none", "--noise", help=NOISE_HELP),
    noise_density: Optional[float] = typer.Option(None, "--noise-density", help=NOISE_DENSITY_HELP),
):
    """Fit a mixture to DATA and save it."""
    import numpy as np
    import pandas as pd
    from ..init import INIT_METHODS
    from ..estimators import GaussianMixture
    from ..models import get_model

    get_model(covariance)  # a bad name fails before any work
    conjugate = prior_of(prior, prior_method)
    nan_policy = nan_policy_of(nan_policy)
    noise_init = noise_of(noise)
    if init not in INIT_METHODS:
        raise typer.BadParameter(f"--init {init!r}: choose one of {', '.join(INIT_METHODS)}")
    refuse_overwriting({"data": data}, [output, plot])
    refuse_overwriting({"model output": output}, [plot])

    if streaming(data, stream):
        raw = open_stream(data, columns_of(columns), nan_policy)
        transform = standardize_stream(raw, standardize)
        Z = transformed(raw, transform)
        names = [str(n) for n in Z.feature_names]
    else:
        _, X, names = read(data, columns)
        transform = standardize_params(X, standardize)
        Z = standardized(X, transform, names)
        skip_compiling_if_small(X, components, covariance, init, max_iter * n_init)
    gm = GaussianMixture(components, covariance_type=covariance, init_params=init,
                         n_init=n_init, random_state=seed, max_iter=max_iter, prior=conjugate,
                         nan_policy=nan_policy, noise_init=noise_init,
                         noise_density=noise_density_of(noise_density, transform))
    with progress_display(quiet or as_json, "fitting"):
        gm.fit(Z)
    gm.save(output, input_transform=transform)
    summary = summary_of(gm, Z, output, transform)
    if plot is not None:
        if not isinstance(Z, pd.DataFrame):  # streamed: draw a sample of rows
            rows, _, _ = Z.sample(PLOT_ROWS, np.random.RandomState(0))
            Z = pd.DataFrame(rows, columns=names)
        plot_fit(gm, Z, names, plot)
        summary["plot"] = str(plot)
    if as_json:
        emit_json(summary)
        return
    out.print(f"Fitted {components} components ({covariance}) to {summary['n_samples']} rows x {summary['n_features']} features"
              f"{' (standardized)' if transform else ''}: "
              f"{'converged' if gm.converged_ else 'NOT converged'} after {gm.n_iter_} iterations.")
    out.print(f"log-likelihood {summary['log_likelihood']:.4f}, BIC {summary['bic']:.4f}, ICL {summary['icl']:.4f}")
    print_components(gm, names)
    out.print(f"Model saved to [cyan]{output}[/cyan]")
    if plot is not None:
        out.print(f"Figure written to [cyan]{plot}[/cyan]")


def parse_components(text: str):
    try:
        if "-" in text:
            lo, hi = (int(v) for v in text.split("-", 1))
            return list(range(lo, hi + 1))
        return [int(v) for v in text.split(",")]
    except ValueError:
        raise typer.BadParameter(f"{text!r}: use a range like 1-9 or a list like 2,3,5") from None


def select(
    data: Path = typer.Argument(..., help="CSV, TSV, Parquet or .npy file."),
    components: Optional[str] = typer.Option(None, "--components", "-k", help="Range (1-9) or list (2,3,5) of K; default 1-9, or 0-9 with --noise (0: the noise alone)."),
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
    prior: str = typer.Option("none", "--prior", help=PRIOR_HELP),
    prior_method: str = typer.Option("mclust", "--prior-method", help=PRIOR_METHOD_HELP),
    nan_policy: str = typer.Option("marginalize", "--nan-policy", help=NAN_POLICY_HELP),
    noise: str = typer.Option("none", "--noise", help=NOISE_HELP),
    noise_density: Optional[float] = typer.Option(None, "--noise-density", help=NOISE_DENSITY_HELP),
):
    """Choose the covariance model and K by BIC or ICL, as mclust does."""
    if criterion not in ("bic", "icl"):
        raise typer.BadParameter(f"--criterion {criterion!r}: choose bic or icl")
    conjugate = prior_of(prior, prior_method)
    nan_policy = nan_policy_of(nan_policy)
    noise_init = noise_of(noise)
    ks = None if components is None else parse_components(components)
    refuse_overwriting({"data": data}, [output, plot])
    refuse_overwriting({"model output": output}, [plot])
    from ..selection import select as run_select

    _, X, names = read(data, columns)
    transform = standardize_params(X, standardize)
    Z = standardized(X, transform, names)
    types = "all" if covariance == ["all"] else covariance
    with progress_display(quiet or as_json, "fitting cells"):
        result = run_select(Z, n_components=ks, covariance_types=types,
                            criterion=criterion, n_jobs=jobs, random_state=seed, prior=conjugate,
                            nan_policy=nan_policy, noise_init=noise_init,
                            noise_density=noise_density_of(noise_density, transform))
    best = result.best_
    if best is None:
        out.print("The noise alone (K=0) has the best criterion: the data show no cluster. No model saved.")
        raise typer.Exit(code=1)
    best.save(output, input_transform=transform)
    if plot is not None:
        from .. import plotting

        plotting.save_figure(plotting.plot_criterion(result, criterion), plot)
    if as_json:
        emit_json({
            "best": summary_of(best, Z, output, transform),
            "top": [{"covariance_type": code, "n_components": K, criterion: v}
                    for (K, code), v in result.ranking(criterion, 3)],
            "cells": [
                {"covariance_type": code, "n_components": K,
                 "bic": finite(result.bic_[i, j]), "icl": finite(result.icl_[i, j]),
                 "error": result.errors_.get((K, code))}
                for i, K in enumerate(result.n_components)
                for j, code in enumerate(result.covariance_types)
            ],
            "plot": None if plot is None else str(plot),
        })
        return
    result.summary(criterion, file=out.file)
    for (K, code), reason in sorted(result.errors_.items()):
        out.print(f"  {code},{K} failed: {reason}", markup=False)
    out.print(f"Best: {best.covariance_type},{best.n_components}. Model saved to [cyan]{output}[/cyan]")
    if plot is not None:
        out.print(f"{criterion.upper()} plot written to [cyan]{plot}[/cyan]")
