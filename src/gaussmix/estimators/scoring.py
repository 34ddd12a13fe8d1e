"""What a fitted mixture estimator computes from data: predictions, scores, criteria, draws.

:class:`ScoringMixin` gives ``predict``, ``predict_proba``,
``score_samples``, ``score``, ``bic``, ``aic``, ``icl``, ``criteria`` and
``sample`` to an estimator that has ``_state()``, ``_point_estimates()``,
``_make_updater()`` and
``n_parameters()`` (``estimators.base``). Every method takes what ``fit``
takes (arrays, files, iterables, Dask collections) and works chunk by chunk
(``engine.scoring``); a Dask collection gives lazy Dask arrays.
"""

from __future__ import annotations

import numpy as np
from array_api_compat import array_namespace
from sklearn.utils.validation import check_is_fitted

from .. import validation as val
from ..backends import is_streamed
from ..criteria import Criteria
from ..namespaces import placement_of, placement_of_array
from ..randomness import check_random_state
from ..engine.scoring import ROW_RESULTS, NonFiniteRows
from ..engine.threads import single_threaded_blas
from . import data


class ScoringMixin:
    """Prediction, scoring, criteria and sampling for a fitted mixture estimator."""

    def _estep_inputs(self):
        return self._make_updater().estep_inputs(self._state())

    def _map_rows(self, X, kind):
        """The per-row result ``kind`` of X (see ``engine.scoring.ROW_RESULTS``), chunk by chunk.

        Arrays in memory and streamed sources give a NumPy array; a Dask
        collection gives a lazy Dask array, computed block by block on the
        workers.
        """
        check_is_fitted(self)
        result = ROW_RESULTS[kind]
        source = data.scoring_source(self, X, fused=result.fused, per_row=True)
        inputs = self._estep_inputs()
        # One column per component of the E-step: a noise component is one more.
        args = (result, result.n_columns(inputs.n_components), result.dtype(source.dtype))
        with single_threaded_blas():
            try:
                return source.map_rows(inputs, *args)
            except NonFiniteRows:
                # Only in-memory arrays reach here unchecked (data.scoring_source):
                # the check of the whole array names the rows, or finds only
                # missing values, which a second pass then marginalises.
                source.has_nan = val.check_finite(source.X, allow_nan=source.nan_policy == "marginalize")
                return source.map_rows(self._estep_inputs(), *args)

    def score_samples(self, X):
        """Log-density ``log p(x)`` of each row under the mixture.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or streamed data
            Also a ``.npy`` or Parquet path, a memmap, an object with
            ``iter_chunks()``, or a Dask collection (then the result is a
            lazy Dask array).

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
        """
        return self._map_rows(X, "density")

    def predict_proba(self, X):
        """Responsibilities ``r_ik``: the posterior probability of each component.

        X may be streamed, as in :meth:`score_samples`.

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
            Each row sums to 1. With a noise component (``noise_init``) one
            more column, the noise's, last.
        """
        return self._map_rows(X, "proba")

    def predict_proba_and_score_samples(self, X):
        """``(predict_proba(X), score_samples(X))`` from one E-step per chunk: one pass over X."""
        both = self._map_rows(X, "proba+density")
        return both[:, :-1], both[:, -1]

    def predict(self, X):
        """The most probable component of each row (hard assignment).

        X may be streamed, as in :meth:`score_samples`.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        return self._map_rows(X, "labels")

    # ------------------------------------------------------------ criteria
    def criteria(self, X, sample_weight=None):
        """Log-likelihood, BIC, AIC and ICL of X from one pass over it.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or streamed data
        sample_weight : array-like of shape (n_samples,), default=None
            ``n`` is then the total weight.

        Returns
        -------
        Criteria
            With ``log_likelihood``, ``n_samples``, ``n_parameters`` and the
            properties ``bic``, ``aic``, ``icl`` and ``score``.
        """
        check_is_fitted(self)
        source = data.scoring_source(self, X, sample_weight)
        with single_threaded_blas():
            loglik, log_map, n = source.criterion_sums(self._estep_inputs())
        if not n > 0:
            raise ValueError(
                "no row of X has an observed value of positive weight (every value is missing, "
                "or every weight is zero): there is nothing to score."
            )
        return Criteria(loglik, log_map, n, self.n_parameters())

    def score(self, X, y=None, sample_weight=None):
        """Mean log-likelihood per row (weighted by ``sample_weight`` if given).

        For an array in memory without weights or NaN this is
        ``score_samples(X).mean()``, in X's dtype, as in scikit-learn; for
        streamed data, with weights or with NaN, the sums of :meth:`criteria`,
        in float64. A row with nothing observed (every value missing) does
        not count, as in ``n`` of :meth:`bic`; with ``nan_policy="omit"``, nor
        does a row holding a NaN.

        Returns
        -------
        log_likelihood : float
        """
        if placement_of(X) is not None:
            if sample_weight is None and getattr(self, "nan_policy", None) != "omit":
                # Another library's array, where NaN is refused (``estimators.data``).
                log_prob = self.score_samples(X)
                return float(array_namespace(log_prob).mean(log_prob))
            return self.criteria(X, sample_weight).score  # omit drops rows there
        if (sample_weight is None and not is_streamed(X)
                and not np.isnan(val.check_X(self, X, reset=False, finite=False)).any()):
            return self.score_samples(X).mean()
        # Missing values: the rows the criteria count (nan_policy says which).
        return self.criteria(X, sample_weight).score

    def bic(self, X, sample_weight=None):
        """Bayesian information criterion ``-2 log L + p log n``; lower is better.

        ``p`` free parameters and ``n`` rows (the total weight with
        ``sample_weight``). mclust reports ``2 log L - p log n``, the negative.
        With missing values, ``log L`` is the observed data's, and a row with
        nothing observed counts neither in it nor in ``n``.
        """
        return self.criteria(X, sample_weight).bic

    def aic(self, X, sample_weight=None):
        """Akaike information criterion ``-2 log L + 2 p``; lower is better."""
        return self.criteria(X, sample_weight).aic

    def icl(self, X, sample_weight=None):
        """Integrated complete-data likelihood criterion; lower is better.

        ``ICL = BIC - 2 sum_i log max_k r_ik``: BIC plus a penalty for rows
        whose component is uncertain (Biernacki, Celeux & Govaert, 2000),
        computed with the hard (MAP) labels as mclust does. mclust reports
        the negative.
        """
        return self.criteria(X, sample_weight).icl

    def _n_parameters(self):
        """scikit-learn's name for :meth:`n_parameters`."""
        return self.n_parameters()

    # ------------------------------------------------------------ sampling
    def sample(self, n_samples=1):
        """Draw samples from the fitted mixture.

        Component counts are multinomial with the mixing weights; rows are
        grouped by component, as in scikit-learn.

        Parameters
        ----------
        n_samples : int, default=1

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,)
            The component of each row.
        """
        check_is_fitted(self)
        if not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
            raise ValueError(
                f"Invalid value for 'n_samples': {n_samples!r}. The sampling requires at least "
                f"one sample: n_samples must be a positive integer."
            )
        X, y = self._point_estimates().sample(n_samples, check_random_state(self.random_state))
        placement = placement_of_array(self.means_)
        if placement is not None:
            # Drawn on the host from NumPy's stream, so that a model fitted on
            # a device draws what its NumPy twin draws.
            return placement.asarray(X, self.means_.dtype), placement.asarray(y)
        return X, y
