r"""Stepwise (online) EM: one M-step per mini-batch, from running statistics.

Batch EM makes a pass over all rows before each M-step. Stepwise EM
(Cappé & Moulines, 2009, "On-line expectation-maximization algorithm for
latent data models", JRSS B 71(3); Liang & Klein, 2009, "Online EM for
unsupervised models", NAACL) keeps running statistics ``s`` *per unit of
weight* and, for each mini-batch ``B_t`` of rows, interpolates

.. math::

    \hat s_t = \frac{1}{\sum_{i \in B_t} w_i}\,
               \mathrm{stats}(B_t \mid \theta_{t-1}), \qquad
    s_t = (1 - \eta_t)\, s_{t-1} + \eta_t\, \hat s_t, \qquad
    \theta_t = \mathrm{M}(s_t),

where ``stats(B | θ)`` are the sufficient statistics of the batch under the
responsibilities of ``θ`` (the E-step) and ``M`` is the covariance model's
usual M-step. The step size is

.. math::

    \eta_1 = 1, \qquad \eta_t = (t + \tau)^{-\kappa} \quad (t \ge 2),

with ``τ = learning_offset`` and ``κ = learning_decay``; ``κ ∈ (0.5, 1]``
gives the convergence conditions ``Σ η_t = ∞, Σ η_t² < ∞`` of stochastic
approximation. This is the schedule and the parameterisation of
scikit-learn's online ``LatentDirichletAllocation``. The interpolation is
an exact convex combination of the two sets of moments: scaling every
weight by ``c`` scales ``n_k`` and ``S_k`` and keeps ``x̄_k``, and Chan's
merge then combines the centred statistics without cancellation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import math

from ._em import EMResult, end_iteration, m_step
from ._stats import merge


@dataclass
class OnlineState:
    """Running statistics per unit of weight, and the number of steps taken."""

    stats: object
    n_steps: int


def step_size(step, learning_offset, learning_decay):
    """``eta_t`` for step ``t`` (1-based): 1 for the first, then ``(t + tau)^-kappa``."""
    if step <= 1:
        return 1.0
    return float((step + learning_offset) ** (-learning_decay))


def online_step(state, batch_stats, batch_weight, learning_offset, learning_decay):
    """Fold one batch's statistics into the running ones; return the new state."""
    step = 1 if state is None else state.n_steps + 1
    eta = step_size(step, learning_offset, learning_decay)
    batch = batch_stats.to_numpy().scaled(1.0 / batch_weight)
    if state is None or eta >= 1.0:
        return OnlineState(batch, step)
    return OnlineState(merge(state.stats.scaled(1.0 - eta), batch.scaled(eta)), step)


def batches(source, batch_size, random_state):
    """Yield the mini-batches ``(X, w)`` of one epoch.

    Rows of an array in memory are visited in a new random order each epoch
    (stochastic approximation assumes batches drawn at random); streamed
    rows come in their stored order, which should then be random.
    """
    if source.in_memory and isinstance(source.X, np.ndarray):
        order = random_state.permutation(source.n_samples)
        w = source.sample_weight
        for start in range(0, source.n_samples, batch_size):
            rows = order[start : start + batch_size]
            yield source.X[rows], None if w is None else w[rows]
        return
    for X, w in source.iter_chunks():
        for start in range(0, X.shape[0], batch_size):
            sl = slice(start, start + batch_size)
            yield X[sl], None if w is None else w[sl]


def fold_batch(state, model, params, batch_source, reg_covar, learning_offset, learning_decay):
    """E-step on one batch, fold its statistics in, M-step.

    Returns
    -------
    state : OnlineState
    params : MixtureParams
    loglik : float
        The batch's weighted log-likelihood under the parameters entering the step.
    weight : float
        The batch's total weight.
    empty, collapsed : ndarray of bool
    """
    stats, loglik, weight = batch_source.statistics(params, model.scatter)
    if weight <= 0:  # a batch of zero-weight rows carries no information
        return state, params, 0.0, 0.0, np.zeros(len(params.weights), bool), None
    state = online_step(state, stats, weight, learning_offset, learning_decay)
    params, empty, collapsed = m_step(model, state.stats, reg_covar, previous=params)
    return state, params, loglik, weight, empty, collapsed


def run_online_em(
    source,
    model,
    params,
    *,
    reg_covar,
    tol,
    max_iter,
    batch_size,
    learning_offset,
    learning_decay,
    random_state,
    chunk_size,
    lower_bound=-math.inf,
    on_iteration=None,
):
    """Stepwise EM over ``source`` for at most ``max_iter`` epochs.

    Each epoch folds every mini-batch in turn. The value traced per epoch is
    the weighted mean log-likelihood of each batch under the parameters
    entering its step; it stops when that changes by less than ``tol``. Unlike
    batch EM's, it is not guaranteed to increase.

    Returns
    -------
    EMResult
        With the running statistics in ``online_state``, for ``partial_fit``
        to continue from.
    """
    from .backends import ArraySource

    state = None
    lower_bounds, emptied = [], set()
    collapsed = np.zeros(len(params.weights), dtype=bool)
    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        loglik = weight = 0.0
        for Xb, wb in batches(source, batch_size, random_state):
            batch = ArraySource(Xb, wb, chunk_size)
            state, params, ll, w, empty, batch_collapsed = fold_batch(
                state, model, params, batch, reg_covar, learning_offset, learning_decay
            )
            loglik, weight = loglik + ll, weight + w
            emptied.update(np.flatnonzero(empty).tolist())
            if batch_collapsed is not None:
                collapsed = batch_collapsed
        lower_bound, converged = end_iteration(
            lower_bounds, lower_bound, loglik, weight, n_iter, max_iter, tol, on_iteration
        )
        if converged:
            break
    return EMResult(
        params, lower_bound, lower_bounds, n_iter, converged, emptied, collapsed,
        online_state=state,
    )


__all__ = ["OnlineState", "step_size", "online_step", "batches", "fold_batch", "run_online_em"]
