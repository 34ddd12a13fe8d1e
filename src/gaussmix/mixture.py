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
from ._chunks import auto_chunk_size, chunk_slices
from ._em import MixtureParams, m_step, resp_statistics, run_em
from ._estep import log_resp_from_weighted, weighted_log_prob
from ._init import INIT_METHODS, initial_resp
from ._structures import STRUCTURES
from .models import get_model

logger = logging.getLogger("gaussmix")


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
        X = val.check_X(self, X, reset=True, min_samples=2)
        n_samples, n_features = X.shape
        if model.univariate and n_features != 1:
            raise ValueError(
                f"covariance_type={model.code!r} is a one-dimensional model, but X has "
                f"{n_features} features; use a multivariate model (EII and VII are "
                f"their counterparts) or one column of X."
            )
        val.check_n_samples(n_samples, self.n_components)
        weights = val.check_sample_weight(sample_weight, n_samples, self.n_components)
        total_weight = float(n_samples if weights is None else weights.sum())
        chunk_size = self._chunk_size(n_features)
        user_init = self._checked_user_init(model, sklearn_layout, n_features)
        start = self.resp_init if resp_start is None else resp_start
        resp_init = (
            None if start is None else val.check_resp_init(start, n_samples, self.n_components)
        )

        do_init = not (self.warm_start and hasattr(self, "converged_"))
        n_init = self.n_init if do_init else 1
        random_state = check_random_state(self.random_state)

        best = None
        for init in range(n_init):
            self._say_init_start(init)
            if do_init:
                params = self._initial_params(
                    X, weights, model, user_init, resp_init, random_state, chunk_size
                )
                lower_bound = -math.inf
            else:
                params = self._params()
                lower_bound = self.lower_bound_
            result = run_em(
                X,
                weights,
                model,
                params,
                reg_covar=self.reg_covar,
                tol=self.tol,
                max_iter=self.max_iter,
                chunk_size=chunk_size,
                total_weight=total_weight,
                lower_bound=lower_bound,
                on_iteration=self._say_iteration,
            )
            if self.max_iter > 0:
                self._say_init_end(result)
            if best is None or result.lower_bound > best.lower_bound:
                best = result

        if not best.converged and self.max_iter > 0:
            warnings.warn(
                f"EM did not converge in max_iter={self.max_iter} iterations "
                f"(best of {n_init} initialisation(s); last change of the mean "
                f"log-likelihood above tol={self.tol:g}). Increase max_iter or tol, "
                f"try other init_params, or check for degenerate data.",
                ConvergenceWarning,
                stacklevel=3,
            )
        if best.emptied:
            warnings.warn(
                f"component(s) {sorted(best.emptied)} lost all their weight during EM; "
                f"they keep their last mean and covariance and a weight near 0. "
                f"Fit fewer components.",
                DegenerateComponentWarning,
                stacklevel=3,
            )
        self._set_params_from(best.params, model, sklearn_layout)
        self._warn_collapsed(model, best.collapsed)
        self.converged_ = bool(best.converged)
        self.n_iter_ = int(best.n_iter)
        self.lower_bound_ = float(best.lower_bound)
        self.lower_bounds_ = [float(v) for v in best.lower_bounds]

    def _chunk_size(self, n_features):
        if self.chunk_size is not None:
            return int(self.chunk_size)
        return auto_chunk_size(self.n_components, n_features)

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

    def _initial_params(self, X, weights, model, user_init, resp_init, random_state, chunk_size):
        """Starting parameters: an M-step from the initial responsibilities,
        then whatever the user fixed with ``*_init``."""
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
    def _check_fitted_X(self, X):
        check_is_fitted(self)
        return val.check_X(self, X, reset=False)

    def _weighted_log_prob_chunks(self, X):
        """Yield ``(slice, log pi_k + log N(x | k))`` chunk by chunk."""
        params = self._params()
        eparams = params.estep_params(np, X.dtype)
        for sl in chunk_slices(X.shape[0], self._chunk_size(X.shape[1])):
            yield sl, weighted_log_prob(X[sl], eparams)

    def score_samples(self, X):
        """Log-density ``log p(x)`` of each row under the mixture.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
        """
        X = self._check_fitted_X(X)
        out = np.empty(X.shape[0], dtype=X.dtype)
        for sl, wlp in self._weighted_log_prob_chunks(X):
            out[sl] = log_resp_from_weighted(wlp)[0]
        return out

    def score(self, X, y=None, sample_weight=None):
        """Mean log-likelihood per row (weighted by ``sample_weight`` if given).

        Returns
        -------
        log_likelihood : float
        """
        scores = self.score_samples(X).astype(np.float64)
        weights = val.check_sample_weight(sample_weight, scores.shape[0], 1)
        return float(np.average(scores, weights=weights))

    def predict_proba(self, X):
        """Responsibilities ``r_ik``: the posterior probability of each component.

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
            Each row sums to 1.
        """
        X = self._check_fitted_X(X)
        out = np.empty((X.shape[0], self.n_components), dtype=X.dtype)
        for sl, wlp in self._weighted_log_prob_chunks(X):
            out[sl] = np.exp(log_resp_from_weighted(wlp)[1])
        return out

    def predict(self, X):
        """The most probable component of each row (hard assignment).

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        X = self._check_fitted_X(X)
        out = np.empty(X.shape[0], dtype=np.intp)
        for sl, wlp in self._weighted_log_prob_chunks(X):
            out[sl] = np.argmax(wlp, axis=1)
        return out

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
        X = self._check_fitted_X(X)
        weights = val.check_sample_weight(sample_weight, X.shape[0], 1)
        log_prob = np.empty(X.shape[0])
        log_map = np.empty(X.shape[0])
        for sl, wlp in self._weighted_log_prob_chunks(X):
            log_prob_norm, log_resp = log_resp_from_weighted(wlp)
            log_prob[sl], log_map[sl] = log_prob_norm, np.max(log_resp, axis=1)
        if weights is None:
            return float(log_prob.sum()), float(log_map.sum()), float(X.shape[0])
        return float(weights @ log_prob), float(weights @ log_map), float(weights.sum())

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
