r"""The sequential parametric bootstrap likelihood-ratio test for the number of components.

mclust's ``mclustBootstrapLRT`` (McLachlan, 1987; McLachlan & Rathnayake,
2014), read in mclust 6 and written anew here. For one covariance model it
tests ``H0: G`` components against ``H1: G + 1`` for ``G = 1, 2, ...``:

* The observed statistic is ``LRT_G = 2 (log L_{G+1} - log L_G)`` for the
  fits to X that start, as :func:`gaussmix.select`'s do, from mclust's
  hierarchical agglomeration. EM need not find the global maximum, so the
  statistic can be negative (faithful's 3 vs 4 is, in mclust too).
* Its distribution under ``H0`` is bootstrapped: sample b draws n rows from
  the fitted G-component mixture, fits G components to them by EM starting
  from that fit and G + 1 components starting from the (G+1)-component fit
  to X, and records ``LRT*_b = 2 (log L*_{G+1} - log L*_G)``. A sample whose
  fits fail (a component that empties, a covariance that turns singular at
  any iteration, a non-finite log-likelihood) is drawn again, as mclust
  draws again where its ``em`` returns NA.
* The p-value counts the bootstrap statistics at least as large as the
  observed one, the observed one included:
  ``p_G = (1 + #{b : LRT*_b >= LRT_G}) / (B + 1)``.
* The sequential rule stops at the first G whose test is not significant
  (``p_G > level``) and chooses that G; when every test is, it chooses one
  more than the last G tested.

A log-likelihood here is the one EM's last E-step computed, as mclust
reports it, so that the observed statistics equal mclust's (the fitted
parameters are one M-step further on, which moves ``log L`` by less than the
tolerance). Each replicate has its own random stream, spawned up front from
``random_state``, so the results do not depend on ``n_jobs`` nor on the
joblib backend that runs them.
"""

from __future__ import annotations

import logging
import math
import numbers
import time
import warnings

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs

from .. import validation as val
from ..estimators import GaussianMixture
from ..exceptions import DegenerateComponentWarning
from ..models import get_model
from .result import BootstrapLRTResult
from .replicates import FIT_ERRORS, run_chunk
from .singular import near_singular_reason
from .starts import cell_start, hc_starts, mclust_tol

__all__ = ["bootstrap_lrt"]

logger = logging.getLogger("gaussmix")

#: mclust's default G = 1:9, that is 8 tests.
DEFAULT_MAX_COMPONENTS = 8


def _em_log_likelihood(gm, n_samples):
    """The log-likelihood of EM's last E-step (mclust's ``loglik``)."""
    return gm.lower_bound_ * n_samples


def _observed_fit(X, K, code, partition, tol, max_iter, first_tol):
    """The hc-started fit of K components to X, as a cell of ``select``.

    mclust stops EM when ``|change of log L| / (1 + |log L|) < tol``; our EM
    takes an absolute tolerance, so a first fit (with ``select``'s scale,
    the one-component fit's) finds ``log L`` and a second, from the same
    start, stops where mclust's relative criterion does. On acidity's three
    components, which converge slowly, the first alone stops 8 iterations
    early and misses mclust's statistic by 15%.
    """
    resp = cell_start(X, None, K, code, partition, 0.0, None)
    n_samples = X.shape[0]
    absolute, loglik = first_tol, None
    for _ in range(2):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            gm = GaussianMixture(K, covariance_type=code, init_params="hc", resp_init=resp,
                                 reg_covar=0.0, tol=absolute, max_iter=max_iter).fit(X)
        degenerate = [w for w in caught if issubclass(w.category, DegenerateComponentWarning)]
        if degenerate:
            # A component emptied or its covariance turned singular: mclust's
            # fit gives NA there, as the bootstrap's refits do here.
            raise ValueError(str(degenerate[0].message))
        loglik = _em_log_likelihood(gm, n_samples)
        if not np.isfinite(loglik):
            raise ValueError("the fitted log-likelihood is not finite")
        absolute = tol * (1.0 + abs(loglik)) / n_samples
    # mclust's rule, as in select: a component shrunk onto a few rows is a failed fit.
    reason = near_singular_reason(gm, "the fit", X, gm.predict_proba(X))
    if reason is not None:
        raise ValueError(reason)
    gm.set_params(resp_init=None)  # not an n x K matrix kept in the model
    return gm, loglik


