"""The estimator base: scikit-learn's plumbing over the EM engine, for every mixture estimator.

:class:`BaseMixture` holds what every estimator shares: parameter checks,
``n_init`` restarts, ``warm_start``, progress records and ``verbose``
output, ``fit`` and ``partial_fit`` over any source, and (from
``estimators.scoring``) prediction, scoring, criteria and sampling. A
subclass says only what is its own:

* ``_make_updater()``: the mathematics (``updaters``);
* ``_prepare_start(source)`` and ``_initial_state(...)``: the start;
* ``_state()`` and ``_set_state(state, dtype)``: the fitted attributes;
* ``n_parameters()``: the count the criteria use.

``GaussianMixture`` (``estimators.gaussian``) is such a subclass.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import weakref
from numbers import Integral, Real
from typing import NamedTuple

import numpy as np
from sklearn import get_config
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.utils._param_validation import Interval, StrOptions, validate_parameter_constraints

from ..engine import driver
from ..engine.passes import resp_statistics
from ..engine.schedules import Batch
from ..engine.stats import SuffStats
from ..engine.threads import single_threaded_blas
from ..init import INIT_METHODS, initial_resp, start_rows
from ..models import get_model
from ..namespaces import host_dtype
from ..randomness import check_random_state
from ..structures import STRUCTURES
from . import data
from .files import FilesMixin
from .reporting import ReportingMixin
from .scoring import ScoringMixin
from .sharing import shared


#: Per class, the ``(name, type, value)`` of scalar parameters that passed
#: scikit-learn's checks (weakly held, as ``_PARAM_NAMES``).
_VALID_SCALARS = weakref.WeakKeyDictionary()
#: The exact types whose values are memoised (``np.float64``, a float
#: subclass, is not among them: it is checked every time).
_SCALAR_TYPES = frozenset({bool, int, float, str, type(None)})
_MAX_VALID_SCALARS = 4096

#: The test of each start that a caller asked for (:func:`vetting_starts`).
_START_VETTER = contextvars.ContextVar("gaussmix_start_vetter", default=None)


@contextlib.contextmanager
def vetting_starts(vet):
    """Within it, every fit that makes a start calls ``vet`` on it, before EM.

    Each of ``n_init`` starts is vetted; a warm start and ``partial_fit``
    make none, and are not.

    ``vet(estimator, state, start, dtype)`` gets the estimator, its starting
    parameters (``updaters.MixtureParams``, float64), its checked ``*_init``
    arguments (``_prepare_start``: ``resp`` and the ``noise`` rows among
    them) and the dtype the fitted attributes will have. What it raises ends
    the fit. ``select`` tests each cell's start with mclust's rule so, within
    the cell's one fit (``selection.cells``). A context variable, so that
    fits on other threads are not vetted.
    """
    token = _START_VETTER.set(vet)
    try:
        yield
    finally:
        _START_VETTER.reset(token)


#: Where a caller asked for each fit's scores of its own rows (:func:`scoring_fits`):
#: ``(record, responsibilities)``, the list each fit appends to and whether
#: the rows' responsibilities are asked for too.
_FIT_SCORES = contextvars.ContextVar("gaussmix_fit_scores", default=None)


class FitScores(NamedTuple):
    """What a fit records within :func:`scoring_fits`: the criteria's sums of its rows, and their responsibilities."""

    log_likelihood: float
    log_map: float
    weight: float
    responsibilities: np.ndarray | None = None


