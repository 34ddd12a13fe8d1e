r"""The EM driver: one loop of (E-step and statistics per chunk, merge, M-step).

Every iteration makes one pass over the data. For each chunk of rows it
computes the responsibilities under the current parameters (``_estep``) and
the chunk's weighted sufficient statistics (``_stats``); the statistics are
merged, and the covariance model turns them into new parameters on the host,
in float64. No array of shape (n_samples, n_components) is ever held whole.

The M-step shared by all models is

.. math::

    \pi_k = \frac{n_k}{\sum_j n_j}, \qquad \mu_k = \bar x_k,

and the covariance is the model's own function of ``(n_k, x̄_k, S_k)``.

The value traced per iteration is the weighted mean log-likelihood
``sum_i w_i log p(x_i) / sum_i w_i`` of the parameters *entering* that
iteration, which EM never decreases (Dempster, Laird & Rubin, 1977).
"""

from __future__ import annotations

import itertools
import logging
import math
from dataclasses import dataclass, field

import numpy as np
from array_api_compat import array_namespace

from . import _fast, _threads
from ._chunks import chunk_slices
from ._estep import EStepParams, e_step
from ._stats import accumulate, merge
from ._structures import STRUCTURES
from .models._base import empty_components, regularise

logger = logging.getLogger("gaussmix")


@dataclass
class MixtureParams:
    """Mixture parameters in a structure's layout, float64, on the host."""

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray | None
    precisions_cholesky: np.ndarray
    structure: str

    def estep_params(self, xp, dtype):
        return EStepParams.from_host(
            self.weights, self.means, self.precisions_cholesky, self.structure, xp, dtype
        )


@dataclass
class EMResult:
    """What one run of EM returns."""

    params: MixtureParams
    lower_bound: float
    lower_bounds: list = field(default_factory=list)
    n_iter: int = 0
    converged: bool = False
    emptied: set = field(default_factory=set)
    collapsed: np.ndarray | None = None
    #: The statistics of the last pass and their total weight (they seed
    #: ``partial_fit`` after ``fit``).
    stats: object = None
    total_weight: float = 0.0
    #: Stepwise EM's running statistics (``_online.OnlineState``), if it ran.
    online_state: object = None


def m_step(model, stats, reg_covar, previous=None):
    """Turn merged statistics into parameters (host, float64).

    Parameters
    ----------
    model : CovarianceModel
    stats : SuffStats
        Merged statistics, any namespace; converted to float64 NumPy here.
    reg_covar : float
        Added to the diagonal of every covariance estimate ``S_k / n_k``
        before the model's constraints (``models._base.regularise``).
    previous : MixtureParams, optional
        The parameters entering this step. A component whose total weight is
        (numerically) zero keeps its previous mean, and, when its covariance
        depends on nothing else (``model.coupling == "independent"``), its
        previous covariance: any value maximises its term of the EM
        objective, so the log-likelihood stays monotone and every parameter
        finite. In the other models it takes what the shared part of the
        M-step gives, so that the model's constraints still hold.

    Returns
    -------
    params : MixtureParams
    empty : ndarray of bool, shape (n_components,)
        Components that received no weight.
    collapsed : ndarray of bool, shape (n_components,)
        Components whose scatter (or, for pooled models, the pooled scatter)
        is singular, so that only ``reg_covar`` keeps them invertible.
    """
    stats = stats.to_numpy()
    nk = stats.nk
    struct = STRUCTURES[model.structure]
    empty = empty_components(nk)
    weights = nk / nk.sum()
    means = stats.means
    covariances = model.covariance_m_step(
        regularise(stats, reg_covar),
        previous=None if previous is None else previous.covariances,
    )
    if previous is not None and empty.any():
        means = means.copy()
        means[empty] = previous.means[empty]
        if model.coupling == "independent":
            covariances = struct.keep_components(covariances, previous.covariances, empty)
    if model.coupling == "pooled":
        pooled = stats.scatter.sum(axis=0, keepdims=True)
        collapsed = np.repeat(struct.collapsed(pooled, [nk.sum()], reg_covar), len(nk))
    else:
        collapsed = struct.collapsed(stats.scatter, nk, reg_covar) & ~empty
    prec_chol = struct.prec_chol_from_cov(covariances)
    params = MixtureParams(weights, means, covariances, prec_chol, model.structure)
    return params, empty, collapsed


def _xp_slice(a, sl):
    return None if a is None else a[sl, ...]


def chunk_statistics(Xc, wc, eparams, scatter):
    """The map of one iteration, for one chunk.

    Returns
    -------
    stats : SuffStats
        The chunk's weighted statistics under the responsibilities of ``eparams``.
    loglik : array scalar
        ``sum_i w_i log p(x_i)`` over the chunk's rows.
    weight : array scalar
        ``sum_i w_i`` (the number of rows without weights).
    """
    if _fast.supports(Xc):
        return _fast.chunk_statistics(Xc, wc, eparams, scatter)
    xp = array_namespace(Xc)
    log_prob_norm, resp = e_step(Xc, eparams)
    lp = xp.astype(log_prob_norm, xp.float64)
    if wc is None:
        weight = xp.asarray(float(Xc.shape[0]), dtype=xp.float64)
    else:
        wc64 = xp.astype(wc, xp.float64)
        # A zero weight cancels the row even where its density underflowed.
        lp = xp.where(wc64 > 0, lp * wc64, xp.zeros_like(lp))
        weight = xp.sum(wc64)
    return accumulate(Xc, resp, wc, kind=scatter), xp.sum(lp), weight


