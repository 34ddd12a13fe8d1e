"""Loading a model file (``io.models``) back into a fitted estimator."""

from __future__ import annotations

import numpy as np

from ..io.models import ModelFileError, read_model
from ..models import get_model
from ..structures import STRUCTURES
from .gaussian import GaussianMixture


def load_model(path):
    """Read a model written by ``save`` (``io.models.save_model``) as a fitted estimator.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ModelFileError
        If the file is corrupt, truncated, of another format version, or not
        a gaussmix model at all.
    """
    meta, arrays = read_model(path)
    try:
        return _model_from(meta, arrays, GaussianMixture)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ModelFileError(
            f"{path} is a damaged gaussmix model file ({exc.__class__.__name__}: {exc})."
        ) from None


def _model_from(meta, arrays, cls):
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
