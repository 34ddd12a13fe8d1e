"""What the commands share: reading data, standardising, summaries, progress_display, output."""

from __future__ import annotations

import json
import logging
import os
from contextlib import contextmanager
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table

out = Console()
err = Console(stderr=True)


def same_file(a, b):
    """Whether paths ``a`` and ``b`` name one file (through links too)."""
    a, b = Path(a), Path(b)
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def refuse_overwriting(inputs, outputs):
    """Refuse, before any work, an output path that is one of the command's inputs.

    Writing there would replace the user's data or model with the output
    (the writes are atomic renames, so nothing would be half-written, but
    the input would be gone).
    """
    for output in outputs:
        if output is None:
            continue
        for name, path in inputs.items():
            if path is not None and same_file(output, path):
                raise typer.BadParameter(
                    f"{output} is the {name} file {path}: writing there would replace it. "
                    f"Choose another output path."
                )


#: Rows drawn from streamed data for a figure.
PLOT_ROWS = 5000


def columns_of(columns: Optional[str]):
    return [c.strip() for c in columns.split(",") if c.strip()] if columns else None


def read(path: Path, columns: Optional[str], keep=()):
    from ..io import read_table

    return read_table(path, columns_of(columns), keep=[k for k in keep if k])


#: DATA files past this size are not read to decide whether to skip Numba:
#: ``predict``, ``plot`` and ``impute`` read them again to work, and pandas
#: read a numeric CSV at about 380 MiB/s here, so a second read stays under
#: 0.2 s, a quarter of what skipping the load saves.
PEEK_BYTES = 64 * 2**20


def _skip_for_passes_over(X, n_components, n_passes):
    """Skip loading Numba where ``n_passes`` over the rows ``X`` cost the NumPy kernels little."""
    import numpy as np
    from .. import compiled

    holes = int(np.isnan(X).any(axis=1).sum())
    if compiled.worth_loading(n_passes, X.shape[0], n_components, X.shape[1], holes):
        return False
    return compiled.skip_loading()


def skip_compiling_if_small(X, n_components, covariance, init, n_passes):
    """Run a small in-memory fit without loading Numba; returns whether it will.

    Loading the compiled kernels takes about 0.8 s in each new process,
    more than such a fit on the NumPy kernels (``compiled.worth_loading``,
    which also counts the rows with missing values). Work that is compiled
    outside the passes stays compiled: the hierarchical start and the
    iterative M-steps, which as plain Python took seconds (EVE, K=9, d=4:
    17 s).
    """
    from ..models import get_model

    if init == "hc" or get_model(covariance)[0].iterative:
        return False
    return _skip_for_passes_over(X, n_components, n_passes)


def skip_compiling_for_passes(model_path, data_path=None, n_passes=1):
    """Before a model loads (its load factorises, compiled): skip Numba where its passes over DATA are small.

    Without DATA (``info``, ``sample``) there is no pass. A classifier's
    file, whose components are its classes' (not read here), and DATA past
    :data:`PEEK_BYTES` stay compiled.
    """
    import numpy as np
    from .. import compiled
    from ..io import read_frame
    from ..io.models import read_model

    meta, _ = read_model(model_path, names=())
    n_components = (meta.get("params") or {}).get("n_components")
    if not isinstance(n_components, int):
        return False
    if data_path is None:
        return compiled.skip_loading()
    if Path(data_path).stat().st_size > PEEK_BYTES:
        return False
    frame = read_frame(data_path)
    if frame is None:  # .npy
        X = np.load(data_path, mmap_mode="r", allow_pickle=False)
    else:
        X = frame.select_dtypes("number").to_numpy(dtype=np.float64, na_value=np.nan)
    return X.ndim == 2 and _skip_for_passes_over(X, n_components, n_passes)


def standardized(X, transform, names):
    """The model's input: z-scores if the model was fitted on them, with names."""
    import pandas as pd

    values = X if transform is None else (X - transform["center"]) / transform["scale"]
    return pd.DataFrame(values, columns=names)


