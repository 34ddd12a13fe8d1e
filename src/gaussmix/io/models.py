"""Model files: safe, versioned, written atomically.

A model file is a NumPy ``.npz`` archive of plain float arrays plus one
JSON document (format name, format version, library version, covariance
model, feature names, hyper-parameters). It is read with
``allow_pickle=False``, so loading a file from a stranger cannot run code,
and written with ``io.atomic.atomic_write``.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from .._version import __version__
from .atomic import atomic_write

FORMAT_NAME = "gaussmix-model"
FORMAT_VERSION = 1
#: The fitted arrays a model file holds.
ARRAYS = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_")


class ModelFileError(ValueError):
    """A file is not a readable gaussmix model."""


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
    arrays = {name: np.asarray(getattr(model, name), dtype=np.float64) for name in ARRAYS}
    arrays["metadata"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)

    def write(fh):
        np.savez(fh, **arrays)

    atomic_write(path, write)


def read_model(path):
    """Read the metadata and arrays of a model file written by :func:`save_model`.

    Returns ``(meta, arrays)``: the JSON metadata as a dict, and the fitted
    arrays by attribute name. Building the estimator from them is
    ``estimators.persistence.load_model``'s job.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ModelFileError
        If the file is corrupt, truncated, of another format version, or not
        a gaussmix model at all.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if "metadata" not in archive.files:
                raise ModelFileError(f"{path} is not a gaussmix model file (no metadata).")
            meta = json.loads(archive["metadata"].tobytes().decode("utf-8"))
            arrays = {name: np.array(archive[name]) for name in ARRAYS}
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
    return meta, arrays
