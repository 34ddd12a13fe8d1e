"""Input checks for arrays of another array-API library (under ``array_api_dispatch``).

The same checks and messages as ``validation`` for NumPy input, computed in
the array's own namespace and on its own device: only counts, a few row
indices (in an error) and the largest weight cross to the host, never a row-sized
array.
"""

from __future__ import annotations

from . import validation as val
from .namespaces import same_placement, to_host


def check_X(estimator, X, placement, *, reset, min_samples=1):
    """scikit-learn's validation of X in its namespace; float32 stays float32, else float64."""
    from sklearn.utils.validation import validate_data

    xp = placement.xp
    if xp.isdtype(X.dtype, "complex floating"):
        raise ValueError("X holds complex numbers; a Gaussian mixture needs real numbers.")
    if "mps" in str(placement.device):
        # The statistics accumulate in float64, which Apple's MPS does not have.
        raise ValueError("MPS devices have no float64, in which gaussmix accumulates its statistics; "
                         "fit on the CPU or a CUDA device.")
    try:
        return validate_data(estimator, X, reset=reset, dtype=[xp.float64, xp.float32],
                             ensure_all_finite=False, ensure_min_samples=min_samples)
    except TypeError as exc:
        raise TypeError(
            f"X must be an array of numbers of shape (n_samples, n_features); converting it "
            f"failed: {exc}."
        ) from None


def _shown_rows(mask_rows, xp, offset=0):
    rows = xp.nonzero(mask_rows)[0]
    rows = to_host(rows[:min(6, rows.shape[0])]) + offset  # the first few only cross
    return ", ".join(str(int(i)) for i in rows[:5]) + (", ..." if rows.size > 5 else "")


def check_finite(X, xp, allow_nan=False):
    """``validation.check_finite`` in X's namespace: refuse infinity, and NaN unless allowed.

    Returns whether X holds a NaN. One scalar is read back when X is finite.
    """
    finite = xp.isfinite(X)
    if bool(xp.all(finite)):
        return False
    nan = xp.isnan(X)
    if allow_nan:
        bad = ~(finite | nan)
        if not bool(xp.any(bad)):
            return True
        raise ValueError(
            f"X contains {int(xp.sum(xp.astype(bad, xp.int64)))} inf value(s), in rows "
            f"{_shown_rows(xp.any(bad, axis=1), xp)}. NaN marks a missing value, but infinity "
            f"is never one: replace it with NaN if it stands for missing, or drop those rows."
        )
    n_nan = int(xp.sum(xp.astype(nan, xp.int64)))
    n_inf = int(xp.sum(xp.astype(~finite, xp.int64))) - n_nan
    raise ValueError(
        f"X contains {n_nan} NaN and {n_inf} inf value(s), in rows "
        f"{_shown_rows(~xp.all(finite, axis=1), xp)}. Drop those rows or impute them before "
        f"fitting or predicting; a GaussianMixture with nan_policy='marginalize' (the default) "
        f"treats NaN as missing values in NumPy arrays."
    )


def check_sample_weight(sample_weight, n_samples, n_components, placement):
    """``validation.check_sample_weight`` on the device: float64 weights of X's namespace, or None."""
    if sample_weight is None:
        return None
    xp = placement.xp
    from .namespaces import is_array_api

    if not is_array_api(sample_weight):
        # Host weights (a list, a NumPy array) are checked there and moved once.
        return placement.asarray(val.check_sample_weight(sample_weight, n_samples, n_components), "float64")
    if not same_placement(sample_weight, placement):
        raise ValueError(
            f"sample_weight is not where X is: X is a {placement.name} array on device "
            f"{placement.device!r}; move the weights there too (or pass them as a NumPy array)."
        )
    w = sample_weight
    if xp.isdtype(w.dtype, "complex floating"):
        raise ValueError("sample_weight holds complex numbers; weights must be real (non-negative) numbers.")
    w = xp.astype(w, xp.float64)
    if w.ndim == 0:
        w = xp.full((n_samples,), w, dtype=xp.float64, device=placement.device)
    if tuple(w.shape) != (n_samples,):
        raise ValueError(
            f"sample_weight has shape {tuple(w.shape)} but X has {n_samples} rows; pass "
            f"one weight per row, as an array of shape ({n_samples},)."
        )
    if not bool(xp.all(xp.isfinite(w))):
        raise ValueError("sample_weight contains NaN or inf; every weight must be finite.")
    smallest = float(xp.min(w))
    if smallest < 0:
        raise ValueError(
            f"sample_weight must be non-negative, but its smallest value is {smallest:g}; "
            f"give rows you want to ignore a weight of 0."
        )
    n_positive = int(xp.count_nonzero(w))
    if n_positive == 0:
        raise ValueError("every sample_weight is zero; give at least one row a positive weight.")
    if n_positive < n_components:
        raise ValueError(
            f"only {n_positive} row(s) have a positive sample_weight, fewer than "
            f"n_components={n_components}; reduce n_components or give more rows weight."
        )
    return w


def scaled_weights(sample_weight, xp):
    """``validation.scaled_weights`` in the weights' namespace."""
    if sample_weight is None:
        return None
    return sample_weight * val.weight_scale(float(xp.max(sample_weight)))
