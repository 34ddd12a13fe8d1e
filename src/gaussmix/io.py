"""Model files and data files: safe, versioned, written atomically.

A model file is a NumPy ``.npz`` archive of plain float arrays plus one
JSON document (format name, format version, library version, covariance
model, feature names, hyper-parameters). It is read with
``allow_pickle=False``, so loading a file from a stranger cannot run code.
Every write goes to a temporary file in the same folder that is then
renamed over the target, so a crash mid-write never leaves half a file where
a good one was.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

FORMAT_NAME = "gaussmix-model"
FORMAT_VERSION = 1
_ARRAYS = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_")


class ModelFileError(ValueError):
    """A file is not a readable gaussmix model."""


def atomic_write(path, write):
    """Call ``write(file)`` on a temporary file, then rename it to ``path``."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(f"folder {folder} does not exist; create it first.")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp makes the file private; give it the mode a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _json_safe(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, (list, tuple, np.ndarray)):
        return np.asarray(value).tolist()
    return None  # e.g. a RandomState instance: not kept


def save_model(model, path, standardize=None):
    """Write a fitted :class:`GaussianMixture` to ``path`` (see module docs).

    ``standardize``, a dict with ``center`` and ``scale`` (one value per
    feature), records that the model was fitted on ``(X - center) / scale``;
    :func:`load_model` returns it as the model's ``input_transform_``.
    """
    from sklearn.utils.validation import check_is_fitted

    from . import __version__

    check_is_fitted(model)
    params = {k: _json_safe(v) for k, v in model.get_params().items()}
    meta = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "gaussmix_version": __version__,
        "params": params,
        "n_features_in": int(model.n_features_in_),
        "feature_names": [str(f) for f in getattr(model, "feature_names_in_", [])] or None,
        "converged": bool(model.converged_),
        "n_iter": int(model.n_iter_),
        "lower_bound": float(model.lower_bound_),
        "lower_bounds": [float(v) for v in model.lower_bounds_],
        "standardize": None
        if standardize is None
        else {k: [float(v) for v in np.ravel(standardize[k])] for k in ("center", "scale")},
    }
    arrays = {name: np.asarray(getattr(model, name), dtype=np.float64) for name in _ARRAYS}
    arrays["metadata"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)

    def write(fh):
        np.savez(fh, **arrays)

    atomic_write(path, write)


def load_model(path):
    """Read a model written by :func:`save_model`.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ModelFileError
        If the file is corrupt, truncated, of another format version, or not
        a gaussmix model at all.
    """
    from .mixture import GaussianMixture

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if "metadata" not in archive.files:
                raise ModelFileError(f"{path} is not a gaussmix model file (no metadata).")
            meta = json.loads(archive["metadata"].tobytes().decode("utf-8"))
            arrays = {name: np.array(archive[name]) for name in _ARRAYS}
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, KeyError, ValueError, UnicodeDecodeError) as exc:
        raise ModelFileError(
            f"{path} is not a readable gaussmix model file (corrupt, truncated or of "
            f"another kind: {exc.__class__.__name__})."
        ) from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{path} is not a gaussmix model file.")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{path} has model format version {meta.get('format_version')}; this gaussmix "
            f"reads version {FORMAT_VERSION}. Refit the model or use a matching gaussmix."
        )
    try:
        return _model_from(meta, arrays, GaussianMixture)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ModelFileError(
            f"{path} is a damaged gaussmix model file ({exc.__class__.__name__}: {exc})."
        ) from None


def _model_from(meta, arrays, cls):
    from .models import get_model
    from ._structures import STRUCTURES

    model = cls(**meta["params"])
    K, d = int(model.n_components), int(meta["n_features_in"])
    spec, sklearn_layout = get_model(model.covariance_type)
    cov_shape = STRUCTURES[spec.structure].shape(K, d) if sklearn_layout else (K, d, d)
    expected = {"weights_": (K,), "means_": (K, d), "covariances_": cov_shape,
                "precisions_": cov_shape, "precisions_cholesky_": cov_shape}
    for name, value in arrays.items():
        if value.shape != expected[name] or not np.all(np.isfinite(value)):
            raise ValueError(f"{name} has shape {value.shape}, expected {expected[name]}")
        setattr(model, name, value)
    model.n_features_in_ = d
    if meta.get("feature_names"):
        names = np.asarray(meta["feature_names"], dtype=object)
        if names.shape != (d,):
            raise ValueError("feature_names do not match the number of features")
        model.feature_names_in_ = names
    model.converged_ = bool(meta["converged"])
    model.n_iter_ = int(meta["n_iter"])
    model.lower_bound_ = float(meta["lower_bound"])
    model.lower_bounds_ = [float(v) for v in meta["lower_bounds"]]
    if meta.get("standardize"):
        # Informational: the model expects (X - center) / scale. The CLI
        # applies it; in Python, transform X before predict.
        model.input_transform_ = {k: np.asarray(v, dtype=float) for k, v in meta["standardize"].items()}
    return model