def _bootstrap(null, alternative, n_samples, seeds, tols, max_iter, n_jobs, verbose):
    """All replicates of one test, in chunks spread over joblib's workers."""
    # A few chunks per worker: few enough that the fits, not the
    # dispatch, dominate; enough that the workers finish together.
    n_chunks = min(len(seeds), 4 * max(1, effective_n_jobs(n_jobs)))
    bounds = np.linspace(0, len(seeds), n_chunks + 1).astype(int)
    chunks = [(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
    outcomes = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
        delayed(run_chunk)(a, null, alternative, n_samples, seeds[a:b], tols, max_iter)
        for a, b in chunks
    )
    statistics, redrawn, done = np.empty(len(seeds)), 0, 0
    for start, (values, again) in outcomes:
        statistics[start:start + len(values)] = values
        redrawn += again
        done += len(values)
        if verbose >= 2:
            print(f"  {done}/{len(seeds)} replicates", flush=True)
    return statistics, redrawn


def bootstrap_lrt(
    X,
    covariance_type,
    max_components=None,
    n_boot=999,
    *,
    level=0.05,
    sequential=True,
    tol=1e-5,
    max_iter=1000,
    random_state=None,
    n_jobs=None,
    verbose=0,
):
    r"""Choose the number of components by a sequential bootstrap likelihood-ratio test.

    mclust's ``mclustBootstrapLRT``: for ``G = 1, 2, ...`` it tests G
    components against G + 1 for one covariance model with the statistic

    .. math::

        \mathrm{LRT}_G = 2\,(\log L_{G+1} - \log L_G),

    from fits to X that start from mclust's hierarchical agglomeration, as
    :func:`gaussmix.select` does. Its null distribution is bootstrapped: each
    of ``n_boot`` samples of n rows is drawn from the fitted G-component
    mixture, and fitted with G components (EM starting from that fit) and
    G + 1 (EM starting from the (G+1)-component fit to X); a sample whose
    fits fail is drawn again. The p-value is

    .. math::

        p_G = \frac{1 + \#\{b : \mathrm{LRT}^*_{G,b} \ge \mathrm{LRT}_G\}}{B + 1}.

    With ``sequential=True`` the tests stop at the first G with
    ``p_G > level``, which is the chosen number of components.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Finite values only.
    covariance_type : str
        One covariance model: an mclust code (``"EEE"``, ``"VVV"``, ``"E"``,
        ``"V"``, ...) or a scikit-learn name (``"full"``, ...).
    max_components : int, default=None
        The largest G of a null hypothesis: the last test is
        ``max_components`` against ``max_components + 1`` components, as
        mclust's ``maxG``. ``None`` is mclust's default, 8 (at most n - 1).
    n_boot : int, default=999
        Bootstrap samples per test, mclust's ``nboot``. The p-value's
        Monte Carlo standard error is about ``sqrt(p (1 - p) / n_boot)``.
    level : float, default=0.05
        A test is significant when ``p <= level``.
    sequential : bool, default=True
        Stop at the first test that is not significant. ``False`` runs every
        test up to ``max_components`` (the chosen G still follows the
        sequential rule). mclust stops only when ``maxG`` is not given:
        ``mclustBootstrapLRT(X, m, maxG = 3)`` is ``max_components=3,
        sequential=False``, and ``mclustBootstrapLRT(X, m)`` is the defaults.
    tol : float, default=1e-5
        mclust's relative EM tolerance, as in :func:`gaussmix.select`. The
        bootstrap fits of G components scale it by the observed fit's
        ``|log L_G|``, as mclust's relative criterion does.
    max_iter : int, default=1000
        EM iterations per fit at most.
    random_state : int, RandomState, Generator or None, default=None
        Seeds the bootstrap samples: every replicate draws from its own
        stream spawned (numpy's ``SeedSequence``, a PCG64 generator) from
        this seed, so the results are the same for any ``n_jobs`` or
        backend.
    n_jobs : int, default=None
        Replicates run in parallel with joblib; ``-1`` uses every core,
        ``None`` means 1 unless inside a ``joblib.parallel_backend`` context.
        To run them on a Dask cluster, call this function inside
        ``with joblib.parallel_backend("dask"):`` with a
        ``dask.distributed.Client`` open.
    verbose : int, default=0
        1 prints a line per test; 2 also the progress within a test.

    Returns
    -------
    BootstrapLRTResult
        Observed statistics, p-values, bootstrap distributions, the chosen
        number of components and its fitted mixture; ``print`` it for
        mclust's table, ``.plot()`` for the distributions.

    Notes
    -----
    There is no ``sample_weight``: the bootstrap draws n unweighted rows,
    and weights that are not counts of repeated rows have no such n
    (mclust's function takes none either). Where this differs from mclust:
    samples are drawn from, and EM restarts at, the fitted parameters, which
    are one M-step past those of mclust's reported log-likelihood (a change
    of ``log L`` below the tolerance); mclust draws again for ever where a
    replicate keeps failing, and this function gives up after 100 draws; and
    the random streams are numpy's, so the bootstrap values match mclust's in
    distribution, not one by one. On faithful (EEE) and acidity (E) the
    observed statistics equal mclust's to 1e-12 and the chosen G is the
    same; the tests compare the p-values and distributions.

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix import bootstrap_lrt
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(0, 1, (60, 2)), rng.normal(6, 1, (60, 2))])
    >>> result = bootstrap_lrt(X, "VII", n_boot=19, random_state=0)
    >>> result.n_components_
    2
    >>> float(result.p_values_[0])  # no sample of 19 reaches 1 vs 2's statistic
    0.05
    >>> result.n_components.tolist()  # the tests run: 1 vs 2, 2 vs 3
    [1, 2]
    """
    X, code, max_components, names = _check_inputs(X, covariance_type, max_components, n_boot, level,
                                                   tol, max_iter, sequential, verbose)
    if 1.0 / (n_boot + 1) > level:
        warnings.warn(f"with n_boot={n_boot} the smallest p-value, 1/(n_boot + 1) = {1 / (n_boot + 1):.3g}, "
                      f"is above level={level}: no test can be significant. Use n_boot >= "
                      f"{math.ceil(1 / level) - 1}.", UserWarning, stacklevel=2)
    n_samples = X.shape[0]
    root = np.random.SeedSequence(_entropy(random_state))
    hc_seed, *test_seeds = root.spawn(max_components + 1)
    first_tol = mclust_tol(X, None, tol)
    partitions = hc_starts(X, None, list(range(1, max_components + 2)),
                           np.random.RandomState(np.random.MT19937(hc_seed)))

    fits, logliks = [], []

    def fit_observed(K):
        try:
            gm, loglik = _observed_fit(X, K, code, partitions[K], tol, max_iter, first_tol)
        except FIT_ERRORS as exc:
            if K <= 2:
                raise ValueError(
                    f"the {K}-component {code} fit to X failed ({exc}); no test can be run. "
                    f"Try another covariance_type, or scaled data."
                ) from exc
            warnings.warn(f"the {K}-component {code} fit to X failed ({exc}); the last "
                          f"test is {K - 2} vs {K - 1} components.", UserWarning, stacklevel=3)
            return False
        fits.append(gm)
        logliks.append(loglik)
        return True

    fit_observed(1)
    observed, p_values, boot, redrawn = [], [], [], []
    for G in range(1, max_components + 1):
        if not fit_observed(G + 1):
            break
        began = time.perf_counter()
        statistic = 2.0 * (logliks[G] - logliks[G - 1])
        seeds = test_seeds[G - 1].spawn(n_boot)
        tols = [tol * (1.0 + abs(logliks[K - 1])) / n_samples for K in (G, G + 1)]
        values, again = _bootstrap(fits[G - 1], fits[G], n_samples, seeds, tols, max_iter,
                                   n_jobs, verbose)
        p_value = (1.0 + np.count_nonzero(values >= statistic)) / (n_boot + 1.0)
        observed.append(statistic)
        p_values.append(p_value)
        boot.append(values)
        redrawn.append(again)
        logger.info("bootstrap LRT %d vs %d: %.4f, p = %.4g", G, G + 1, statistic, p_value)
        if verbose:
            print(f"{G} vs {G + 1}: LRT = {statistic:.4f}, p = {p_value:.4g} "
                  f"({n_boot} samples, {again} redrawn, {time.perf_counter() - began:.1f} s)",
                  flush=True)
        if sequential and p_value > level:
            break

    p = np.asarray(p_values)
    not_significant = np.flatnonzero(p > level)
    chosen = int(not_significant[0]) + 1 if not_significant.size else len(p) + 1
    if names is not None:  # the fits saw an array; the names are the user's
        fits[chosen - 1].feature_names_in_ = names
    return BootstrapLRTResult(
        covariance_type=code,
        n_boot=n_boot,
        level=level,
        n_components=np.arange(1, len(p) + 1),
        statistics_=np.asarray(observed),
        p_values_=p,
        bootstrap_=np.column_stack(boot),
        n_components_=chosen,
        log_likelihoods_=np.asarray(logliks[: len(p) + 1]),
        n_redrawn_=np.asarray(redrawn, dtype=int),
        best_=fits[chosen - 1],
    )


def _entropy(random_state):
    """An int seed (or None) for ``SeedSequence`` from what scikit-learn accepts."""
    if random_state is None or isinstance(random_state, numbers.Integral):
        if random_state is not None and random_state < 0:
            raise ValueError(f"random_state must be a non-negative integer, got {random_state!r}.")
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(2**31 - 1))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**63 - 1))
    raise ValueError(
        f"random_state must be None, an int, a RandomState or a Generator, got {random_state!r}."
    )


