"""GaussianMixture: the scikit-learn estimator on top of the EM engine."""

from __future__ import annotations

import logging
import math
import time
import warnings

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from . import _validation as val
from . import _threads
from ._chunks import auto_chunk_size
from ._fast import chunk_route
from ._em import MixtureParams, m_step, resp_statistics, run_em
from ._estep import e_step, log_density, log_resp_from_weighted, weighted_log_prob
from ._init import INIT_METHODS, initial_resp
from ._online import OnlineState, fold_batch, run_online_em
from ._structures import STRUCTURES
from .backends import ArraySource, streamed_source
from .backends.dask import is_dask_collection
from .models import get_model

logger = logging.getLogger("gaussmix")

#: ``init_sample_size="auto"`` for streamed and Dask data: at most this many
#: rows, and at most ``INIT_SAMPLE_BYTES`` of them.
AUTO_INIT_SAMPLE_ROWS = 100_000
INIT_SAMPLE_BYTES = 64 * 2**20


class _NonFiniteRows(Exception):
    """A chunk holds NaN or infinity, found after its E-step (see :func:`_fused_e_step`)."""


def _fused_e_step(X, eparams, with_resp=True):
    """``(log p(x_i), r_ik)`` of a chunk, raising :class:`_NonFiniteRows` if it holds NaN or inf.

    In-memory arrays are scored without a pass over them to look for NaN
    and infinity first (a sixth of predict_proba on 10 000 rows): such a
    row makes its ``log p(x)`` NaN or infinite on every route, since every
    component's density reads every feature. So only a chunk with a
    non-finite ``log p`` is searched; a finite chunk whose densities all
    underflowed (``log p = -inf``) passes. ``_map_rows`` turns the
    exception into the usual error, naming the rows.
    """
    # NaN and overflow are looked for in the result, so NumPy's warnings
    # about them would only precede the error (or the -inf) with noise.
    with np.errstate(invalid="ignore", over="ignore"):
        if with_resp:
            log_prob, resp = e_step(X, eparams)
        else:
            log_prob, resp = log_density(X, eparams), None
    if not bool(np.isfinite(log_prob).all()) and not bool(np.isfinite(X).all()):
        raise _NonFiniteRows
    return log_prob, resp


def _responsibilities(X, eparams):
    return _fused_e_step(X, eparams)[1]


def _log_density(X, eparams):
    return _fused_e_step(X, eparams, with_resp=False)[0]


def _map_labels(X, eparams):
    return np.argmax(weighted_log_prob(X, eparams), axis=1)


def _criterion_rows(X, eparams):
    """Per row: ``log p(x)`` and ``log max_k r_k`` (the terms of BIC and ICL)."""
    log_prob_norm, log_resp = log_resp_from_weighted(weighted_log_prob(X, eparams))
    return np.stack([log_prob_norm, np.max(log_resp, axis=1)], axis=1)


def _proba_and_density(X, eparams):
    """Per row: the responsibilities, then ``log p(x)``, from one E-step."""
    log_prob_norm, resp = _fused_e_step(X, eparams)
    return np.column_stack([resp, log_prob_norm])


#: Each per-row result: (the function of a chunk and the E-step parameters
#: that computes it; its number of columns given K, None for one value per
#: row; its dtype given the data's; whether each chunk's work is one fused
#: E-step, :func:`_fused_e_step`, which forms no (n, K) log-densities and
#: finds NaN and infinity in its chunk from its result).
ROW_RESULTS = {
    "density": (_log_density, lambda K: None, lambda dtype: dtype, True),
    "proba": (_responsibilities, lambda K: K, lambda dtype: dtype, True),
    "labels": (_map_labels, lambda K: None, lambda dtype: np.dtype(np.intp), False),
    "terms": (_criterion_rows, lambda K: 2, lambda dtype: np.dtype(np.float64), False),
    "proba+density": (_proba_and_density, lambda K: K + 1, lambda dtype: dtype, True),
}


def _map_source(source, params, per_chunk, n_columns, dtype):
    """``per_chunk`` of every compute chunk of ``source``, as one array.

    With the number of rows known, the chunks are written into one
    preallocated result, so the output is never held twice. NumPy chunks run
    on the thread pool of ``_threads``, in order.
    """
    eparams = params.estep_params(np, source.dtype)
    tail = () if n_columns is None else (n_columns,)
    chunks = source.compute_chunks()

    def rows(chunk):
        return per_chunk(chunk[0], eparams)

    if _threads.usable():
        with _threads.single_threaded_blas():
            return _collect(source, _threads.map_ordered(rows, chunks), tail, dtype)
    return _collect(source, map(rows, chunks), tail, dtype)


