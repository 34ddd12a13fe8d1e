"""Input checks for arrays of another array-API library (under ``array_api_dispatch``).

What differs from NumPy input: scikit-learn's validation with the
namespace's dtypes, refusals (complex numbers, MPS), and weights that must
live with X. The finiteness and weight checks themselves are
``validation``'s, which run in any namespace: only counts, a few row indices
(in an error) and the smallest weight cross to the host, never a row-sized array.
"""

from __future__ import annotations

from . import validation as val
from .namespaces import same_placement


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
    if xp.isdtype(sample_weight.dtype, "complex floating"):
        raise ValueError("sample_weight holds complex numbers; weights must be real (non-negative) numbers.")
    w = xp.astype(sample_weight, xp.float64)
    if w.ndim == 0:
        w = xp.full((n_samples,), w, dtype=xp.float64, device=placement.device)
    return val.check_weights_in(w, n_samples, n_components, xp)


def scaled_weights(sample_weight, xp):
    """``validation.scaled_weights`` in the weights' namespace."""
    if sample_weight is None:
        return None
    return sample_weight * val.weight_scale(float(xp.max(sample_weight)))
