"""Checks of the starting parameters a user gives: weights, means, precisions, responsibilities.

Each check says what is wrong in scikit-learn's words first (its tests match
them), then what to do.
"""

from __future__ import annotations

import numpy as np
from array_api_compat import array_namespace

from . import compiled
from . import validation as val
from .exceptions import DegenerateCovarianceError
from .models import eigen
from .namespaces import host_dtype, is_array_api, to_host
from .structures import STRUCTURES


def check_weights_init(weights, n_components):
    """``weights_init``: K mixing weights in [0, 1] summing to 1 (scikit-learn's wording first)."""
    w = val.finite_array(weights, "weights_init")
    if w.shape != (n_components,):
        raise ValueError(
            f"The parameter 'weights' should have the shape of ({n_components},), but got "
            f"{w.shape}: weights_init needs one mixing weight per component."
        )
    if w.size and (w.min() < 0 or w.max() > 1):
        # scikit-learn's message puts the minimum after "max value"; its
        # wording is kept, then the values are named plainly.
        raise ValueError(
            f"The parameter 'weights' should be in the range [0, 1], but got max value "
            f"{w.min():.5f}, min value {w.max():.5f} (the weights run from {w.min():g} to "
            f"{w.max():g}); give each component a weight between 0 and 1."
        )
    # scikit-learn's tolerance: 1e-8 for float64 weights, 1e-6 for float32.
    atol = 1e-6 if host_dtype(getattr(weights, "dtype", np.float64)) == np.float32 else 1e-8
    if not abs(1.0 - w.sum()) <= atol:
        raise ValueError(
            f"The parameter 'weights' should be normalized, but got sum(weights) = "
            f"{w.sum():.5f}; divide weights_init by its sum."
        )
    return w


def check_means_init(means, n_components, n_features):
    """``means_init``: one mean per component (scikit-learn's wording first)."""
    m = val.finite_array(means, "means_init")
    if m.shape != (n_components, n_features):
        raise ValueError(
            f"The parameter 'means' should have the shape of ({n_components}, {n_features}), "
            f"but got {m.shape}: means_init needs one mean per component, one value per feature."
        )
    return m


def check_resp_init(resp, n_samples, n_components):
    """Validate starting responsibilities: (n_samples, K), rows on the simplex.

    An array of another array-API library is checked in its namespace, on
    its device (it has one row per row of X: it never crosses to the host).
    """
    if is_array_api(resp):
        xp = array_namespace(resp)
        r = xp.astype(resp, xp.float64)
        if not bool(xp.all(xp.isfinite(r))):
            raise ValueError("resp_init contains NaN or inf.")
    else:
        r = val.finite_array(resp, "resp_init")
        # NumPy itself, not array_api_compat's wrapper of it (microseconds a
        # call): select checks a start every cell.
        xp = np
    if tuple(r.shape) != (n_samples, n_components):
        raise ValueError(
            f"resp_init has shape {tuple(r.shape)}, expected ({n_samples}, {n_components}): "
            f"one row per sample of X, one column per component."
        )
    # Reductions to one value each (of a non-empty array); the whole-array
    # tests only say what is wrong (with NumPy itself: 31 us a check on 145
    # rows, from 36).
    if r.shape[0] and r.shape[1] and bool(xp.min(r) < 0):
        raise ValueError("resp_init must be non-negative: responsibilities are probabilities.")
    sums = xp.sum(r, axis=1)
    # Rounded responsibilities (as printed by R, say) are accepted and
    # renormalised; anything further from the simplex is a mistake.
    off = xp.abs(sums - 1.0)
    if r.shape[0] and bool(xp.max(off) > 1e-3):
        worst = int(xp.argmax(off))
        raise ValueError(
            f"each row of resp_init must sum to 1, but row {worst} sums to "
            f"{float(sums[worst]):.6g}; divide each row by its sum."
        )
    r = r / sums[:, None]
    column_sums = xp.sum(r, axis=0)
    if r.shape[1] and bool(xp.min(column_sums) <= 0):
        empty = to_host(xp.nonzero(column_sums <= 0)[0])  # K values at most
        raise ValueError(
            f"resp_init gives component(s) {empty.tolist()} no responsibility at all; "
            f"every column needs some weight, or reduce n_components."
        )
    return r


#: Jacobi's least eigenvalue lies within a few ulps of the largest of
#: LAPACK's (``models.eigen``); above this share of the largest, both say
#: the matrix is positive definite.
_CLEARLY_POSITIVE = 1e-12


def _nearly_symmetric(stack):
    """np.allclose's test (rtol=1e-5, atol=1e-8) of each finite matrix against its transpose."""
    if compiled.AVAILABLE:  # one call: the NumPy formula's six took 10-20 us of a 0.4 ms fit
        return eigen.nearly_symmetric(stack, 1e-5, 1e-8)
    transposed = np.swapaxes(stack, -1, -2)
    return bool(np.all(np.abs(stack - transposed) <= 1e-8 + 1e-5 * np.abs(transposed)))


def _least_eigenvalue(stack):
    """The least eigenvalue of a stack of finite symmetric matrices, with ``eigvalsh``'s verdict on its sign.

    Jacobi's (compiled, up to five features) where it is clearly positive;
    LAPACK's otherwise, so that a matrix near the edge is judged, and
    named in the error, as scikit-learn judges it.
    """
    low, high = eigen.extreme_eigenvalues(stack)
    if (low > _CLEARLY_POSITIVE * high).all():
        return low.min()
    return np.linalg.eigvalsh(stack).min()


def check_precisions_init(precisions, model, sklearn_layout, n_components, n_features):
    """Validate ``precisions_init`` and return the covariances in the model's layout.

    scikit-learn's names take scikit-learn's shapes, and its messages lead;
    mclust codes also take an (n_components, n_features, n_features) array,
    which must obey the model's structure.
    """
    struct = STRUCTURES[model.structure]
    name = model.sklearn_name if sklearn_layout else model.code
    p = val.finite_array(precisions, "precisions_init")
    expected = struct.shape(n_components, n_features)
    full = (n_components, n_features, n_features)
    if p.shape != expected:
        if not sklearn_layout and p.shape == full:
            p = struct.from_full(p)
        else:
            shapes = f"{expected}" if sklearn_layout else f"{expected} or {full}"
            raise ValueError(
                f"The parameter '{name} precision' should have the shape of {shapes}, but got "
                f"{p.shape}: precisions_init must match covariance_type={name!r}."
            )
    if struct.matrix:
        stack = np.ascontiguousarray(p.reshape(-1, n_features, n_features))
        symmetric = _nearly_symmetric(stack)
        eig_min = _least_eigenvalue(stack) if symmetric else np.nan
        if not symmetric or not eig_min > 0:
            detail = "it is not symmetric" if not symmetric else f"its smallest eigenvalue is {eig_min:.3g}"
            raise ValueError(
                f"'{name} precision' should be symmetric, positive-definite, but {detail}: "
                f"precisions_init holds inverse covariance matrices."
            )
    elif p.size and p.min() <= 0:
        raise ValueError(
            f"'{name} precision' should be positive, but its smallest value is {p.min():g}: "
            f"precisions_init holds inverse variances."
        )
    try:
        return struct.cov_from_precision(p)
    except (np.linalg.LinAlgError, DegenerateCovarianceError) as exc:
        raise ValueError(f"precisions_init cannot be inverted: {exc}") from None