def log_jacobian(transform):
    """log |dz/dx| per row when a model works on z = (x - center) / scale."""
    import numpy as np
    return 0.0 if transform is None else -float(np.sum(np.log(transform["scale"])))


def summary_of(gm, X, path=None, transform=None):
    """Fit statistics in the data's own units (z-score fits are converted)."""
    from dataclasses import replace

    import numpy as np

    crit = gm.criteria(X)  # one pass over the data
    # log p(x) = log p(z) + log|J|
    crit = replace(crit, log_likelihood=crit.log_likelihood + crit.n_samples * log_jacobian(transform))
    return {
        "model": None if path is None else str(path),
        "n_components": int(gm.n_components),
        "covariance_type": gm.covariance_type,
        "n_samples": int(crit.n_samples),
        "n_features": int(gm.n_features_in_),
        "converged": bool(gm.converged_),
        "n_iter": int(gm.n_iter_),
        "log_likelihood": float(crit.log_likelihood),
        "n_parameters": int(crit.n_parameters),
        "bic": float(crit.bic),
        "icl": float(crit.icl),
        "aic": float(crit.aic),
        "weights": gm.weights_.tolist(),
        "means": gm.means_.tolist(),
        # The noise's density per unit of DATA, also for a model fitted on z-scores.
        **({"noise_weight": gm.noise_weight_,
            "noise_density": gm.noise_density_ / (1.0 if transform is None else float(np.prod(transform["scale"])))}
           if getattr(gm, "has_noise", False) else {}),
    }


def print_components(gm, names):
    table = Table("component", "weight", *[f"mean {n}" for n in names])
    for k in range(gm.n_components):
        table.add_row(str(k), f"{gm.weights_[k]:.4f}", *[f"{v:.4g}" for v in gm.means_[k]])
    if getattr(gm, "has_noise", False):
        table.add_row("noise (-1)", f"{gm.noise_weight_:.4f}", *["" for _ in names])
    out.print(table)


def emit_json(obj):
    typer.echo(json.dumps(obj, indent=2))


class ProgressHandler(logging.Handler):
    """Turns the library's log records into a rich progress display."""

    def __init__(self, progress_display, task):
        super().__init__(logging.DEBUG)
        self.progress, self.task = progress_display, task

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
def progress_display(quiet, description):
    if quiet:
        yield
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    logger = logging.getLogger("gaussmix")
    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                  console=err, transient=True) as progress:
        task = progress.add_task(description, total=None)
        handler = ProgressHandler(progress, task)
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


def streaming(data: Path, stream: Optional[bool]):
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


def open_stream(data: Path, columns: Optional[List[str]], nan_policy="marginalize"):
    """A chunked source over DATA's chosen columns; ``nan_policy`` says what its NaN are."""
    import numpy as np
    from ..backends import NpySource, ParquetSource

    if not data.exists():
        raise FileNotFoundError(f"no data file at {data}")
    if data.suffix.lower() != ".npy":
        source = ParquetSource(data, columns=columns)
        source.nan_policy = nan_policy
        return source
    from ..io.tables import npy_column

    width = np.load(data, mmap_mode="r", allow_pickle=False).shape[-1]
    idx = None if not columns else [npy_column(c, width) for c in columns]
    source = NpySource(data, columns=idx)
    source.feature_names = np.asarray([str(i) for i in (range(width) if idx is None else idx)], dtype=object)
    source.nan_policy = nan_policy
    return source


def transformed(source, transform):
    """The source's rows as z-scores, when the model works on them."""
    if transform is None:
        return source
    from ..backends.base import MappedSource

    center, scale = transform["center"], transform["scale"]
    return MappedSource(source, lambda X: ((X - center) / scale).astype(X.dtype))


def standardize_stream(source, standardize):
    if not standardize:
        return None
    from ..backends.moments import column_moments

    return transform_of(*column_moments(source))


