"""The commands that use a fitted model: ``predict``, ``sample``, ``plot`` and ``info``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import (columns_of, emit_json, err, load, load_any, log_jacobian, model_input, open_stream, out,
                     plot_fit, print_components, refuse_overwriting, skip_compiling_for_passes, streaming,
                     transformed, write_rows)


def predict(
    model: Path = typer.Argument(..., help="A model file from 'gaussmix fit' or 'select'."),
    data: Path = typer.Argument(..., help="CSV, TSV, Parquet or .npy file."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="CSV, TSV or Parquet file; CSV on stdout if omitted."),
    id_column: Optional[str] = typer.Option(None, "--id", help="Copy this column of DATA into the output."),
    columns: Optional[str] = typer.Option(None, "--columns"),
    stream: Optional[bool] = typer.Option(None, "--stream/--no-stream", help="Read DATA and write the output chunk by chunk (.npy, Parquet); default: when over 256 MiB."),
):
    """Write each row's label, component probabilities and log-density (a classifier: class probabilities)."""
    refuse_overwriting({"model": model, "data": data}, [output])
    streamed = streaming(data, stream)
    if not streamed:
        skip_compiling_for_passes(model, data)
    gm = load_any(model)
    if streamed:
        predict_stream(gm, data, output, id_column, columns)
        return
    frame, X, _ = model_input(gm, data, columns, keep=[id_column])
    result = prediction_frame(gm, X)
    if id_column is not None:
        if frame is None or id_column not in frame.columns:
            raise ValueError(f"--id {id_column!r}: no such column in {data}.")
        result.insert(0, id_column, frame[id_column].to_numpy())
    write_rows(result, output, "predictions")


def prediction_frame(gm, X):
    import numpy as np
    import pandas as pd
    if hasattr(gm, "classes_"):  # a classifier: the class and each class's posterior
        proba = gm.predict_proba(X)
        result = pd.DataFrame({f"prob_{c}": proba[:, i] for i, c in enumerate(gm.classes_)})
        result.insert(0, "label", gm.classes_[proba.argmax(axis=1)])
        return result
    proba, log_density = gm.predict_proba_and_score_samples(X)  # one E-step for both
    K = gm.n_components
    result = pd.DataFrame({f"prob_{k}" if k < K else "prob_noise": proba[:, k] for k in range(proba.shape[1])})
    labels = proba.argmax(axis=1)
    result.insert(0, "label", np.where(labels == K, -1, labels))  # -1: noise, as predict says
    # in DATA's units, also for a model fitted on z-scores
    result["log_density"] = log_density + log_jacobian(getattr(gm, "input_transform_", None))
    return result


def predict_stream(gm, data, output, id_column, columns):
    """Predict chunk by chunk; the output file appears whole, or not at all."""
    expected = [str(f) for f in getattr(gm, "feature_names_in_", [])]
    cols = columns_of(columns) or (expected if data.suffix.lower() != ".npy" else None)
    raw = open_stream(data, cols)
    if raw.n_features != gm.n_features_in_:
        raise ValueError(
            f"{data} has {raw.n_features} feature column(s) but the model was fitted on "
            f"{gm.n_features_in_} ({', '.join(expected)}); choose them with --columns."
        )
    if id_column is not None and data.suffix.lower() == ".npy":
        raise ValueError("--id: a .npy file has no named columns; use Parquet or CSV.")
    ids = None if id_column is None else raw.iter_column(id_column)
    source = transformed(raw, getattr(gm, "input_transform_", None))
    names = expected or [str(n) for n in source.feature_names]
    count = [0]

    def frames():
        import pandas as pd
        for X, _ in source.iter_chunks():
            result = prediction_frame(gm, pd.DataFrame(X, columns=names))
            if ids is not None:
                result.insert(0, id_column, next(ids))
            count[0] += len(result)
            yield result

    if output is None:
        for i, result in enumerate(frames()):
            typer.echo(result.to_csv(index=False, header=i == 0), nl=False)
        return
    from ..io import write_table_chunks

    write_table_chunks(frames(), output)
    err.print(f"{count[0]} predictions written to {output}")