# ----------------------------------------------------------------- data files
DATA_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".pq", ".npy")


def read_table(path, columns=None, keep=()):
    """Read a data file for fitting or prediction.

    CSV and TSV (with a header) are read by pandas, Parquet by pyarrow (only
    the chosen columns are read), ``.npy`` by NumPy (memory-mapped).

    Parameters
    ----------
    path : str or Path
    columns : list of str, optional
        The columns to use (names; for ``.npy``, 0-based indices as strings).
    keep : sequence of str, optional
        Further columns to read into ``frame`` only (an id column, say).

    Returns
    -------
    frame : pandas.DataFrame or None
        The whole table as read (None for ``.npy``), to pick id columns from.
    X : ndarray of shape (n_samples, n_features)
    feature_names : list of str
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no data file at {path}")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            X = np.load(path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise ValueError(f"{path} is not a readable .npy array: {exc}") from None
        if X.ndim != 2:
            raise ValueError(f"{path} holds a {X.ndim}-D array; a 2-D (rows x features) one is needed.")
        names = [str(i) for i in range(X.shape[1])]
        if columns:
            idx = [_npy_column(c, X.shape[1]) for c in columns]
            X, names = X[:, idx], [names[i] for i in idx]
        return None, np.asarray(X), names
    wanted = None if not columns else list(dict.fromkeys([*columns, *keep]))
    frame = _read_frame(path, suffix, wanted)  # Parquet reads only these columns
    if columns:
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ValueError(
                f"column(s) {missing} not in {path}; it has {list(map(str, frame.columns))}."
            )
        data = frame[columns]
    else:
        data = frame
    from ._validation import check_dataframe_columns

    check_dataframe_columns(data)
    return frame, data.to_numpy(dtype=np.float64), [str(c) for c in data.columns]


def read_frame(path):
    """The whole table of a CSV, TSV or Parquet file as read (None for .npy)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no data file at {path}")
    suffix = path.suffix.lower()
    return None if suffix == ".npy" else _read_frame(path, suffix, None)


def _npy_column(c, n):
    try:
        i = int(c)
    except ValueError:
        raise ValueError(f"columns of a .npy file are indices 0..{n - 1}, got {c!r}.") from None
    if not 0 <= i < n:
        raise ValueError(f"column index {i} is out of range 0..{n - 1}.")
    return i


def _read_frame(path, suffix, columns):
    import pandas as pd

    if suffix not in DATA_SUFFIXES:
        raise ValueError(
            f"{path}: unknown file type {suffix!r}; use one of {', '.join(DATA_SUFFIXES)}."
        )
    if suffix in (".parquet", ".pq"):
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise ValueError(
                "reading Parquet needs pyarrow: pip install 'gaussmix[parquet]'."
            ) from None
        try:
            schema = pq.read_schema(path)
            wanted = None if columns is None else [c for c in columns if c in schema.names]
            return pq.read_table(path, columns=wanted).to_pandas()
        except Exception as exc:  # pyarrow raises several types for a bad file
            raise ValueError(f"{path} is not a readable Parquet file: {exc}") from None
    sep = "\t" if suffix == ".tsv" else ","
    try:
        frame = pd.read_csv(path, sep=sep)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path} is empty.") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise ValueError(f"{path} is not a well-formed table: {first}") from None
    if frame.shape[1] == 1 and sep == "," and "\t" in str(frame.columns[0]):
        frame = pd.read_csv(path, sep="\t")
    return frame


def write_table(frame, path):
    """Write a DataFrame as CSV, TSV or Parquet (by extension), atomically."""
    write_table_chunks([frame], path)


def write_table_chunks(frames, path):
    """Write an iterator of DataFrames as one CSV, TSV or Parquet file, atomically.

    Only one frame is in memory at a time; the file appears under its name
    only once every frame is written, so a failure midway leaves no partial
    output (and keeps any older file of that name).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        def write(fh):
            writer = None
            for frame in frames:
                table = pa.Table.from_pandas(frame, preserve_index=False)
                if writer is None:
                    writer = pq.ParquetWriter(fh, table.schema)
                writer.write_table(table)
            if writer is not None:
                writer.close()
    elif suffix in (".csv", ".tsv", ".txt"):
        sep = "\t" if suffix == ".tsv" else ","

        def write(fh):
            for i, frame in enumerate(frames):
                fh.write(frame.to_csv(index=False, header=i == 0, sep=sep).encode("utf-8"))
    else:
        raise ValueError(f"cannot write {path}: use a .csv, .tsv or .parquet file name.")
    atomic_write(path, write)


__all__ = [
    "save_model", "load_model", "read_table", "read_frame", "write_table", "write_table_chunks",
    "ModelFileError", "atomic_write",
]
