"""The fitted attributes of a mixture of Gaussians, and the float64 parameters behind them.

scikit-learn's names (``full``, ``tied``, ``diag``, ``spherical``) keep
scikit-learn's shapes; mclust's codes publish (K, d, d) matrices. The
attributes are in the data's dtype, as scikit-learn's are; the float64
parameters the fit produced are kept beside them.
"""

from __future__ import annotations

import numpy as np

from ..models import get_model
from ..namespaces import to_host
from ..structures import STRUCTURES
from ..updaters import MixtureParams

#: The fitted arrays, in the order ``_set_state`` publishes them.
FITTED_ARRAYS = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_")


class FittedGaussiansMixin:
    """``_state``, ``_set_state`` and ``_state_from_arrays`` for an estimator
    with ``covariance_type`` and ``n_components``, whose state is
    ``updaters.MixtureParams``."""

    def n_parameters(self):
        """Free parameters of the fitted model, as mclust counts them.

        Covariance parameters, ``K d`` means and ``K - 1`` mixing weights.
        """
        model, _ = get_model(self.covariance_type)
        return model.n_parameters(self.n_components, self.means_.shape[1])

    def _public_arrays(self, params):
        """The fitted attributes of ``params`` in float64: scikit-learn's layout or (K, d, d)."""
        model, sklearn_layout = get_model(self.covariance_type)
        struct = STRUCTURES[model.structure]
        K, d = params.means.shape
        precisions = struct.precision_from_prec_chol(params.precisions_cholesky)

        def public(arr):
            return np.asarray(arr) if sklearn_layout else struct.to_full(arr, K, d)

        return {
            "weights_": np.asarray(params.weights),
            "means_": np.asarray(params.means),
            "covariances_": public(params.covariances),
            "precisions_": public(precisions),
            "precisions_cholesky_": public(params.precisions_cholesky),
        }

    def _set_state(self, params, dtype=np.float64):
        """Publish ``params`` (``updaters.MixtureParams``, float64) as the fitted
        attributes, in the data's ``dtype`` as scikit-learn does.

        The float64 parameters are kept beside them, so that scoring,
        ``partial_fit``, ``warm_start`` and ``save`` lose nothing to a float32
        rounding, for as long as the attributes are the ones published here.
        """
        exact = self._public_arrays(params)
        arrays = {name: value.astype(dtype, copy=False) for name, value in exact.items()}
        # Finite float64 parameters beyond float32's range would be published
        # as inf (float64 ones are published as they are: nothing to test).
        for name, value in arrays.items() if np.dtype(dtype) != np.float64 else ():
            if not np.all(np.isfinite(value)) and np.all(np.isfinite(exact[name])):
                raise ValueError(
                    f"the fitted {name} do not fit in {np.dtype(dtype).name}: they reach "
                    f"{np.max(np.abs(exact[name])):.3g} (a degenerate component whose model "
                    f"stretched its covariance along a collapsed direction, or data near the "
                    f"dtype's limits); fit float64 data, increase reg_covar or use fewer n_components.")
        for name, value in arrays.items():
            setattr(self, name, value)
        self._fitted = (params, tuple(arrays.values()))

    def _place(self, placement):
        """Move the fitted arrays to ``placement``'s namespace and device (None: keep NumPy).

        scikit-learn's array-API convention: a model fitted on a torch tensor
        has torch attributes on its device. The float64 host parameters the
        engine works from stay beside them (``_state``): the update runs on
        the host (``updaters``), so only K x d x d arrays ever cross.
        """
        if placement is None:
            return
        def numeric(value):
            return isinstance(value, np.ndarray) and value.dtype.kind in "fiu"

        for name, value in list(vars(self).items()):
            if not name.endswith("_") or name.startswith("_"):
                continue
            if numeric(value):
                setattr(self, name, placement.asarray(value))
            elif isinstance(value, tuple) and value and all(numeric(v) for v in value):
                # The Dirichlet process's weight_concentration_ is a pair of arrays.
                setattr(self, name, tuple(placement.asarray(v) for v in value))
        fitted = getattr(self, "_fitted", None)
        if fitted is not None:
            self._fitted = (fitted[0], tuple(getattr(self, name) for name in FITTED_ARRAYS))

    def _point_estimates(self):
        """The fitted weights, means and covariances (``updaters.MixtureParams``)."""
        return self._state()

    def _state(self):
        """The fitted parameters in the model's own layout, float64.

        The parameters ``_set_state`` kept, unless an attribute was replaced
        since (then they are read from the public attributes).
        """
        fitted = getattr(self, "_fitted", None)
        if fitted is not None and all(
            getattr(self, name, None) is value for name, value in zip(FITTED_ARRAYS, fitted[1])
        ):
            return fitted[0]
        model, sklearn_layout = get_model(self.covariance_type)
        struct = STRUCTURES[model.structure]

        def internal(arr):
            arr = to_host(arr, np.float64)
            return arr if sklearn_layout else struct.from_full(arr)

        return MixtureParams(
            to_host(self.weights_, np.float64),
            to_host(self.means_, np.float64),
            internal(self.covariances_),
            internal(self.precisions_cholesky_),
            model.structure,
        )

    def _state_from_arrays(self, arrays, n_features):
        """Parameters from float64 arrays in the attributes' layout, for ``load``.

        Every invariant a density needs is checked, with one ``ValueError``
        per violation: shapes, finite values, weights on the simplex,
        symmetric positive-definite covariances, and precisions that are
        their inverses.
        """
        model, sklearn_layout = get_model(self.covariance_type)
        struct = STRUCTURES[model.structure]
        K, d = self.n_components, n_features
        if model.univariate and d != 1:
            raise ValueError(f"model {model.code} is one-dimensional but the file says {d} features")
        cov_shape = struct.shape(K, d) if sklearn_layout else (K, d, d)
        for name in FITTED_ARRAYS:
            shape = {"weights_": (K,), "means_": (K, d)}.get(name, cov_shape)
            if arrays[name].shape != shape:
                raise ValueError(f"{name} has shape {arrays[name].shape}, expected {shape}")
            if not np.all(np.isfinite(arrays[name])):
                raise ValueError(f"{name} holds NaN or infinity")
        weights = arrays["weights_"]
        noise = self._noise_weight_in(arrays)
        if np.any(weights < 0) or abs(weights.sum() + noise - 1.0) > 1e-6:
            raise ValueError("weights_ are not mixing weights (non-negative, summing to 1"
                             + (" with the noise's)" if noise else ")"))
        cov = arrays["covariances_"] if sklearn_layout else struct.from_full(arrays["covariances_"])
        if struct.matrix and not np.allclose(cov, np.swapaxes(cov, -1, -2), rtol=1e-8,
                                             atol=1e-12 * np.abs(cov).max()):
            raise ValueError("covariances_ are not symmetric")
        state = MixtureParams(weights, arrays["means_"], cov, struct.prec_chol_from_cov(cov), model.structure,
                              noise_weight=noise)
        derived = self._public_arrays(state)
        for name in ("precisions_", "precisions_cholesky_"):
            scale = np.abs(derived[name]).max()
            if not np.allclose(arrays[name], derived[name], rtol=1e-6, atol=1e-9 * scale):
                raise ValueError(f"{name} is not what covariances_ give")
        return state

    def _noise_weight_in(self, arrays):
        """The noise weight a file holds: 0 without a noise component; checked against ``noise_init``."""
        held = arrays.get("noise_weight")
        if (held is not None) != bool(getattr(self, "has_noise", False)):
            raise ValueError("its noise weight and its noise_init disagree on whether there is noise")
        if held is None:
            return 0.0
        if held.shape != (1,) or not 0.0 <= float(held[0]) < 1.0:
            raise ValueError(f"noise_weight is {held!r}, not one number in [0, 1)")
        return float(held[0])
