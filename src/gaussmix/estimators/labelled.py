"""LabelledMixture: a GaussianMixture whose components are classes, fitted with (some) labels.

A subclass of ``GaussianMixture`` that plugs the labels in through the
seams: its updater is ``updaters.labels.FixedLabels`` (maximum likelihood
plus the labelled rows' fixed statistics) and its start is the M-step from
the labelled rows' one-hot responsibilities and the unlabelled rows' uniform
``1/K``, as mclust's ``MclustSSC`` starts. EM (``engine.driver``) then runs
over the unlabelled rows alone. With every row labelled there is no EM: the
fit is the one M-step from the labels, which is mclust's ``mstep`` and so
EDDA's fit (iterative covariance models run their inner loop to its end).
"""

from __future__ import annotations

import numpy as np

from .. import validation as val
from ..engine.passes import resp_statistics
from ..engine.threads import single_threaded_blas
from ..updaters import FixedLabels
from . import data
from .gaussian import GaussianMixture


class LabelledMixture(GaussianMixture):
    """A Gaussian mixture with one component per class, fitted to partly labelled rows.

    It takes every parameter of :class:`GaussianMixture`; ``n_components`` is
    the number of classes. ``fit(X, y)`` with ``y`` holding the component
    (class index) of each labelled row and -1 for the others; ``fit(X)``
    without ``y`` is plain :class:`GaussianMixture` EM. Used by
    :class:`gaussmix.GaussianMixtureClassifier` for EDDA and MclustSSC.

    Attributes
    ----------
    log_likelihood_ : float
        After ``fit(X, y)``: the log-likelihood with the labels at the fitted
        parameters, ``sum_{unlabelled} log p(x_i) + sum_{labelled}
        log(pi_{y_i} f_{y_i}(x_i))`` (``updaters.labels``).
    n_labelled_ : int
        Labelled rows of the last ``fit(X, y)``.

    Other attributes are :class:`GaussianMixture`'s.
    """

    _labelled = None  # the labelled rows' statistics during and after fit(X, y)

    def _make_updater(self):
        base = super()._make_updater()
        return base if self._labelled is None else FixedLabels(base, self._labelled)

    def _initial_state(self, X, sample_weight, start, updater, random_state):
        """The M-step from the labels and uniform ``1/K`` responsibilities of the unlabelled rows.

        Without labels (``fit(X)``), :class:`GaussianMixture`'s start.
        """
        if self._labelled is None:
            return super()._initial_state(X, sample_weight, start, updater, random_state)
        K = self.n_components

        def uniform(rows):
            return np.full((len(range(*rows.indices(X.shape[0]))), K), 1.0 / K)

        return self._state_from_resp(X, sample_weight, uniform, updater)

    def fit(self, X, y=None, sample_weight=None):
        """Fit with labels: EM over the unlabelled rows, the labelled rows fixed.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of int of shape (n_samples,), default=None
            The component (class index, ``0 <= y < n_components``) of each
            labelled row, -1 for an unlabelled one. None fits
            :class:`GaussianMixture`'s way.
        sample_weight : None
            Only without ``y``.

        Returns
        -------
        self : object
        """
        if y is None:
            self._labelled = None
            return super().fit(X, sample_weight=sample_weight)
        if sample_weight is not None:
            raise ValueError("sample_weight is not supported with labels; pass y=None to weight rows.")
        if self.noise_init is not None or self.prior is not None:
            raise ValueError("a fit with labels takes neither a noise component nor a prior; set "
                             "noise_init=None and prior=None, or pass y=None.")
        X = val.check_X(self, X, reset=True, min_samples=1)
        y = np.asarray(y)
        K = self.n_components
        if y.shape != (X.shape[0],) or not np.issubdtype(y.dtype, np.integer) or np.any(y >= K) or np.any(y < -1):
            raise ValueError(f"y must hold one integer per row of X, from -1 (unlabelled) to {K - 1}.")
        labelled = y >= 0
        if 0 < np.sum(~labelled) < K:
            raise ValueError(
                f"{int(np.sum(~labelled))} unlabelled row(s) for {K} classes: semi-supervised EM needs "
                f"at least one unlabelled row per class; label those rows (y >= 0) or add unlabelled ones."
            )
        one_hot = np.eye(K)[y[labelled]]
        rows = data.chunk_size(self, X.shape[1], max(int(labelled.sum()), 1))
        with single_threaded_blas():
            self._labelled = resp_statistics(X[labelled], None, one_hot.__getitem__, "full", rows).to_numpy()
            if labelled.all():
                updater = self._make_updater()
                state = updater.update(None).state
                self._set_state(state, X.dtype)
                self.converged_, self.n_iter_ = True, 1  # one M-step, exact
                value = updater.objective(0.0, 0.0, state, None, state)
                self._lower_bound = value
                self.lower_bound_ = X.dtype.type(value)
                self.lower_bounds_ = [self.lower_bound_]
        if not labelled.all():
            super().fit(X[~labelled])
            # fit validated only the unlabelled rows; the model saw every row.
            val.check_X(self, X, reset=True, min_samples=1)
        self.n_labelled_ = int(labelled.sum())
        unlabelled_part = float(self.score_samples(X[~labelled]).sum()) if not labelled.all() else 0.0
        self.log_likelihood_ = unlabelled_part + self._make_updater().labelled_log_likelihood(self._state())
        return self