@contextlib.contextmanager
def scoring_fits(responsibilities=False):
    """Within it, each fit records the criteria's sums of its own rows at its fitted parameters; yields the list.

    A fit appends a :class:`FitScores`, ``(sum_i w_i log p(x_i), sum_i w_i
    log max_k r_ik, sum_i w_i)`` (``Source.criterion_sums``), where a
    compiled stretch made its last update (rows in memory without missing
    values, maximum likelihood: ``engine.stretch``), from one more compiled
    pass; otherwise None. The weights are the ones the fit used: scaled by
    a power of two where the class's fit does not depend on their scale
    (``scale_free_weights``), so the sums are those of ``criteria`` only for
    a fit without weights. With ``responsibilities``, the same pass also
    gives the rows' responsibilities, as ``predict_proba`` would: of the
    rows the fit used, so without those ``nan_policy="omit"`` dropped.
    ``select`` takes each cell's criteria, and mclust's test its rows, from
    them: a second E-step through ``criteria`` cost 170 us a cell on 145
    rows, and ``predict_proba`` about 200. A context variable, as
    :func:`vetting_starts`.
    """
    record = []
    token = _FIT_SCORES.set((record, bool(responsibilities)))
    try:
        yield record
    finally:
        _FIT_SCORES.reset(token)


#: ``BaseMixture._get_param_names`` of each class (weakly held: a class made
#: and dropped, in a test say, goes with its entry).
_PARAM_NAMES = weakref.WeakKeyDictionary()


