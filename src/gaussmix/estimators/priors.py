"""The priors of a Bayesian mixture: checked, or computed from the data as scikit-learn does."""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_array

from ..backends.moments import DataMoments
from ..namespaces import is_array_api, to_host


def check_priors(estimator, source):
    """Set the ``*_prior_`` attributes of ``estimator`` from its parameters and the data.

    The data's moments come from one chunked pass, weighted: scikit-learn's
    ``X.mean(axis=0)``, ``np.cov(X.T)`` and ``np.var(X, axis=0, ddof=1)``
    to rounding, and with weights those of the repeated rows.
    """
    d = source.n_features
    K = estimator.n_components
    estimator.weight_concentration_prior_ = (
        1.0 / K if estimator.weight_concentration_prior is None else estimator.weight_concentration_prior
    )
    estimator.mean_precision_prior_ = (
        1.0 if estimator.mean_precision_prior is None else estimator.mean_precision_prior
    )
    moments = DataMoments(source)
    if estimator.mean_prior is None:
        estimator.mean_prior_ = moments.mean()
    else:
        mean = check_array(to_host(estimator.mean_prior), dtype=[np.float64, np.float32], ensure_2d=False)
        if mean.shape != (d,):
            raise ValueError(
                f"The parameter 'means' should have the shape of ({d},), but got {mean.shape}: "
                f"mean_prior needs one value per feature."
            )
        estimator.mean_prior_ = mean
    dof = estimator.degrees_of_freedom_prior
    if dof is None:
        estimator.degrees_of_freedom_prior_ = d
    elif dof > d - 1.0:
        estimator.degrees_of_freedom_prior_ = dof
    else:
        raise ValueError(
            f"The parameter 'degrees_of_freedom_prior' should be greater than {d - 1}, but got "
            f"{dof:.3f}."
        )
    estimator.covariance_prior_ = _covariance_prior(estimator, moments, d)


def _covariance_prior(estimator, moments, d):
    kind, given = estimator.covariance_type, estimator.covariance_prior
    if is_array_api(given):  # a device array: its d x d values come to the host
        given = to_host(given)
    if given is None:
        if kind in ("full", "tied"):
            return np.atleast_2d(moments.covariance())
        variances = moments.variances()
        return variances if kind == "diag" else variances.mean()
    if kind in ("full", "tied"):
        cov = check_array(given, dtype=[np.float64, np.float32], ensure_2d=False)
        if cov.shape != (d, d):
            raise ValueError(
                f"The parameter '{kind} covariance_prior' should have the shape of ({d}, {d}), "
                f"but got {cov.shape}."
            )
        if not (np.allclose(cov, cov.T) and np.all(np.linalg.eigvalsh(cov) > 0.0)):
            raise ValueError(f"'{kind} precision' should be symmetric, positive-definite")
        return cov
    if kind == "diag":
        cov = check_array(given, dtype=[np.float64, np.float32], ensure_2d=False)
        if cov.shape != (d,):
            raise ValueError(
                f"The parameter 'diag covariance_prior' should have the shape of ({d},), but got "
                f"{cov.shape}."
            )
        if np.any(cov <= 0.0):
            raise ValueError("'diag precision' should be positive")
        return cov
    return given