def transform_of(center, scale):
    import numpy as np
    if np.any(scale == 0) or not np.all(np.isfinite(scale)):
        raise ValueError("--standardize: a column is constant; drop it with --columns.")
    return {"center": center, "scale": scale}


def standardize_params(X, standardize):
    import numpy as np
    if not standardize:
        return None
    if np.isnan(X).any():  # each column's observed values
        return transform_of(np.nanmean(X, axis=0), np.nanstd(X, axis=0, ddof=1))
    return transform_of(X.mean(axis=0), X.std(axis=0, ddof=1))


NOISE_HELP = ("A uniform noise component for outliers: none, or knn (Byers & Raftery's "
              "nearest-neighbour rule for the rows first deemed noise). Noise rows get label -1.")
NOISE_DENSITY_HELP = ("The noise's density, in DATA's units; default mclust's 1 / hypervolume of "
                      "the rows.")


def noise_density_of(density, transform):
    """``--noise-density`` (in the data's units) in the units the model is fitted in.

    z-scores stretch each feature by 1 / scale, so a density per unit of
    the data is ``prod(scale)`` times larger per unit of z-scores.
    """
    import numpy as np

    if density is None or transform is None:
        return density
    return float(density * np.prod(transform["scale"]))


def noise_of(noise: str):
    """``noise_init`` from ``--noise``."""
    if noise not in ("none", "knn"):
        raise typer.BadParameter(f"--noise {noise!r}: choose none or knn")
    return None if noise == "none" else noise


NAN_POLICY_HELP = ("What an empty cell, NA or NaN is: marginalize (a missing value, fitted as "
                   "missing at random), omit (drop its row) or raise (an error).")


def nan_policy_of(policy: str):
    from ..validation import NAN_POLICIES

    if policy not in NAN_POLICIES:
        raise typer.BadParameter(f"--nan-policy {policy!r}: choose one of {', '.join(NAN_POLICIES)}")
    return policy




def plot_fit(gm, X, names, path):
    from .. import plotting

    if X.shape[1] == 1:
        fig = plotting.plot_density(gm, X, feature_names=names)
    elif X.shape[1] == 2:
        fig = plotting.plot_clusters(gm, X, feature_names=names)
    else:
        fig = plotting.plot_pairs(gm, X, feature_names=names)
    plotting.save_figure(fig, path)


def finite(v):
    import numpy as np
    return None if not np.isfinite(v) else float(v)


def load(model_path):
    from ..estimators import load_model  # mixtures: what the commands use

    return load_model(model_path)


def load_any(model_path):
    """A mixture or a classifier, whichever the file holds (for ``predict``)."""
    from ..loading import load as load_estimator

    return load_estimator(model_path)


def model_input(gm, data, columns, keep=()):
    """``(frame, Z, names)``: DATA's table as read, the model's input, and DATA's names for its columns."""
    from ..io import read_frame

    expected = [str(f) for f in getattr(gm, "feature_names_in_", [])]
    if not columns and expected:
        frame = read_frame(data)
        if frame is not None and set(expected) <= set(map(str, frame.columns)):
            columns = ",".join(expected)  # the model's columns, by name
    frame, X, names = read(data, columns, keep)
    if X.shape[1] != gm.n_features_in_:
        raise ValueError(
            f"{data} has {X.shape[1]} feature column(s) but the model was fitted on "
            f"{gm.n_features_in_} ({', '.join(expected)}); choose them with --columns."
        )
    return frame, standardized(X, getattr(gm, "input_transform_", None), expected or names), names


def write_rows(frame, output, what):
    """CSV on stdout, or a CSV/TSV/Parquet file written atomically."""
    from ..io import write_table

    if output is None:
        typer.echo(frame.to_csv(index=False), nl=False)
    else:
        write_table(frame, output)
        err.print(f"{len(frame)} {what} written to {output}")
