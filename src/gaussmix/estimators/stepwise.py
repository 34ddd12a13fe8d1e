"""Stepwise EM for an estimator: ``partial_fit`` and ``learning_method="online"``."""

from __future__ import annotations

import functools
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from .. import validation as val
from ..backends import ArraySource
from ..engine import driver
from ..engine.schedules import Batch, Stepwise
from ..engine.threads import single_threaded_blas
from ..exceptions import DegenerateComponentWarning, UnavailableMethodError
from ..namespaces import host_dtype, placement_of
from ..randomness import check_random_state
from . import data


class offered_if:
    """A method offered only where ``check(self)`` passes, as scikit-learn's ``available_if``.

    ``check`` raises ``UnavailableMethodError`` (an ``AttributeError``, so
    ``hasattr`` is False) saying why; unlike ``available_if``, which replaces
    it by "has no attribute", the reason reaches the user.
    """

    def __init__(self, check):
        self.check = check

    def __call__(self, method):
        self.method = method
        functools.update_wrapper(self, method)
        return self

    def __get__(self, obj, owner=None):
        if obj is None:
            return self.method
        self.check(obj)
        return self.method.__get__(obj, owner)


class StepwiseMixin:
    """``partial_fit`` and online ``fit`` for a ``BaseMixture`` with ``learning_method``,
    ``batch_size``, ``learning_decay`` and ``learning_offset``."""

    #: The constraints of its hyper-parameters, for the estimator's ``_parameter_constraints``.
    stepwise_constraints = {
        "learning_method": [StrOptions({"batch", "online"})],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "learning_decay": [Interval(Real, 0.5, 1.0, closed="right")],
        "learning_offset": [Interval(Real, 0.0, None, closed="left")],
    }

    def _schedule(self, n_features):
        if self.learning_method == "batch":
            return Batch()
        return Stepwise(self.batch_size, self.learning_offset, self.learning_decay,
                        data.chunk_size(self, n_features))

    def _continuation(self, best):
        """The running statistics ``partial_fit`` continues from after ``fit``, made when first read.

        Made eagerly, they cost 15 us a cell of ``select`` (scaled copies of
        the statistics), which no cell reads.
        """
        return None if best.running is None else functools.partial(best.running.as_stepwise, self.batch_size)

    def _stepwise_available(self):
        """True, or ``UnavailableMethodError`` saying why these settings offer no ``partial_fit``."""
        refusal = self._stepwise_refusal()
        if refusal is not None:
            raise UnavailableMethodError(refusal)
        return True

    @offered_if(lambda self: self._stepwise_available())
    def partial_fit(self, X, y=None, sample_weight=None):
        r"""Update the model from one chunk of rows: one step of stepwise EM.

        For data that arrive as a stream, or are read once. With running
        statistics ``s`` per unit of weight, the chunk's E-step gives its own
        ``ŝ_t`` and

        .. math::

            s_t = (1 - \eta_t)\, s_{t-1} + \eta_t\, \hat s_t, \qquad
            \eta_t = (t + \tau)^{-\kappa},

        followed by the M-step from ``s_t`` (Cappé & Moulines, 2009; Liang &
        Klein, 2009; ``τ = learning_offset``, ``κ = learning_decay``). The
        first call starts the model from its chunk with ``init_params`` (the
        chunk needs at least ``n_components`` rows) and takes ``η_1 = 1``.
        After :meth:`fit`, it continues from the fitted model, whose
        statistics count as one step per ``batch_size`` rows.
        Not offered with a prior or a noise component, which need batch
        EM: ``hasattr(gm, "partial_fit")`` is then False, as scikit-learn's
        conditional methods have it.

        Parameters
        ----------
        X : array-like of shape (n_chunk, n_features)
        y : Ignored
        sample_weight : array-like of shape (n_chunk,), default=None

        Returns
        -------
        self : object
        """
        with single_threaded_blas():
            return self._partial_fit(X, sample_weight)

    def _stepwise_refusal(self):
        """Why stepwise EM cannot fit this estimator, or None (a subclass may refuse)."""
        return None

    def _partial_fit(self, X, sample_weight):
        model = self._check_parameters()
        refusal = self._stepwise_refusal()
        if refusal is not None:
            raise ValueError(refusal)
        running = self._running_state()
        started = running is not None and hasattr(self, "means_")
        placement = placement_of(X)
        if placement is not None:  # checked (and weights scaled) on its device
            placed = data.placed_source(self, X, sample_weight, placement, reset=not started)
            X, weights, has_nan = placed.X, placed.sample_weight, False
        else:
            X, weights, has_nan = data.checked_rows(self, X, sample_weight, reset=not started, min_samples=1)
            weights = val.scaled_weights(weights)
        n_samples, n_features = X.shape
        updater = self._make_updater()
        if started:
            state = self._state()
        else:
            self._check_n_features(model, n_features)
            val.check_n_samples(n_samples, self.n_components)
            if placement is None:
                val.check_sample_weight(weights, n_samples, self.n_components)
            start = self._prepare_start(None)
            state = self._initial_state(X, weights, start, updater, check_random_state(self.random_state))
            running = None
        chunk = ArraySource(X, weights, data.chunk_size(self, n_features, X.shape[0], X.dtype, placement),
                            data.nan_policy(self), has_nan)
        schedule = Stepwise(self.batch_size, self.learning_offset, self.learning_decay, chunk.chunk_size)
        running, state, loglik, weight, update = driver.step(chunk, updater, state, schedule, running)
        if update is not None and np.any(update.empty):
            warnings.warn(
                f"component(s) {np.flatnonzero(update.empty).tolist()} have lost all their "
                f"weight; they keep their last mean and covariance. Fit fewer components.",
                DegenerateComponentWarning,
                stacklevel=3,
            )
        dtype = host_dtype(X.dtype)
        self._set_state(state, dtype)
        self._place(placement)
        self._warn_collapsed(model, None if update is None else update.collapsed)
        self._online_state = running
        self.n_steps_ = running.n_steps
        if weight > 0:
            self._lower_bound = float(loglik / weight)
            self.lower_bound_ = dtype.type(self._lower_bound)
        self.converged_ = False
        self.n_iter_ = running.n_steps
        self.lower_bounds_ = getattr(self, "lower_bounds_", [])
        return self
