"""The command that classifies: ``classify``, mclust's MclustDA and EDDA on a labelled table."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from .common import emit_json, out, progress_display, read, refuse_overwriting

MODEL_TYPES = ("MclustDA", "EDDA")


def classify(
    data: Path = typer.Argument(..., help="CSV, TSV or Parquet file with a label column."),
    label: str = typer.Option(..., "--label", "-l", help="The column that holds each row's class."),
    model_type: str = typer.Option("MclustDA", "--model-type", "-m", help="MclustDA (a mixture per class, K and model by BIC) or EDDA (one Gaussian per class, one model shared)."),
    components: Optional[str] = typer.Option(None, "--components", "-k", help="Range (1-5) or list of K per class (MclustDA); default 1-5."),
    covariance: List[str] = typer.Option(["all"], "--covariance", "-c", help="Models to choose from (repeat the option); 'all' is mclust's 14."),
    columns: Optional[str] = typer.Option(None, "--columns", help="Comma-separated feature columns; default every column but the label."),
    output: Path = typer.Option(Path("classifier.gmm"), "--output", "-o", help="Where to save the classifier."),
    jobs: int = typer.Option(-1, "--jobs", "-j", help="Parallel jobs (-1: all cores)."),
    seed: Optional[int] = typer.Option(None, "--seed"),
    as_json: bool = typer.Option(False, "--json"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
):
    """Fit a classifier by Gaussian mixtures to labelled rows, and save it (predict with 'gaussmix predict')."""
    import numpy as np

    from ..estimators.classifier import GaussianMixtureClassifier
    from ..io import read_frame
    from .fitting import parse_components

    if model_type not in MODEL_TYPES:
        raise typer.BadParameter(f"--model-type {model_type!r}: choose {' or '.join(MODEL_TYPES)}")
    refuse_overwriting({"data": data}, [output])
    frame = read_frame(data)
    if frame is None:
        raise ValueError("--label: a .npy file has no named columns; use CSV, TSV or Parquet.")
    if label not in frame.columns:
        raise ValueError(f"--label {label!r}: no such column in {data}; it has {list(map(str, frame.columns))}.")
    if columns is None:
        columns = ",".join(str(c) for c in frame.columns if c != label)
    frame, _, names = read(data, columns, keep=[label])  # checks the feature columns are numbers
    y = frame[label].to_numpy()
    if frame[label].isna().any():
        raise ValueError(f"--label {label!r}: {int(frame[label].isna().sum())} row(s) have no label; "
                         f"semi-supervised fits (label -1) are in Python: GaussianMixtureClassifier(model_type='EDDA').")
    ks = None if components is None else parse_components(components)
    clf = GaussianMixtureClassifier(
        n_components=ks if model_type == "MclustDA" else None,
        covariance_type="all" if covariance == ["all"] else list(covariance),
        model_type=model_type, random_state=seed, n_jobs=jobs,
    )
    with progress_display(quiet or as_json, "fitting classes"):
        clf.fit(frame[names], y)
    clf.save(output)
    errors = int(np.sum(clf.predict(frame[names]) != y))
    classes = [
        {"class": str(c), "covariance_type": str(code), "n_components": int(K), "prior": float(p)}
        for c, code, K, p in zip(clf.classes_, clf.covariance_types_, clf.n_components_, clf.priors_)
    ]
    if as_json:
        emit_json({"model_type": model_type, "classes": classes, "bic": float(clf.bic_),
                   "training_errors": errors, "n_samples": int(len(y)), "model": str(output)})
        return
    for entry in classes:
        out.print(f"class {entry['class']}: {entry['covariance_type']},{entry['n_components']} "
                  f"(prior {entry['prior']:.3f})")
    out.print(f"BIC {clf.bic_:.4f}; {errors} of {len(y)} training rows misclassified.")
    out.print(f"Classifier saved to [cyan]{output}[/cyan]; predict with 'gaussmix predict {output} DATA'.")
