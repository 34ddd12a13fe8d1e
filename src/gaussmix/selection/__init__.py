r"""Model selection: fit every (covariance model, K) cell and rank by BIC or ICL.

This is mclust's ``Mclust``/``mclustBIC`` in scikit-learn's sign: for every
covariance model and number of components a mixture is fitted from the same
starting partition (mclust's hierarchical agglomeration by default), and the
cell with the lowest criterion wins. A cell whose fit fails (a covariance that
cannot be inverted, say, or one so near singular that mclust rejects it:
``selection.singular``) gets NaN and the reason, as mclust's table gets NA.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import numbers
import os
import warnings

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from sklearn import config_context, get_config

from .. import validation as val
from ..backends.dask import is_dask_collection
from ..conjugate import as_prior
from ..engine.threads import single_threaded_blas
from ..estimators import GaussianMixture, sharing_starts
from ..estimators.data import placed_source
from ..namespaces import placement_of
from ..estimators.noise import NOISE_ON_NUMPY_ONLY, log_noise_density, noise_rows
from ..updaters.noise import NOT_WITH_MISSING
from ..init import INIT_METHODS
from ..models import available_models, get_model
from ..randomness import check_random_state
from .bootstrap import bootstrap_lrt
from .result import BootstrapLRTResult, SelectionResult
from .cells import cell_groups, fit_cell, fit_cells
from .starts import hc_starts, mclust_tol

__all__ = ["BootstrapLRTResult", "SelectionResult", "bootstrap_lrt", "select"]

CRITERIA = ("bic", "icl")
logger = logging.getLogger("gaussmix")


def select(
    X,
    n_components=None,
    covariance_types="all",
    criterion="bic",
    *,
    sample_weight=None,
    init_params="hc",
    reg_covar=0.0,
    tol=1e-5,
    max_iter=1000,
    random_state=None,
    n_jobs=-1,
    prior=None,
    nan_policy="marginalize",
    noise_init=None,
    noise_density=None,
):
    """Choose the covariance model and number of components by BIC or ICL.

    Fits a :class:`GaussianMixture` for every pair of ``n_components`` and
    ``covariance_types`` and keeps the one with the lowest criterion, as
    mclust's ``Mclust`` does (whose BIC is our BIC's negative).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    n_components : iterable of int, default=None
        The numbers of Gaussian components to try; None is ``range(1, 10)``,
        or ``range(0, 10)`` with a noise component (0: the noise alone).
    covariance_types : "all" or list of str, default="all"
        ``"all"`` is mclust's 14 models, or E and V for one-dimensional data.
        Any registered code or scikit-learn name may be listed.
    criterion : {"bic", "icl"}, default="bic"
    sample_weight : array-like of shape (n_samples,), default=None
        Weights for every fit and criterion. The hierarchical start uses the
        rows of positive weight, unweighted.
    init_params : {"hc", "kmeans", "k-means++", "random", "random_from_data"}, \
            default="hc"
        ``"hc"`` is mclust's model-based hierarchical agglomeration; every
        cell with the same K starts from the same partition, as in mclust.
    reg_covar : float, default=0.0
        As in :class:`GaussianMixture`. The default, mclust's, lets a
        singular covariance fail its cell (NaN) instead of winning it, and
        so does a near-singular one, by mclust's test (``selection.singular``).
    tol : float, default=1e-5
        Relative EM tolerance, as mclust's: a fit stops when the change of the
        log-likelihood falls below ``tol * (1 + |log L|)``. ``|log L|`` is
        taken from the one-component fit, which sets the scale for every
        cell, so each cell runs a :class:`GaussianMixture` with
        ``tol = tol * (1 + |log L_1|) / n``.
    max_iter : int, default=1000
    random_state : int, RandomState instance or None, default=None
        For the subsample of the hierarchical start on large data, and for
        the other ``init_params``.
    n_jobs : int, default=-1
        Cells fitted in parallel with joblib: ``-1`` uses every core, ``1``
        (or None) fits them one after another. On 2 cores the 14 x 9 iris
        grid took 0.15 s in parallel and 0.17 s in sequence (medians of 16
        alternating rounds; README, "Benchmarks").
    prior : None, "default" or ConjugatePrior, default=None
        A conjugate prior for every cell, as in :class:`GaussianMixture`;
        ``"default"`` makes this ``mclustBIC(X, prior = priorControl())``
        (BIC at the MAP estimates), but with EVE, VEE, VVE and EVV too.
    nan_policy : {"marginalize", "omit", "raise"}, default="marginalize"
        As in :class:`GaussianMixture`. With ``"marginalize"`` every cell is
        fitted to the observed values and ranked by the BIC of the observed
        data (n counts the rows with something observed); the hierarchical
        tree is grown on the complete rows when there are enough of them
        (``init.start_rows``), else on mean-filled rows, and every cell
        starts from an E-step on the marginal densities.
    noise_init : None, "knn" or array-like of bool of shape (n_samples,), default=None
        A uniform noise component in every cell, as in
        :class:`GaussianMixture` and mclust's ``Mclust(X, initialization =
        list(noise = noise_init))``: the rows first deemed noise, or
        ``"knn"`` (found once, for every cell). The hierarchical tree is grown
        on the other rows. Each cell counts two more parameters (the noise's
        weight and density), and ``K = 0``, the noise alone, has
        ``BIC = -2 n log(density) + log n`` in every column; if it wins,
        ``best_`` is None. X must then hold no NaN.
    noise_density : float, default=None
        The noise's density; None is ``1 / hypvol(X)`` (``gaussmix.outliers``).

    Returns
    -------
    SelectionResult

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from gaussmix import select
    >>> result = select(load_iris().data, n_components=range(1, 4),
    ...                 covariance_types=["VEV", "VVV", "EEE"])
    >>> best = result.best_
    >>> (best.covariance_type, best.n_components)
    ('VEV', 2)
    """
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}, got {criterion!r}.")
    for name, value in (("tol", tol), ("reg_covar", reg_covar)):
        if not isinstance(value, numbers.Real) or isinstance(value, bool) or not value >= 0:
            raise ValueError(f"{name} must be a non-negative number, got {value!r}.")
    if not isinstance(max_iter, numbers.Integral) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}.")
    if noise_density is not None and not (
        isinstance(noise_density, numbers.Real) and not isinstance(noise_density, bool)
        and 0 < noise_density < math.inf
    ):
        raise ValueError(
            f"noise_density must be a positive finite number (or None for 1 / hypvol(X)), got "
            f"{noise_density!r}."
        )
    checker = GaussianMixture()
    if isinstance(X, (str, os.PathLike)) or hasattr(X, "iter_chunks") or is_dask_collection(X):
        # hc and the n x K starts of every cell need the rows in memory.
        raise ValueError(
            "select needs X as an array in memory. For data larger than memory, "
            "select on a sample of rows, then fit the chosen model to all of them "
            "with GaussianMixture(...).fit(source)."
        )
    if nan_policy not in val.NAN_POLICIES:
        raise ValueError(f"nan_policy must be one of {list(val.NAN_POLICIES)}, got {nan_policy!r}.")
    placement = placement_of(X)
    keep, noise = None, None
    if placement is not None:  # another library's array, fitted on its device
        if noise_init is not None:
            raise ValueError(NOISE_ON_NUMPY_ONLY)
        source = placed_source(checker.set_params(nan_policy=nan_policy), X, sample_weight, placement,
                               reset=True)
        X, weights, has_nan, keep = source.X, source.sample_weight, False, source.rows
    else:
        X = val.check_X(checker, X, reset=True, min_samples=2, finite=False)
        has_nan = val.check_finite(X, allow_nan=nan_policy != "raise")
        weights = val.check_sample_weight(sample_weight, X.shape[0], 1)
    names = getattr(checker, "feature_names_in_", None)
    if nan_policy == "omit" and has_nan:
        keep = ~np.isnan(X).any(axis=1)
        X, weights, has_nan = X[keep], None if weights is None else weights[keep], False
    if noise_init is not None:
        if has_nan:
            raise ValueError(NOT_WITH_MISSING)
        noise = noise_rows(noise_init, X, weights, keep)
        log_density = log_noise_density(X, noise_density, weights)
    elif noise_density is not None:
        raise ValueError("noise_density is set but noise_init is None: give noise_init too.")
    n_samples, n_features = X.shape
    if n_components is None:
        n_components = range(0 if noise is not None else 1, 10)
    ks = _check_n_components(n_components, n_samples, allow_zero=noise is not None)
    codes = _check_covariance_types(covariance_types, n_features)
    if placement is not None:  # no NaN: every row counts
        n_positive = X.shape[0] if weights is None else int(placement.xp.count_nonzero(weights > 0))
    else:
        counted = ~np.isnan(X).all(axis=1)  # rows with something observed
        signal = counted if noise is None else counted & ~noise  # rows the Gaussians start on
        n_positive = int(np.count_nonzero(signal if weights is None else signal & (weights > 0)))
    if ks[-1] > n_positive:
        raise ValueError(
            f"n_components goes up to {ks[-1]}, more than the {n_positive} rows of positive "
            f"weight with something observed{' outside the noise' if noise is not None else ''}; "
            f"lower it."
        )
    rng = check_random_state(random_state)
    params = dict(reg_covar=reg_covar, tol=mclust_tol(X, weights, tol), max_iter=max_iter,
                  prior=as_prior(prior), nan_policy=nan_policy, noise_init=noise, noise_density=noise_density)
    gaussian_ks = [K for K in ks if K > 0]

    if not gaussian_ks:  # the noise alone
        partitions = {}
    elif init_params == "hc" and noise is not None:
        # As mclust: the tree is grown on the rows outside the noise.
        partitions = hc_starts(X[~noise], None if weights is None else weights[~noise], gaussian_ks, rng)
    elif init_params == "hc":
        partitions = hc_starts(X, weights, gaussian_ks, rng)
    elif init_params in INIT_METHODS:
        params.update(init_params=init_params, random_state=rng.randint(2**31 - 1))
        partitions = {K: None for K in gaussian_ks}
    else:
        raise ValueError(
            f"init_params={init_params!r} is not supported; choose 'hc' or one of "
            f"{list(INIT_METHODS)}."
        )

    cells = [(K, code) for K in gaussian_ks for code in codes]
    # For the cells on other threads or processes (array_api_dispatch). Every
    # parameter a cell's GaussianMixture gets was checked above, so the cells
    # skip scikit-learn's parameter validation (0.3 ms a fit, two fits a cell).
    outer = get_config()
    config = dict(outer, skip_parameter_validation=True)
    # Cells run one after another in this thread: BLAS is set to one thread
    # once for all of them, where each cell set and restored it (about 60 us
    # a cell, 4% of a select on 145 rows), and so is the configuration
    # (``cells.holding_config``). Not around workers: a worker thread's
    # k-means waits for this thread's BLAS setting to end.
    sequential = effective_n_jobs(n_jobs) == 1
    blas = single_threaded_blas() if sequential else contextlib.nullcontext()
    configured = config_context(**config) if sequential else contextlib.nullcontext()
    # The models of one K start from one array there, and share its check
    # and statistics (``estimators.sharing``; 100 us of a cell's 1.2 ms on
    # 145 rows). A worker's run of cells shares its own (``cells.fit_cells``).
    with blas, configured, sharing_starts():
        if sequential:
            outcomes = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
                delayed(fit_cell)(X, weights, K, code, partitions[K], params, config) for K, code in cells
            )
        else:
            # Workers take runs of cells, which share their starts there
            # (one task a cell lost that, and sent X with each: on 145 rows
            # two processes took longer than one).
            runs = cell_groups(cells, effective_n_jobs(n_jobs))
            # One run a dispatch: joblib's automatic batching grew its batches
            # on runs this short and sent the last ones to one worker.
            outcomes = itertools.chain.from_iterable(Parallel(n_jobs=n_jobs, return_as="generator_unordered",
                                                              batch_size=1)(
                delayed(fit_cells)(X, weights, run, {K: partitions[K] for K, _ in run}, params, config)
                for run in runs
            ))
        results = {}
        for done, (cell, outcome) in enumerate(outcomes, start=1):
            results[cell] = outcome
            if logger.isEnabledFor(logging.INFO):
                # Handlers (a progress display) run under the caller's
                # configuration, not the cells' skipped checks.
                with config_context(**outer):
                    logger.info(
                        "cell %s,%d done (%d of %d)", cell[1], cell[0], done, len(cells),
                        extra={"gaussmix_cell": (done, len(cells), cell)},
                    )

    shape = (len(ks), len(codes))
    bic, icl, loglik = np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan)
    n_iter = np.full(shape, np.nan)
    n_params = np.zeros(shape, dtype=int)
    errors, fitted, notes = {}, {}, {}
    for K, code in cells:
        gm, b, c, ll, err, messages = results[(K, code)]
        i, j = ks.index(K), codes.index(code)
        bic[i, j], icl[i, j], loglik[i, j] = b, c, ll
        n_params[i, j] = get_model(code)[0].n_parameters(K, n_features) + (0 if noise is None else 2)
        if messages:
            notes[(K, code)] = messages
        if err is None:
            if names is not None:  # the cells saw an array; the names are the user's
                gm.feature_names_in_ = names
            fitted[(K, code)] = gm
            n_iter[i, j] = gm.n_iter_
        else:
            errors[(K, code)] = err
    if 0 in ks:
        i = ks.index(0)
        bic[i], icl[i], loglik[i], n_params[i] = _noise_alone(X, weights, log_density)
        n_iter[i] = 0
    if not fitted and 0 not in ks:
        raise ValueError(
            "every cell failed to fit; first reason: "
            + next(iter(errors.values())).rstrip(".")
            + ". Try a positive reg_covar, fewer components or scaled data."
        )
    table = bic if criterion == "bic" else icl
    i, j = np.unravel_index(np.nanargmin(table), table.shape)
    if ks[i] == 0:
        warnings.warn("the noise alone (K=0) has the best criterion: the data show no cluster; "
                      "best_ is None.", UserWarning, stacklevel=2)
    return SelectionResult(
        best_=fitted.get((ks[i], codes[j])),
        criterion=criterion,
        n_components=ks,
        covariance_types=codes,
        bic_=bic,
        icl_=icl,
        loglik_=loglik,
        n_parameters_=n_params,
        errors_=errors,
        warnings_=notes,
        n_iter_=n_iter,
    )


def _noise_alone(X, weights, log_density):
    """``(BIC, ICL, log L, parameters)`` of the noise alone: every row of log-density ``log_density``.

    mclust's ``G = 0`` with noise: ``log L = n log(density)`` and one
    parameter (the density); every row is noise for certain, so ICL is BIC.
    """
    n = float(X.shape[0] if weights is None else weights.sum())
    log_likelihood = n * log_density
    bic = -2.0 * log_likelihood + math.log(n)
    return bic, bic, log_likelihood, 1


def _check_n_components(n_components, n_samples, allow_zero=False):
    try:
        values = list(n_components)
    except TypeError:
        raise ValueError("n_components must be an iterable of positive integers, for example range(1, 10).") from None
    if isinstance(n_components, str) or not values or not all(
        isinstance(k, numbers.Integral) and not isinstance(k, bool) and k >= (0 if allow_zero else 1)
        for k in values
    ):
        raise ValueError(
            f"n_components must hold positive integers, for example range(1, 10) (with a noise "
            f"component 0 too); got {n_components!r}."
        )
    ks = sorted({int(k) for k in values})
    if ks[-1] > n_samples:
        raise ValueError(
            f"n_components goes up to {ks[-1]}, more than the {n_samples} rows of X."
        )
    return ks


def _check_covariance_types(covariance_types, n_features):
    if isinstance(covariance_types, str) and covariance_types == "all":
        return available_models(n_features=n_features)
    if isinstance(covariance_types, str):
        covariance_types = [covariance_types]
    try:
        codes = list(dict.fromkeys(covariance_types))
    except TypeError:
        raise ValueError(
            f"covariance_types must be 'all' or a list of model names, got {covariance_types!r}."
        ) from None
    if not codes:
        raise ValueError("covariance_types is empty; give at least one model, or 'all'.")
    for code in codes:
        model, _ = get_model(code)  # raises with the list of known names
        if model.univariate and n_features != 1:
            raise ValueError(
                f"covariance type {code!r} is one-dimensional, but X has {n_features} features."
            )
    return codes