def _collect(source, parts, tail, dtype):
    if source.n_samples is not None:
        out = np.empty((source.n_samples,) + tail, dtype=dtype)
        start = 0
        for part in parts:
            out[start : start + part.shape[0]] = part
            start += part.shape[0]
        return out
    parts = list(parts)
    if not parts:
        return np.empty((0,) + tail, dtype=dtype)
    return np.concatenate(parts).astype(dtype, copy=False)


class _BlockMap:
    """A picklable per-block function for Dask: the fitted parameters and a
    per-chunk function, applied to one checked NumPy block on a worker."""

    def __init__(self, params, chunk_size, per_chunk, n_columns, dtype):
        self.params, self.chunk_size, self.per_chunk = params, chunk_size, per_chunk
        self.n_columns, self.dtype = n_columns, dtype

    def __call__(self, block):
        source = ArraySource(block, None, self.chunk_size)
        return _map_source(source, self.params, self.per_chunk, self.n_columns, self.dtype)


class DegenerateComponentWarning(UserWarning):
    """A component collapsed or emptied during EM; the fit handled it as documented."""


class GaussianMixture(DensityMixin, BaseEstimator):
    r"""Gaussian mixture model fitted by Expectation-Maximisation.

    A drop-in replacement for :class:`sklearn.mixture.GaussianMixture`: the
    same parameters, methods and fitted attributes, plus sample weights,
    chunked fitting in bounded memory, and mclust's covariance models.

    The density is

    .. math::

        p(x) = \sum_{k=1}^K \pi_k\, \mathcal N(x \mid \mu_k, \Sigma_k).

    Each EM iteration computes the responsibilities
    ``r_ik = pi_k N(x_i | mu_k, Sigma_k) / p(x_i)`` (E-step) chunk by chunk,
    accumulates the weighted statistics ``n_k = sum_i w_i r_ik``,
    ``mu_k = sum_i w_i r_ik x_i / n_k`` and the centred scatter
    ``S_k = sum_i w_i r_ik (x_i - mu_k)(x_i - mu_k)^T``, and sets
    ``pi_k = n_k / sum_j n_j``, ``mu_k`` and the covariance from ``S_k`` as the
    covariance model prescribes (M-step).

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components K.
    covariance_type : str, default="full"
        The covariance model. scikit-learn's names ``"full"``, ``"tied"``,
        ``"diag"``, ``"spherical"`` keep scikit-learn's attribute shapes.
        mclust's codes name the same models (``"VVV"``, ``"EEE"``, ``"VVI"``,
        ``"VII"``); with a code, ``covariances_``, ``precisions_`` and
        ``precisions_cholesky_`` are always (n_components, n_features, n_features).
    tol : float, default=1e-3
        EM stops when the mean log-likelihood per sample changes by less.
    reg_covar : float, default=1e-6
        Added to the diagonal of every covariance, so that they stay positive
        definite.
    max_iter : int, default=100
        Maximum number of EM iterations per initialisation.
    n_init : int, default=1
        Number of initialisations; the one with the highest final
        log-likelihood is kept.
    init_params : {"kmeans", "k-means++", "random", "random_from_data", "hc"}, \
            default="kmeans"
        How the starting responsibilities are chosen; all use sample weights.
        ``"hc"`` is mclust's model-based hierarchical agglomeration, the
        default of :func:`gaussmix.select`.
    weights_init : array-like of shape (n_components,), default=None
        Starting mixing weights; they must sum to 1.
    means_init : array-like of shape (n_components, n_features), default=None
        Starting means.
    precisions_init : array-like, default=None
        Starting precisions (inverse covariances), in the shape of
        ``precisions_`` for ``covariance_type``.
    resp_init : array-like of shape (n_samples, n_components), default=None
        Starting responsibilities: EM begins with an M-step from them, as
        mclust's ``me()`` does, and ``init_params`` is not used. Rows must be
        non-negative and sum to 1, to within 1e-3 (they are renormalised);
        one-hot rows give a hard start. The
        ``*_init`` parameters above still take precedence.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation and :meth:`sample`.
    warm_start : bool, default=False
        If True, each ``fit`` starts from the previous fit's parameters and
        ``n_init`` is ignored.
    verbose : int, default=0
        0 is silent; 1 prints each initialisation and the iteration count;
        2 also prints the time and the change of the log-likelihood.
    verbose_interval : int, default=10
        Iterations between two progress lines.
    chunk_size : int, default=None
        Rows per chunk. ``None`` chooses a size whose temporaries stay under
        4 MiB, small enough to stay in cache. Results do not depend on it
        beyond rounding.
    init_sample_size : int or "auto", default="auto"
        Rows the initialisation (``init_params``) reads: a uniform random
        sample of at most this many rows, drawn in one pass with a reservoir
        (every row gets a random key; the smallest keys are kept), so that
        starting costs bounded memory on data of any size. EM itself always
        runs on all rows. ``"auto"`` uses every row of an array in memory,
        exactly as scikit-learn does, and 100 000 rows (at most 64 MiB) of
        streamed or Dask data. When the data have no more rows than the
        sample, the start equals the in-memory one.
    learning_method : {"batch", "online"}, default="batch"
        ``"batch"`` is EM: every iteration is a pass over all rows, then one
        M-step. ``"online"`` is stepwise EM (mini-batch EM; see
        :meth:`partial_fit` for the update and its sources): an M-step after
        every ``batch_size`` rows, and ``max_iter`` counts passes (epochs).
        Each pass then improves the fit far more, so very large data need
        fewer passes, at the price of a final log-likelihood slightly below
        batch EM's (the benchmark's RESULTS.md gives the figures). Rows of
        arrays in memory are visited in a new random order each pass;
        streamed rows in their stored order, which should be random. Not for
        Dask collections.
    batch_size : int, default=4096
        Rows per mini-batch of ``learning_method="online"``. After a batch
        ``fit``, :meth:`partial_fit` counts the fit as one step per
        ``batch_size`` rows of its data.
    learning_decay : float, default=0.7
        ``κ`` in the step size ``η_t = (t + τ)^-κ`` of stepwise EM; in
        (0.5, 1] for convergence.
    learning_offset : float, default=10.0
        ``τ`` in that step size: larger values damp the first steps.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
    covariances_ : ndarray
        (n_components, n_features, n_features) for "full" and mclust codes,
        (n_features, n_features) for "tied", (n_components, n_features) for
        "diag" and (n_components,) for "spherical".
    precisions_ : ndarray
        Inverses of ``covariances_``, same shape.
    precisions_cholesky_ : ndarray
        Upper-triangular ``U`` with ``precision = U @ U.T``, same shape.
    converged_ : bool
    n_iter_ : int
        Iterations of the best initialisation.
    lower_bound_ : float
        Weighted mean log-likelihood per sample at the last iteration of the
        best initialisation.
    lower_bounds_ : list of float
        That value at every iteration: the trace EM never lets decrease.
        With ``learning_method="online"``, one value per pass, each batch
        scored under the parameters entering its step.
    n_steps_ : int
        Steps of stepwise EM taken (after :meth:`partial_fit`).
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only when X has string column names.

    See Also
    --------
    sklearn.mixture.GaussianMixture : The estimator this one replaces.

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix import GaussianMixture
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(2, 1, (300, 2)), rng.normal(9, 1, (100, 2))])
    >>> gm = GaussianMixture(n_components=2, random_state=0).fit(X)
    >>> np.sort(gm.means_[:, 0]).round()
    array([2., 9.])
    >>> np.sort(gm.weights_).round(2)
    array([0.25, 0.75])
    >>> labels = gm.predict([[0, 0], [12, 3]])
    >>> bool(labels[0] != labels[1])
    True
    """

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="full",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        weights_init=None,
        means_init=None,
        precisions_init=None,
        resp_init=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
        chunk_size=None,
        init_sample_size="auto",
        learning_method="batch",
        batch_size=4096,
        learning_decay=0.7,
        learning_offset=10.0,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.resp_init = resp_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.chunk_size = chunk_size
        self.init_sample_size = init_sample_size
        self.learning_method = learning_method
        self.batch_size = batch_size
        self.learning_decay = learning_decay
        self.learning_offset = learning_offset

    # ------------------------------------------------------------------ fit
    def fit(self, X, y=None, sample_weight=None):
        """Estimate the parameters with EM.

        Runs EM ``n_init`` times (once with ``warm_start`` after a first fit)
        and keeps the run with the highest log-likelihood. A run stops when
        the mean log-likelihood changes by less than ``tol`` or after
        ``max_iter`` iterations, with a ``ConvergenceWarning`` in that case.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data. float32 data are processed in float32.
        y : Ignored
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each row; a weight of 2 counts the row
            twice, in the initialisation, the statistics and the
            log-likelihood.

        Returns
        -------
        self : GaussianMixture
        """
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

        Parameters
        ----------
        X : array-like of shape (n_chunk, n_features)
        y : Ignored
        sample_weight : array-like of shape (n_chunk,), default=None

        Returns
        -------
        self : GaussianMixture
        """
        val.check_scalar_params(self)
        model, sklearn_layout = get_model(self.covariance_type)
        state = getattr(self, "_online_state", None)
        started = state is not None and hasattr(self, "means_")
        X = val.check_X(self, X, reset=not started, min_samples=1)
        n_samples, n_features = X.shape
        weights = val.check_sample_weight(sample_weight, n_samples, 1)
        if started:
            params = self._params()
        else:
            if model.univariate and n_features != 1:
                raise ValueError(
                    f"covariance_type={model.code!r} is a one-dimensional model, but X "
                    f"has {n_features} features."
                )
            val.check_n_samples(n_samples, self.n_components)
            val.check_sample_weight(weights, n_samples, self.n_components)
            if self.init_params not in INIT_METHODS:
                raise ValueError(
                    f"init_params={self.init_params!r} is not supported; choose one of "
                    f"{list(INIT_METHODS)}."
                )
            user_init = self._checked_user_init(model, sklearn_layout, n_features)
            params = self._initial_params(
                X, weights, model, user_init, None, check_random_state(self.random_state)
            )
            state = None
        chunk = ArraySource(X, weights, self._chunk_size(n_features, X.shape[0], X.dtype))
        state, params, loglik, weight, empty, collapsed = fold_batch(
            state, model, params, chunk, self.reg_covar, self.learning_offset, self.learning_decay
        )
        if np.any(empty):
            warnings.warn(
                f"component(s) {np.flatnonzero(empty).tolist()} have lost all their "
                f"weight; they keep their last mean and covariance. Fit fewer components.",
                DegenerateComponentWarning,
                stacklevel=2,
            )
        self._set_params_from(params, model, sklearn_layout)
        self._warn_collapsed(model, collapsed)
        self._online_state = state
        self.n_steps_ = state.n_steps
        if weight > 0:
            self.lower_bound_ = float(loglik / weight)
        self.converged_ = False
        self.n_iter_ = state.n_steps
        self.lower_bounds_ = getattr(self, "lower_bounds_", [])
        return self

    def _fit(self, X, sample_weight, resp_start=None):
        """Fit; ``resp_start`` (used by ``select``) gives starting
        responsibilities without making them a parameter of the model."""
        val.check_scalar_params(self)
        model, sklearn_layout = get_model(self.covariance_type)
        if self.init_params not in INIT_METHODS:
            raise ValueError(
                f"init_params={self.init_params!r} is not supported; choose one of "
                f"{list(INIT_METHODS)}."
            )
        if self.learning_method == "online" and is_dask_collection(X):
            raise ValueError(
                "learning_method='online' reads mini-batches in order on this machine; "
                "for a Dask collection use learning_method='batch', which runs on the workers."
            )
        source = self._training_source(X, sample_weight)
        n_features = source.n_features
        if model.univariate and n_features != 1:
            raise ValueError(
                f"covariance_type={model.code!r} is a one-dimensional model, but X has "
                f"{n_features} features; use a multivariate model (EII and VII are "
                f"their counterparts) or one column of X."
            )
        user_init = self._checked_user_init(model, sklearn_layout, n_features)
        start = self.resp_init if resp_start is None else resp_start
        if start is not None and not source.in_memory:
            raise ValueError(
                "resp_init needs X as an array in memory (one row of responsibilities "
                "per row of X); for streamed or Dask data use means_init, or init_params."
            )
        resp_init = (
            None
            if start is None
            else val.check_resp_init(start, source.n_samples, self.n_components)
        )

        do_init = not (self.warm_start and hasattr(self, "converged_"))
        n_init = self.n_init if do_init else 1
        random_state = check_random_state(self.random_state)
        needs_data = do_init and not all(v is not None for v in user_init.values())
        init_X, init_w = self._init_rows(source, random_state) if needs_data else (None, None)

        best = None
        for init in range(n_init):
            self._say_init_start(init)
            if do_init:
                params = self._initial_params(
                    init_X, init_w, model, user_init, resp_init, random_state
                )
                lower_bound = -math.inf
            else:
                params = self._params()
                lower_bound = self.lower_bound_
            result = self._run(source, model, params, lower_bound, random_state)
            if self.max_iter > 0:
                self._say_init_end(result)
            if best is None or result.lower_bound > best.lower_bound:
                best = result
        self._finish_fit(best, model, sklearn_layout, n_init)

    def _run(self, source, model, params, lower_bound, random_state):
        """One run of batch or stepwise EM from ``params``."""
        common = dict(
            reg_covar=self.reg_covar,
            tol=self.tol,
            max_iter=self.max_iter,
            lower_bound=lower_bound,
            on_iteration=self._say_iteration,
        )
        if self.learning_method == "batch":
            return run_em(source, model, params, **common)
        return run_online_em(
            source,
            model,
            params,
            batch_size=self.batch_size,
            learning_offset=self.learning_offset,
            learning_decay=self.learning_decay,
            random_state=random_state,
            chunk_size=self._chunk_size(source.n_features),
            **common,
        )

    def _finish_fit(self, best, model, sklearn_layout, n_init):
        """Set the fitted attributes from the best run, with its warnings."""
        if not best.converged and self.max_iter > 0:
            warnings.warn(
                f"EM did not converge in max_iter={self.max_iter} iterations "
                f"(best of {n_init} initialisation(s); last change of the mean "
                f"log-likelihood above tol={self.tol:g}). Increase max_iter or tol, "
                f"try other init_params, or check for degenerate data.",
                ConvergenceWarning,
                stacklevel=4,
            )
        if best.emptied:
            warnings.warn(
                f"component(s) {sorted(best.emptied)} lost all their weight during EM; "
                f"they keep their last mean and covariance and a weight near 0. "
                f"Fit fewer components.",
                DegenerateComponentWarning,
                stacklevel=4,
            )
        self._set_params_from(best.params, model, sklearn_layout)
        self._warn_collapsed(model, best.collapsed)
        self.converged_ = bool(best.converged)
        self.n_iter_ = int(best.n_iter)
        self.lower_bound_ = float(best.lower_bound)
        self.lower_bounds_ = [float(v) for v in best.lower_bounds]
        self._online_state = self._continuation(best)

    def _continuation(self, result):
        """The running statistics ``partial_fit`` continues from after ``fit``."""
        if result.online_state is not None:
            return result.online_state
        if result.stats is None or result.total_weight <= 0:
            return None
        steps = max(1, math.ceil(result.total_weight / self.batch_size))
        return OnlineState(result.stats.to_numpy().scaled(1.0 / result.total_weight), steps)

    # ------------------------------------------------------------ sources
    def _training_source(self, X, sample_weight):
        """The data source for fitting: X validated in memory, or streamed.

        Sets ``n_features_in_`` (and ``feature_names_in_``) as scikit-learn's
        validation does.
        """
        streamed = self._streamed(X, sample_weight)
        if streamed is None:
            X = val.check_X(self, X, reset=True, min_samples=2)
            n_samples, n_features = X.shape
            val.check_n_samples(n_samples, self.n_components)
            weights = val.check_sample_weight(sample_weight, n_samples, self.n_components)
            return ArraySource(X, weights, self._chunk_size(n_features, n_samples, X.dtype))
        val.set_n_features(self, streamed.n_features, streamed.feature_names)
        if streamed.n_samples is not None:
            val.check_n_samples(streamed.n_samples, self.n_components)
        return streamed

    def _streamed(self, X, sample_weight, fitted=False):
        """The source of X if X is streamed (file, memmap, iterable, Dask), else None."""
        if is_dask_collection(X):
            source = streamed_source(X, sample_weight)
        else:
            source = streamed_source(X)
            if source is None:
                return None
            if sample_weight is not None:
                weights = val.check_weight_values(sample_weight)
                if source.n_samples is not None:
                    val.check_sample_weight(weights, source.n_samples, self.n_components)
                source.extra_weight = weights
        if fitted:
            val.check_n_features(self, source.n_features, source.feature_names)
        source.compute_chunk_size = self._chunk_size(source.n_features)
        return source

    def _init_sample_rows(self, source):
        """Rows the initialisation may read: None for all of them."""
        if self.init_sample_size != "auto":
            return int(self.init_sample_size)
        if source.in_memory:
            return None  # all rows, as scikit-learn does
        return int(min(AUTO_INIT_SAMPLE_ROWS, INIT_SAMPLE_BYTES // (8 * source.n_features)))

    def _init_rows(self, source, random_state):
        """The rows (and weights) the initialisation runs on, in memory."""
        size = self._init_sample_rows(source)
        if source.in_memory and (size is None or source.n_samples <= size):
            return source.X, source.sample_weight
        X, w, n_seen = source.sample(size, random_state)
        if source.n_samples is None:
            val.check_n_samples(n_seen, self.n_components)
        n_positive = X.shape[0] if w is None else int(np.count_nonzero(w))
        if n_positive < self.n_components:
            raise ValueError(
                f"the initialisation sample has {n_positive} row(s) of positive weight, "
                f"fewer than n_components={self.n_components}; increase "
                f"init_sample_size or reduce n_components."
            )
        return X, w

    def _chunk_size(self, n_features, n_rows=None, kernel_dtype=None):
        """``chunk_size``, or rows per chunk within the memory budget (equal chunks when ``n_rows`` is known).

        ``kernel_dtype`` is given only where each chunk's work is one pass of
        the compiled kernels over chunks of that dtype (an EM pass, or the
        fused E-step of ``predict_proba`` and ``score_samples``), whose route
        (``_fast.chunk_route``) may need fewer temporaries per row;
        other work (initialisation, labels, criteria, streamed sources of
        unknown dtype) is sized for the costlier routes.
        """
        if self.chunk_size is not None:
            return int(self.chunk_size)
        model, _ = get_model(self.covariance_type)
        route, itemsize = "blas", 8
        if kernel_dtype is not None:
            route = chunk_route(model.structure, self.n_components, n_features, kernel_dtype)
            itemsize = np.dtype(kernel_dtype).itemsize
        return auto_chunk_size(
            self.n_components, n_features, route=route, itemsize=itemsize, n_rows=n_rows,
            n_threads=_threads.n_threads(),
        )

    def _checked_user_init(self, model, sklearn_layout, n_features):
        K = self.n_components
        return {
            "weights": None
            if self.weights_init is None
            else val.check_weights_init(self.weights_init, K),
            "means": None
            if self.means_init is None
            else val.check_means_init(self.means_init, K, n_features),
            "covariances": None
            if self.precisions_init is None
            else val.check_precisions_init(
                self.precisions_init, model, sklearn_layout, K, n_features
            ),
        }

    def _initial_params(self, X, weights, model, user_init, resp_init, random_state):
        """Starting parameters: an M-step from the initial responsibilities
        on the initialisation rows, then whatever the user fixed with ``*_init``."""
        struct = STRUCTURES[model.structure]
        if all(v is not None for v in user_init.values()):
            w, mu, cov = user_init["weights"], user_init["means"], user_init["covariances"]
        else:
            if resp_init is not None:
                resp_for_chunk = resp_init.__getitem__
            else:
                resp_for_chunk = initial_resp(
                    X, weights, self.n_components, self.init_params, random_state
                )
            chunk_size = self._chunk_size(X.shape[1], X.shape[0])
            stats = resp_statistics(X, weights, resp_for_chunk, model.scatter, chunk_size)
            start, _, _ = m_step(model, stats, self.reg_covar)
            w = start.weights if user_init["weights"] is None else user_init["weights"]
            mu = start.means if user_init["means"] is None else user_init["means"]
            cov = start.covariances if user_init["covariances"] is None else user_init["covariances"]
        return MixtureParams(w, mu, cov, struct.prec_chol_from_cov(cov), model.structure)

    # ------------------------------------------------------ fitted attributes
    def _set_params_from(self, params, model, sklearn_layout):
        struct = STRUCTURES[model.structure]
        K, d = params.means.shape
        precisions = struct.precision_from_prec_chol(params.precisions_cholesky)

        def public(arr):
            return np.asarray(arr) if sklearn_layout else struct.to_full(arr, K, d)

        self.weights_ = np.asarray(params.weights)
        self.means_ = np.asarray(params.means)
        self.covariances_ = public(params.covariances)
        self.precisions_ = public(precisions)
        self.precisions_cholesky_ = public(params.precisions_cholesky)

    def _params(self):
        """The fitted parameters in the model's own layout (from the public ones)."""
        model, sklearn_layout = get_model(self.covariance_type)
        struct = STRUCTURES[model.structure]

        def internal(arr):
            return np.asarray(arr) if sklearn_layout else struct.from_full(arr)

        return MixtureParams(
            np.asarray(self.weights_),
            np.asarray(self.means_),
            internal(self.covariances_),
            internal(self.precisions_cholesky_),
            model.structure,
        )

    def _warn_collapsed(self, model, collapsed):
        """Warn when a covariance is singular but for ``reg_covar``."""
        if collapsed is None or not np.any(collapsed):
            return
        which = (
            "the shared covariance"
            if model.coupling == "pooled"
            else f"the covariance of component(s) {np.flatnonzero(collapsed).tolist()}"
        )
        warnings.warn(
            f"{which} is singular (collapsed onto a point, a line or a constant "
            f"feature); only reg_covar={self.reg_covar:g} keeps it positive definite, "
            f"so those densities are spikes. Use fewer components, remove constant or "
            f"duplicated features, or increase reg_covar.",
            DegenerateComponentWarning,
            stacklevel=4,
        )

    # ------------------------------------------------------------- predict
    def _check_fitted_X(self, X, finite=True):
        check_is_fitted(self)
        return val.check_X(self, X, reset=False, finite=finite)

    def _map_rows(self, X, kind):
        """The per-row result ``kind`` of X (see ``ROW_RESULTS``), chunk by chunk.

        Arrays in memory and streamed sources give a NumPy array; a Dask
        collection gives a lazy Dask array, computed block by block on the
        workers.
        """
        check_is_fitted(self)
        per_chunk, columns_of, dtype_of, fused = ROW_RESULTS[kind]
        n_columns = columns_of(self.n_components)
        if is_dask_collection(X):
            from .backends.dask import as_checked_array, map_blocks_lazy

            X, names = as_checked_array(X)
            val.check_n_features(self, X.shape[1], names)
            dtype = dtype_of(X.dtype)
            func = _BlockMap(self._params(), self._chunk_size(X.shape[1]), per_chunk, n_columns, dtype)
            return map_blocks_lazy(X, func, n_columns, dtype)
        source = self._scoring_source(X, fused=fused)
        try:
            return _map_source(source, self._params(), per_chunk, n_columns, dtype_of(source.dtype))
        except _NonFiniteRows:
            # Only in-memory arrays reach here unchecked (_scoring_source):
            # the check of the whole array names the rows.
            val.check_finite(source.X)
            raise  # pragma: no cover - the check above raises

    def _scoring_source(self, X, sample_weight=None, fused=False):
        """The source of X for a fitted model: streamed, or checked in memory.

        ``fused``: each chunk's work is one fused E-step (see ``_chunk_size``),
        which finds NaN and infinity itself (:func:`_fused_e_step`).
        """
        source = self._streamed(X, sample_weight, fitted=True)
        if source is not None:
            return source
        X = self._check_fitted_X(X, finite=not fused)
        weights = val.check_sample_weight(sample_weight, X.shape[0], 1)
        kernel_dtype = X.dtype if fused else None
        return ArraySource(X, weights, self._chunk_size(X.shape[1], X.shape[0], kernel_dtype))

    def _proba_and_density(self, X):
        """``(predict_proba(X), score_samples(X))`` from one E-step per chunk."""
        both = self._map_rows(X, "proba+density")
        return both[:, :-1], both[:, -1]

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

    def score(self, X, y=None, sample_weight=None):
        """Mean log-likelihood per row (weighted by ``sample_weight`` if given).

        Returns
        -------
        log_likelihood : float
        """
        loglik, _, n = self._criterion_terms(X, sample_weight)
        return loglik / n

    def predict_proba(self, X):
        """Responsibilities ``r_ik``: the posterior probability of each component.

        X may be streamed, as in :meth:`score_samples`.

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
            Each row sums to 1.
        """
        return self._map_rows(X, "proba")

    def predict(self, X):
        """The most probable component of each row (hard assignment).

        X may be streamed, as in :meth:`score_samples`.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        return self._map_rows(X, "labels")

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
            raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}.")
        rng = check_random_state(self.random_state)
        params = self._params()
        K, d = params.means.shape
        counts = rng.multinomial(n_samples, params.weights / params.weights.sum())
        struct = STRUCTURES[params.structure]
        # Matrices per component for full and shared storage, variances else.
        cov = struct.to_full(params.covariances, K, d) if struct.matrix else params.covariances
        X = np.vstack([struct.draw(rng, params.means[k], cov[k], counts[k]) for k in range(K)])
        y = np.repeat(np.arange(K), counts)
        return X, y

    # ------------------------------------------------------------ criteria
    def _n_parameters(self):
        """Free parameters of the fitted model, as mclust counts them."""
        model, _ = get_model(self.covariance_type)
        return model.n_parameters(self.n_components, self.means_.shape[1])

    def _criterion_terms(self, X, sample_weight=None):
        """One pass over X: ``(log L, sum log max_k r_ik, n)``, weighted.

        ``n`` is the number of rows, or the total weight with ``sample_weight``.
        BIC, AIC and ICL are all functions of these three numbers.
        """
        check_is_fitted(self)
        if is_dask_collection(X):
            import dask.array as da

            terms = self._map_rows(X, "terms")
            w = None if sample_weight is None else da.asarray(sample_weight)[:, None]
            # A zero weight cancels the row even where its density underflowed.
            sums = terms.sum(axis=0) if w is None else da.where(w > 0, terms * w, 0.0).sum(axis=0)
            n = terms.shape[0] if w is None else w.sum()
            sums, n = da.compute(sums, n)
            return float(sums[0]), float(sums[1]), float(n)
        source = self._scoring_source(X, sample_weight)
        eparams = self._params().estep_params(np, source.dtype)
        loglik = log_map = n = 0.0
        for Xc, wc in source.compute_chunks():
            rows = _criterion_rows(Xc, eparams).astype(np.float64)
            if wc is None:
                sums, weight = rows.sum(axis=0), Xc.shape[0]
            else:
                # A zero weight cancels the row even where its density underflowed.
                sums = np.where(wc[:, None] > 0, rows * wc[:, None], 0.0).sum(axis=0)
                weight = wc.sum()
            loglik, log_map, n = loglik + sums[0], log_map + sums[1], n + weight
        return float(loglik), float(log_map), float(n)

    def _criteria(self, X, sample_weight=None):
        """``(log L, BIC, ICL)`` from a single pass over X."""
        loglik, log_map, n = self._criterion_terms(X, sample_weight)
        bic = -2.0 * loglik + self._n_parameters() * math.log(n)
        return loglik, bic, bic - 2.0 * log_map

    def bic(self, X, sample_weight=None):
        """Bayesian information criterion; lower is better.

        ``BIC = -2 log L + p log n``, with ``p`` free parameters and ``n``
        rows (the total weight with ``sample_weight``). mclust reports
        ``2 log L - p log n``, the negative.
        """
        return self._criteria(X, sample_weight)[1]

    def aic(self, X, sample_weight=None):
        """Akaike information criterion ``-2 log L + 2 p``; lower is better."""
        loglik, _, _ = self._criterion_terms(X, sample_weight)
        return -2.0 * loglik + 2.0 * self._n_parameters()

    def icl(self, X, sample_weight=None):
        """Integrated complete-data likelihood criterion; lower is better.

        ``ICL = BIC - 2 sum_i log max_k r_ik``: BIC plus a penalty for rows
        whose component is uncertain (Biernacki, Celeux & Govaert, 2000),
        computed with the hard (MAP) labels as mclust does. mclust reports
        the negative.
        """
        return self._criteria(X, sample_weight)[2]

    # ------------------------------------------------------------ files
    def save(self, path):
        """Save the fitted model to ``path``: arrays plus JSON metadata, no pickle.

        The file is written atomically; :func:`gaussmix.load` reads it back
        exactly. Feature names, the covariance model, the hyper-parameters and
        the gaussmix version travel with it.
        """
        from .io import save_model

        save_model(self, path)

    # ------------------------------------------------------------ verbose
    def _say_init_start(self, init):
        self._init_t0 = self._iter_t0 = time.time()
        logger.info("initialisation %d", init)
        if self.verbose >= 1:
            print(f"Initialization {init}")

    def _say_iteration(self, n_iter, lower_bound, change):
        if self.verbose >= 1 and n_iter % self.verbose_interval == 0:
            if self.verbose == 1:
                print(f"  Iteration {n_iter}")
            else:
                now = time.time()
                print(
                    f"  Iteration {n_iter}\t time lapse {now - self._iter_t0:.5f}s\t "
                    f"ll change {change:.5f}"
                )
                self._iter_t0 = now

    def _say_init_end(self, result):
        status = "converged" if result.converged else "did not converge"
        logger.info("initialisation %s, lower bound %.6g", status, result.lower_bound)
        if self.verbose == 1:
            print(f"Initialization {status}.")
        elif self.verbose >= 2:
            print(
                f"Initialization {status}. time lapse {time.time() - self._init_t0:.5f}s\t "
                f"lower bound {result.lower_bound:.5f}."
            )