def merge_results(a, b):
    """The reduce: combine two ``chunk_statistics`` results (associative)."""
    return merge(a[0], b[0]), a[1] + b[1], a[2] + b[2]


def statistics_pass(chunks, params, scatter):
    """One E-step pass over ``chunks``, an iterable of ``(X_chunk, weight_chunk)``.

    Returns ``(stats, loglik, total_weight)``: the merged statistics and, as
    Python floats, the weighted log-likelihood and the total weight. NumPy
    chunks run on a pool of threads (``_threads``); the results are merged
    in chunk order either way.
    """
    chunks = iter(chunks)
    first = next(chunks, None)
    if first is None:
        raise ValueError("the data have no rows: there is nothing to fit.")
    eparams = params.estep_params(array_namespace(first[0]), first[0].dtype)
    second = next(chunks, None)
    chunks = itertools.chain([first] if second is None else [first, second], chunks)
    total = None
    # One chunk gains nothing from the pool but its hand-over costs.
    if _fast.supports(first[0]):
        _fast.plan_of(eparams)  # once, before the threads share it
        # BLAS on one thread always, so that the bits do not depend on the
        # number of threads (BLAS blocks its sums by its thread count).
        with _threads.single_threaded_blas():
            results = (
                _threads.map_ordered(lambda c: chunk_statistics(c[0], c[1], eparams, scatter), chunks)
                if second is not None and _threads.usable()
                else (chunk_statistics(Xc, wc, eparams, scatter) for Xc, wc in chunks)
            )
            for result in results:
                total = result if total is None else merge_results(total, result)
    else:
        for Xc, wc in chunks:
            result = chunk_statistics(Xc, wc, eparams, scatter)
            total = result if total is None else merge_results(total, result)
    # The scalars read back to the host per iteration.
    return total[0], float(total[1]), float(total[2])


def resp_statistics(X, sample_weight, resp_for_chunk, scatter, chunk_size):
    """Merged statistics for given responsibilities (used to initialise)."""
    xp = array_namespace(X)
    stats = None
    for sl in chunk_slices(X.shape[0], chunk_size):
        resp = xp.asarray(resp_for_chunk(sl), dtype=xp.float64)
        chunk_stats = accumulate(X[sl, ...], resp, _xp_slice(sample_weight, sl), kind=scatter)
        stats = chunk_stats if stats is None else merge(stats, chunk_stats)
    return stats


def end_iteration(lower_bounds, prev, loglik, weight, n_iter, max_iter, tol, on_iteration=None):
    """Trace one iteration's mean log-likelihood, report it, and test convergence.

    ``prev`` is the previous iteration's value. Returns
    ``(lower_bound, converged)`` and appends the value to ``lower_bounds``.
    """
    if not weight > 0:
        raise ValueError("every sample_weight is zero; give some rows a positive weight.")
    lower_bound = loglik / weight
    lower_bounds.append(lower_bound)
    change = lower_bound - prev
    report_iteration(n_iter, max_iter, lower_bound, change, on_iteration)
    return lower_bound, abs(change) < tol


def report_iteration(n_iter, max_iter, lower_bound, change, on_iteration=None):
    """Log one iteration (the record progress displays read) and call back."""
    logger.debug(
        "iteration %d: lower bound %.10g, change %.3g",
        n_iter,
        lower_bound,
        change,
        extra={"gaussmix_iteration": (n_iter, max_iter, lower_bound, change)},
    )
    if on_iteration is not None:
        on_iteration(n_iter, lower_bound, change)


def run_em(
    source,
    model,
    params,
    *,
    reg_covar,
    tol,
    max_iter,
    lower_bound=-math.inf,
    on_iteration=None,
):
    """Run EM from ``params`` until the lower bound changes by less than ``tol``.

    ``source`` is a data source (``gaussmix.backends``): each iteration asks
    it for one statistics pass, wherever its chunks live and run.
    ``on_iteration(n_iter, lower_bound, change)`` is called after each
    iteration, for progress reporting.
    """
    lower_bounds = []
    stats, total_weight = None, 0.0
    emptied = set()
    collapsed = np.zeros(len(params.weights), dtype=bool)
    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        stats, loglik, total_weight = source.statistics(params, model.scatter)
        params, empty, collapsed = m_step(model, stats, reg_covar, previous=params)
        emptied.update(np.flatnonzero(empty).tolist())
        lower_bound, converged = end_iteration(
            lower_bounds, lower_bound, loglik, total_weight, n_iter, max_iter, tol, on_iteration
        )
        if converged:
            break
    return EMResult(
        params, lower_bound, lower_bounds, n_iter, converged, emptied, collapsed,
        stats, total_weight,
    )


__all__ = [
    "MixtureParams",
    "EMResult",
    "m_step",
    "chunk_statistics",
    "merge_results",
    "statistics_pass",
    "resp_statistics",
    "end_iteration",
    "report_iteration",
    "run_em",
]