def _check_inputs(X, covariance_type, max_components, n_boot, level, tol, max_iter,
                  sequential, verbose):
    checker = GaussianMixture()
    X = val.check_X(checker, X, reset=True, min_samples=2, finite=True)
    X = np.asarray(X, dtype=np.float64)
    names = getattr(checker, "feature_names_in_", None)
    n_samples, n_features = X.shape
    if not isinstance(covariance_type, str):
        raise ValueError(f"covariance_type must be one model's name, such as 'VVV', got "
                         f"{covariance_type!r}.")
    model, _ = get_model(covariance_type)  # raises with the list of known names
    if model.univariate != (n_features == 1):
        raise ValueError(
            f"covariance type {covariance_type!r} is for {'one' if model.univariate else 'several'}"
            f"-dimensional data, but X has {n_features} feature(s); use "
            f"{'E or V' if n_features == 1 else 'a multivariate model such as VVV'}."
        )
    if max_components is None:
        max_components = min(DEFAULT_MAX_COMPONENTS, n_samples - 1)
    if (not isinstance(max_components, numbers.Integral) or isinstance(max_components, bool)
            or not 1 <= max_components <= n_samples - 1):
        raise ValueError(
            f"max_components must be an integer from 1 to n_samples - 1 = {n_samples - 1} "
            f"(the last test fits max_components + 1 components), got {max_components!r}."
        )
    if not isinstance(n_boot, numbers.Integral) or isinstance(n_boot, bool) or n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer, such as 999, got {n_boot!r}.")
    if not isinstance(level, numbers.Real) or isinstance(level, bool) or not 0 < level < 1:
        raise ValueError(f"level must be a number strictly between 0 and 1, such as 0.05, got {level!r}.")
    if not isinstance(tol, numbers.Real) or isinstance(tol, bool) or not tol >= 0:
        raise ValueError(f"tol must be a non-negative number, got {tol!r}.")
    if not isinstance(max_iter, numbers.Integral) or isinstance(max_iter, bool) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}.")
    if not isinstance(sequential, (bool, np.bool_)):
        raise ValueError(f"sequential must be True or False, got {sequential!r}.")
    if not isinstance(verbose, numbers.Integral) or verbose < 0:
        raise ValueError(f"verbose must be 0, 1 or 2, got {verbose!r}.")
    return X, covariance_type, int(max_components), names
