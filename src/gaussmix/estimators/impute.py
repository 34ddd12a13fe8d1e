"""Filling missing values with a fitted mixture: ``impute``."""

from __future__ import annotations

from sklearn.utils.validation import check_is_fitted

from ..engine.scoring import ROW_RESULTS
from ..engine.threads import single_threaded_blas
from ..namespaces import placement_of
from . import data


class ImputeMixin:
    """Missing values for an estimator with ``nan_policy``: scikit-learn's tag and ``impute``."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self.nan_policy != "raise"
        return tags

    def impute(self, X):
        r"""X with every missing value (NaN) replaced by its conditional expectation.

        For a row with observed coordinates ``o`` and missing ``m``,

        .. math::

            E[x_m \mid x_o] = \sum_k r_k(x_o)\,
              \big(\mu_{k,m} + \Sigma_{k,mo}\Sigma_{k,oo}^{-1}(x_o - \mu_{k,o})\big),

        with ``r_k(x_o)`` the responsibilities from the observed values:
        mclust's ``imputeData``, done with the fitted mixture itself. A row
        with nothing observed gets ``sum_k pi_k mu_k``. Observed values are
        returned unchanged, whatever ``nan_policy`` is.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or streamed data
            A Dask collection gives a lazy Dask array.

        Returns
        -------
        X_imputed : ndarray of shape (n_samples, n_features)

        Examples
        --------
        >>> import numpy as np
        >>> from gaussmix import GaussianMixture
        >>> rng = np.random.default_rng(0)
        >>> X = rng.multivariate_normal([0, 0], [[1, 0.9], [0.9, 1]], size=500)
        >>> gm = GaussianMixture(1).fit(X)
        >>> filled = gm.impute([[2.0, np.nan]])  # about 0.9 * 2: the regression on x_0
        >>> bool(1.6 < filled[0, 1] < 2.0)
        True
        """
        check_is_fitted(self)
        if placement_of(X) is not None:
            raise ValueError(
                "impute runs on NumPy arrays only: missing values are marginalised on the host. "
                "Pass X as a NumPy array (for a torch tensor, X.cpu().numpy())."
            )
        result = ROW_RESULTS["imputed"]
        source = data.scoring_source(self, X, per_row=True, policy="marginalize")
        with single_threaded_blas():
            return source.map_rows(self._estep_inputs(), result, source.n_features, result.dtype(source.dtype))