def impute(
    model: Path = typer.Argument(..., help="A model file from 'gaussmix fit' or 'select'."),
    data: Path = typer.Argument(..., help="CSV, TSV, Parquet or .npy file with empty cells, NA or NaN."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="CSV, TSV or Parquet file; CSV on stdout if omitted."),
    columns: Optional[str] = typer.Option(None, "--columns"),
):
    """Write DATA with each missing value replaced by its expectation under the model.

    E[x_missing | x_observed]: each component's conditional mean, averaged
    with the row's probabilities. Observed values and other columns are
    written as read.
    """
    import numpy as np
    import pandas as pd
    refuse_overwriting({"model": model, "data": data}, [output])
    from ..io import read_frame
    from ..io.tables import npy_column

    skip_compiling_for_passes(model, data, n_passes=2)  # the probabilities, then the conditional means
    gm = load(model)
    _, Z, names = model_input(gm, data, columns)
    holes = Z.isna().to_numpy()
    filled = gm.impute(Z)
    transform = getattr(gm, "input_transform_", None)
    if transform is not None:  # back to DATA's units
        filled = filled * transform["scale"] + transform["center"]
    table = read_frame(data)  # every column, not only the model's
    if table is None:  # .npy: the columns by position
        array = np.array(np.load(data, mmap_mode="r", allow_pickle=False), dtype=np.float64)
        table = pd.DataFrame(array, columns=[str(j) for j in range(array.shape[1])])
        names = [str(npy_column(name, array.shape[1])) for name in names]
    for j, name in enumerate(names):
        column = table[name].to_numpy(dtype=np.float64, na_value=np.nan)
        table[name] = np.where(holes[:, j], filled[:, j], column)
    write_rows(table, output, f"rows ({int(holes.sum())} missing values imputed)")


def sample(
    model: Path = typer.Argument(...),
    n: int = typer.Option(100, "-n", "--n-samples", min=1, help="How many points."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="CSV, TSV or Parquet; CSV on stdout if omitted."),
    seed: Optional[int] = typer.Option(None, "--seed"),
):
    """Draw N points from a fitted mixture (in the data's original units)."""
    import pandas as pd

    refuse_overwriting({"model": model}, [output])
    skip_compiling_for_passes(model)
    gm = load(model)
    if seed is not None:
        gm.random_state = seed
    X, y = gm.sample(n)
    transform = getattr(gm, "input_transform_", None)
    if transform is not None:
        X = X * transform["scale"] + transform["center"]
    names = [str(f) for f in getattr(gm, "feature_names_in_", [f"x{j}" for j in range(X.shape[1])])]
    frame = pd.DataFrame(X, columns=names)
    frame["component"] = y
    write_rows(frame, output, "samples")


def plot(
    model: Path = typer.Argument(...),
    data: Path = typer.Argument(...),
    output: Path = typer.Option(Path("gaussmix-plots"), "--output", "-o", help="Folder for the PNGs."),
    columns: Optional[str] = typer.Option(None, "--columns"),
):
    """Draw the model over DATA: clusters, uncertainty, EM trace."""
    from .. import plotting

    figures = [output / name for name in ("clusters.png", "uncertainty.png", "loglik.png")]
    refuse_overwriting({"model": model, "data": data}, figures)
    skip_compiling_for_passes(model, data, n_passes=3)  # the labels, the uncertainty and the density
    gm = load(model)
    _, X, _ = model_input(gm, data, columns)
    names = [str(f) for f in getattr(gm, "feature_names_in_", [])] or None
    output.mkdir(parents=True, exist_ok=True)
    written = []
    path = output / "clusters.png"
    plot_fit(gm, X, names or [f"x{j}" for j in range(X.shape[1])], path)
    written.append(path)
    if X.shape[1] >= 2:
        written.append(plotting.save_figure(plotting.plot_uncertainty(gm, X, feature_names=names), output / "uncertainty.png"))
    if gm.lower_bounds_:
        written.append(plotting.save_figure(plotting.plot_loglik(gm), output / "loglik.png"))
    for p in written:
        out.print(f"wrote [cyan]{p}[/cyan]")


def info(
    model: Path = typer.Argument(...),
    as_json: bool = typer.Option(False, "--json"),
):
    """Print a model's parameters."""
    import numpy as np
    from ..models import get_model

    skip_compiling_for_passes(model)
    gm = load(model)
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
        "n_parameters": int(gm.n_parameters()),
        "weights": gm.weights_.tolist(),
        "means": gm.means_.tolist(),
        "covariances": np.asarray(gm.covariances_).tolist(),
    }
    if as_json:
        emit_json(data)
        return
    out.print(f"[bold]{gm.covariance_type}[/bold] ({code.description}), {gm.n_components} components, "
              f"{len(names)} features, {data['n_parameters']} parameters"
              f"{', fitted on standardized data' if transform is not None else ''}")
    print_components(gm, names)