class BaseMixture(ScoringMixin, FilesMixin, ReportingMixin, DensityMixin, BaseEstimator):
    """Base class of the mixture estimators; see the module docstring for the hooks."""

    #: Whether a fit is the same for every weight scaled by one constant (so
    #: that weights are scaled by a power of two into [1, 2) before it, out of
    #: reach of overflow). False where weights are frequencies that a
    #: posterior counts.
    scale_free_weights = True

    #: scikit-learn's checks of the hyper-parameters every subclass shares
    #: (an ``InvalidParameterError`` names the bad one).
    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "reg_covar": [Interval(Real, 0.0, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "init_params": [StrOptions(set(INIT_METHODS))],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "verbose_interval": [Interval(Integral, 1, None, closed="left")],
        "chunk_size": [Interval(Integral, 1, None, closed="left"), None],
        "init_sample_size": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
    }

    @classmethod
    def _get_param_names(cls):
        """The constructor's parameter names, read from its signature once per class.

        scikit-learn inspects ``__init__``'s signature on every ``get_params``,
        and so every checked fit: 50 us, a fifth of a small fit's fixed cost.
        """
        names = _PARAM_NAMES.get(cls)
        if names is None:
            names = _PARAM_NAMES[cls] = tuple(super()._get_param_names())
        return list(names)

    def _validate_params(self):
        """scikit-learn's check of the parameters, each scalar value checked once per class.

        scikit-learn makes every constraint object afresh on each call: 0.2 ms,
        a quarter of a small fit's fixed cost. A scalar's verdict depends only
        on the class's constraints and the value, so a value of an exact type
        in ``_SCALAR_TYPES`` that passed is not checked again. A NumPy array
        where the constraints take ``"array-like"`` passes whatever it holds
        (scikit-learn tests its type), so it is not checked (25 us for the
        three ``*_init`` arrays); other values are checked every time. A value
        that fails never enters the memo: the errors are scikit-learn's own.
        """
        cls, constraints, unchecked, passing = type(self), self._parameter_constraints, {}, []
        valid = _VALID_SCALARS.setdefault(cls, set())
        for name in self._get_param_names():  # get_params(deep=False)'s values, a subclass's names included
            value = getattr(self, name)
            kind = type(value)
            if kind in _SCALAR_TYPES:
                key = (name, kind, value)
                if key in valid:
                    continue
                passing.append(key)
            elif kind is np.ndarray and "array-like" in constraints.get(name, ()):
                continue
            unchecked[name] = value
        if unchecked:
            validate_parameter_constraints(constraints, unchecked, caller_name=cls.__name__)
        if len(valid) > _MAX_VALID_SCALARS:
            valid.clear()
        valid.update(passing)

    # ------------------------------------------------------------ the hooks
    def __sklearn_is_fitted__(self):
        """Whether the mixture is fitted: every fit, ``partial_fit`` and load sets ``converged_``.

        scikit-learn's ``check_is_fitted`` otherwise searches every attribute
        for a trailing underscore (15-35 us, two or three times a cell of
        ``select``), and would take a fit that failed after setting
        ``n_features_in_`` for a fitted one.
        """
        return "converged_" in vars(self)

    def _make_updater(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _prepare_start(self, source):
        """Check what the start takes (``*_init``); ``source`` is None for ``partial_fit``."""
        return None

    def _start_reads_data(self, start):
        """Whether the start reads rows (it does unless the user fixed every parameter)."""
        return True

    def _estimates_covariances(self):
        """Whether the model has covariances between features (for the missing-value warning)."""
        return STRUCTURES[get_model(self.covariance_type)[0].structure].matrix

    def _initial_state(self, X, sample_weight, start, updater, random_state):
        """The starting state: an update from ``init_params``'s responsibilities on the start's rows.

        Where values are missing, the start runs on rows without holes
        (``init.start_rows``).
        """
        X, sample_weight, _ = start_rows(X, sample_weight, self.n_components, self._estimates_covariances())
        # A schedule that visits rows in random order draws after the start.
        keep_draws = not isinstance(self._schedule(X.shape[1]), Batch)
        resp_for_chunk = initial_resp(X, sample_weight, self.n_components, self.init_params, random_state,
                                      keep_draws=keep_draws)
        return self._state_from_resp(X, sample_weight, resp_for_chunk, updater)

    def _state_from_resp(self, X, sample_weight, resp_for_chunk, updater, resp=None):
        """An update from the statistics of in-memory rows under given responsibilities.

        ``resp``, the array ``resp_for_chunk`` reads, lets fits from the
        same NumPy arrays share the statistics (``estimators.sharing``);
        each gets its own copy, as its start's means become its state's.
        """
        def make():
            rows = data.chunk_size(self, X.shape[1], X.shape[0])
            return resp_statistics(X, sample_weight, resp_for_chunk, updater.scatter, rows)

        if resp is None or not isinstance(X, np.ndarray):
            stats = make()
        else:
            # The rows per chunk of a start's statistics follow from these
            # settings and the arrays' shapes (and the cores, which a select
            # does not change; not the model), so a fit that shares need not
            # work them out (16 us a cell).
            settings = (updater.scatter, self.chunk_size, self.n_components)
            stats = shared("statistics", (X, sample_weight, resp), make, settings)
            stats = SuffStats(stats.nk.copy(), stats.means.copy(), stats.scatter.copy())
        return updater.update(stats).state

    # -------------------------------------------------------------- checks
    def _check_parameters(self):
        """Check the hyper-parameters; return the covariance model.

        As scikit-learn's own estimators, skipped under
        ``sklearn.config_context(skip_parameter_validation=True)``: ``select``
        checks its parameters once and fits each cell so, since the check
        cost 0.3 ms a fit, two fits a cell.
        """
        if not get_config()["skip_parameter_validation"]:
            self._validate_params()
        model, _ = get_model(self.covariance_type)
        return model

    def _check_n_features(self, model, n_features):
        if model.univariate and n_features != 1:
            raise ValueError(
                f"covariance_type={model.code!r} is a one-dimensional model, but X has "
                f"{n_features} features; use a multivariate model (EII and VII are "
                f"their counterparts) or one column of X."
            )

    # ------------------------------------------------------------------ fit
    def fit(self, X, y=None, sample_weight=None):
        """Estimate the parameters with EM.

        Runs EM ``n_init`` times (once with ``warm_start`` after a first fit)
        and keeps the run with the highest log-likelihood. A run stops when
        the mean log-likelihood changes by less than ``tol`` or after
        ``max_iter`` iterations, with a ``ConvergenceWarning`` in that case.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or streamed data
            Training data. float32 data are processed in float32. Also a
            ``.npy`` or Parquet path, a memmap, an object with
            ``iter_chunks()``, or a Dask collection.
        y : Ignored
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each row; a weight of 2 counts the row
            twice, in the initialisation, the statistics and the
            log-likelihood.

        Returns
        -------
        self : object
        """
        # BLAS on one thread for the whole fit, start included (see
        # engine.threads): the same bits from any thread, and the user's
        # setting restored however fits in several threads interleave.
        with single_threaded_blas():
            self._fit(X, sample_weight)
        return self

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit, then return the most probable component of each row.

        Equal to ``fit(X, sample_weight=sample_weight).predict(X)``.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        return self.fit(X, sample_weight=sample_weight).predict(X)

    def _fit(self, X, sample_weight):
        model = self._check_parameters()
        source = data.training_source(self, X, sample_weight)
        self._check_n_features(model, source.n_features)
        start = self._prepare_start(source)
        do_init = not (self.warm_start and hasattr(self, "converged_"))
        n_init = self.n_init if do_init else 1
        reads = do_init and self._start_reads_data(start)
        # Seeding a generator (0.1-0.2 ms, a fifth of a small fit) only where
        # a start draws from it or a schedule visits rows in random order.
        draws = (reads and data.start_draws(self, source)) or not isinstance(
            self._schedule(source.n_features), Batch)
        random_state = check_random_state(self.random_state) if draws else None
        init_X, init_w = data.init_rows(self, source, random_state) if reads else (None, None)
        updater = self._make_updater()
        vet = _START_VETTER.get()
        scores, with_resp = _FIT_SCORES.get() or (None, False)

        best = None
        for init in range(n_init):
            self._say_init_start(init)
            if do_init:
                state = self._initial_state(init_X, init_w, start, updater, random_state)
                lower_bound = -math.inf
                if vet is not None:
                    vet(self, state, start, host_dtype(source.dtype))
            else:
                state, lower_bound = self._state(), getattr(self, "_lower_bound", self.lower_bound_)
            result = driver.run(
                source, updater, state, self._schedule(source.n_features),
                tol=self.tol, max_iter=self.max_iter, lower_bound=lower_bound,
                random_state=random_state, on_iteration=self._say_iteration if self.verbose else None,
                score=scores is not None, responsibilities=with_resp,
            )
            if self.max_iter > 0:
                self._say_init_end(result)
            if best is None or result.lower_bound > best.lower_bound:
                best = result
        self._finish_fit(best, model, n_init, host_dtype(source.dtype))
        self._place(source.placement)
        if scores is not None:
            scores.append(None if best.scores is None else FitScores(*best.scores, best.responsibilities))

    def _schedule(self, n_features):
        """How the passes of a fit combine: batch EM here (``StepwiseMixin`` adds online EM)."""
        return Batch()

    def _continuation(self, best):
        """What ``partial_fit`` continues from after a fit: nothing here (``StepwiseMixin``).

        It may be a function that makes it, called once when first read (:meth:`_running_state`).
        """
        return None

    def _running_state(self):
        """The running statistics ``partial_fit`` continues from (``OnlineState``), or None."""
        online = getattr(self, "_online_state", None)
        if callable(online):
            online = self._online_state = online()
        return online

    def _finish_fit(self, best, model, n_init, dtype):
        """Set the fitted attributes from the best run, with its warnings."""
        self._warn_outcome(best, n_init)
        self._set_state(best.state, dtype)
        self._warn_collapsed(model, best.collapsed)
        self.converged_ = bool(best.converged)
        self.n_iter_ = int(best.n_iter)
        # Published in the data's dtype, as scikit-learn does; kept in float64
        # for a warm start.
        scalar = np.dtype(dtype).type
        self._lower_bound = float(best.lower_bound)
        self.lower_bound_ = scalar(best.lower_bound)
        self.lower_bounds_ = [scalar(v) for v in best.lower_bounds]
        self._online_state = self._continuation(best)

