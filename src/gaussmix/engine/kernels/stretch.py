r"""Ordinary EM iterations on one in-memory chunk, in one compiled call.

On a few hundred rows the arithmetic of an EM iteration takes a few
microseconds, and the Python around it (the updater's E-step inputs, the
pass's kernel choice and plan, the merge, the update) about 150: a
hundred-fold. :data:`STRETCHES` run the iterations themselves in
compiled code, for maximum likelihood with any of mclust's 14 models, one
chunk of rows and the row kernel: per iteration,

1. the E-step's inputs from the state, as ``updaters.ml.estep_inputs``
   forms them: ``c_k = log pi_k + log det U_k - d/2 log 2 pi`` and the
   centre ``sum_k pi_k mu_k``, and the row kernel's plan
   (``kernels.plan.Plan``);
2. the E-step and the sums of the row kernel (``rows.row_kernel_sums``)
   and the centred moments (``primitives.moments_about_origin``): the
   same compiled functions as a pass of the engine;
3. the model's M-step and the precision factors, compiled
   (``models.fused``; one loop per family of M-steps).

The stretch stops *before* an iteration that is not ordinary: a component
that lost its weight, moments that lost half their digits to cancellation,
a log-likelihood that is not finite; and after one whose M-step cannot
factorise its covariances. It returns the state after its last ordinary
M-step, the state entering its last iteration and that iteration's
statistics. Where that M-step failed, the driver makes it again, and
everything after it, on the general path (``engine.stretch``), so that
every policy for empty and singular components stays in one place: an
ordinary M-step (no component empty, every covariance factorised) is one
that no policy changes.
"""

from __future__ import annotations

import math

import numpy as np

from ...compiled import jit
from ...models.fused import m_step_closed_form, m_step_eigen, m_step_orientation
from .plan import FACTORS, ROW_SHARED_CANCEL_LIMIT, SHARED
from .primitives import MOMENTS_DIAG, MOMENTS_FULL, MOMENTS_POOLED, moments_about_origin
from .rows import ROW_MODES, e_step_rows, row_criterion_sums, row_kernel_sums

#: ``moments_about_origin``'s kind for each of the row kernel's modes.
_MOMENTS_OF_MODE = np.array([MOMENTS_DIAG, MOMENTS_FULL, MOMENTS_POOLED])
_POOLED = ROW_MODES["pooled"]
#: scikit-learn's 10 eps (``models.base.per_component_denominator``).
_TEN_EPS = 10.0 * float(np.finfo(np.float64).eps)
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
_EPS = float(np.finfo(np.float64).eps)
_TINY = float(np.finfo(np.float64).tiny)


@jit()
def _estep_geometry(weights, means, U, pc, kind):
    """The row kernel's plan (``Plan.geometry``) for a state, as the engine makes it."""
    K, d = means.shape
    matrix = kind == FACTORS or kind == SHARED
    log_norm = np.empty(K)
    pdiag = np.zeros((K, d))
    for k in range(K):
        det = 0.0
        for j in range(d):
            det += np.log(U[k, j, j]) if matrix else np.log(pc[k, j])
            if not matrix:
                pdiag[k, j] = pc[k, j] ** 2
        log_norm[k] = (np.log(weights[k]) + det) - d * _HALF_LOG_2PI
    centre = np.zeros(d)
    for k in range(K):
        for j in range(d):
            centre[j] += weights[k] * means[k, j]
    b = np.zeros((K, d))
    direct = np.ones(K, dtype=np.bool_)
    if kind == SHARED:
        # Whitened once about the centre (see the row kernel and Plan).
        for k in range(K):
            size = 0.0
            for j in range(d):
                s = 0.0
                for m in range(d):
                    s += (means[k, m] - centre[m]) * U[0, m, j]
                b[k, j] = s
                size += s * s
            direct[k] = _EPS * size > ROW_SHARED_CANCEL_LIMIT
    return (means, U, pdiag, log_norm, kind, centre, b, direct)


@jit()
def _buffers(weights, means, cov, U, pc, mode):
    """The running state, the state entering the last ordinary iteration, and its statistics."""
    K, d = means.shape
    state = (weights.copy(), means.copy(), cov.copy(), U.copy(), pc.copy())
    entering = (weights.copy(), means.copy(), cov.copy(), U.copy(), pc.copy())
    G = 1 if mode == _POOLED else K
    stats = (np.zeros(K), np.zeros((K, d)), np.zeros((G, d, d)) if mode != 0 else np.zeros((K, d, 1)))
    return state, entering, stats


#: What :func:`_iteration` found: an iteration that is not ordinary, one
#: that met the tolerance, or one to go on from.
_STOP, _CONVERGED, _GO_ON = 0, 1, 2


@jit()
def _iteration(X, w, total_weight, state, kind, mode, lanes, lower_bound, tol, entering, stats):
    """One E-step and its statistics from ``state``; if ordinary, ``entering`` and ``stats`` record it.

    Returns ``(outcome, value, weights)``: a value of :data:`_STOP`,
    :data:`_CONVERGED` or :data:`_GO_ON`, the iteration's mean
    log-likelihood and the next weights.
    """
    cur_w, cur_means, cur_cov, cur_U, cur_pc = state
    K, d = cur_means.shape
    geometry = _estep_geometry(cur_w, cur_means, cur_U, cur_pc, kind)
    origin = np.empty((K, d))
    for k in range(K):
        for j in range(d):
            origin[k, j] = geometry[5][j] if mode == _POOLED else cur_means[k, j]
    nk, a, raw, ll = row_kernel_sums(X, w, geometry, mode, origin, lanes)
    new_means, scatter, lossy = moments_about_origin(nk, a, raw, origin, _MOMENTS_OF_MODE[mode], _TINY)
    value = ll / total_weight
    n = 0.0
    for k in range(K):
        n += nk[k]
    empty = False
    for k in range(K):
        empty |= nk[k] <= _TEN_EPS * n
    if empty or lossy.any() or not np.isfinite(value):
        return _STOP, value, cur_w
    # An ordinary iteration: the driver makes its update from these.
    entering[0][:] = cur_w
    entering[1][:] = cur_means
    entering[2][:] = cur_cov
    entering[3][:] = cur_U
    entering[4][:] = cur_pc
    stats[0][:] = nk
    stats[1][:] = new_means
    stats[2][:] = scatter.reshape(stats[2].shape)
    outcome = _CONVERGED if abs(value - lower_bound) < tol else _GO_ON
    return outcome, value, nk / n


# The loops of the three families of M-steps (``models.fused``): the same
# loop, each its own compiled function so that a fit compiles only its own.

@jit()
def stretch_closed_form(X, w, total_weight, weights, means, cov, U, pc, kind, mode, m_step, reg_covar, tol,
                        max_iter, lower_bound, lanes, values):
    """Up to ``max_iter`` ordinary EM iterations from a state (see the module docstring).

    ``cov`` holds (K, d, d) covariances for matrix structures and (K, d, 1)
    variances otherwise; ``U`` the factors (K, d, d) (a shared one
    repeated) and ``pc`` the variances' ``1 / sqrt`` (K, d); ``kind`` is the
    plan's geometry and ``mode`` the row kernel's scatter. Each iteration's
    mean log-likelihood goes into ``values``; EM stops when it changes by
    less than ``tol`` from the one before (``lower_bound`` at first).

    Returns ``(n_done, converged, updated, final, entering, stats)``: the
    iterations done; whether the last one's M-step was made here, giving
    ``final``; the state ``(weights, means, cov, U, pc)`` entering the last
    of them and that iteration's statistics ``(nk, means, scatter)``. The
    other families' loops take and return the same.
    """
    state, entering, stats = _buffers(weights, means, cov, U, pc, mode)
    for it in range(max_iter):
        outcome, value, next_w = _iteration(X, w, total_weight, state, kind, mode, lanes, lower_bound, tol,
                                            entering, stats)
        if outcome == _STOP:
            return it, False, it > 0, state, entering, stats
        values[it] = lower_bound = value
        cov, U, pc = np.empty_like(cov), np.zeros_like(U), np.empty_like(pc)
        if not m_step_closed_form(stats[0], stats[2], m_step, reg_covar, state[2], cov, U, pc):
            return it + 1, False, False, state, entering, stats
        state = (next_w, stats[1].copy(), cov, U, pc)
        if outcome == _CONVERGED or it + 1 == max_iter:
            return it + 1, outcome == _CONVERGED, True, state, entering, stats
    return 0, False, False, state, entering, stats


@jit()
def stretch_eigen(X, w, total_weight, weights, means, cov, U, pc, kind, mode, m_step, reg_covar, tol,
                  max_iter, lower_bound, lanes, values):
    """:func:`stretch_closed_form` for the M-steps of ``models.fused.m_step_eigen``."""
    state, entering, stats = _buffers(weights, means, cov, U, pc, mode)
    for it in range(max_iter):
        outcome, value, next_w = _iteration(X, w, total_weight, state, kind, mode, lanes, lower_bound, tol,
                                            entering, stats)
        if outcome == _STOP:
            return it, False, it > 0, state, entering, stats
        values[it] = lower_bound = value
        cov, U, pc = np.empty_like(cov), np.zeros_like(U), np.empty_like(pc)
        if not m_step_eigen(stats[0], stats[2], m_step, reg_covar, state[2], cov, U, pc):
            return it + 1, False, False, state, entering, stats
        state = (next_w, stats[1].copy(), cov, U, pc)
        if outcome == _CONVERGED or it + 1 == max_iter:
            return it + 1, outcome == _CONVERGED, True, state, entering, stats
    return 0, False, False, state, entering, stats


@jit()
def stretch_orientation(X, w, total_weight, weights, means, cov, U, pc, kind, mode, m_step, reg_covar, tol,
                        max_iter, lower_bound, lanes, values):
    """:func:`stretch_closed_form` for the M-steps of ``models.fused.m_step_orientation``."""
    state, entering, stats = _buffers(weights, means, cov, U, pc, mode)
    for it in range(max_iter):
        outcome, value, next_w = _iteration(X, w, total_weight, state, kind, mode, lanes, lower_bound, tol,
                                            entering, stats)
        if outcome == _STOP:
            return it, False, it > 0, state, entering, stats
        values[it] = lower_bound = value
        cov, U, pc = np.empty_like(cov), np.zeros_like(U), np.empty_like(pc)
        if not m_step_orientation(stats[0], stats[2], m_step, reg_covar, state[2], cov, U, pc):
            return it + 1, False, False, state, entering, stats
        state = (next_w, stats[1].copy(), cov, U, pc)
        if outcome == _CONVERGED or it + 1 == max_iter:
            return it + 1, outcome == _CONVERGED, True, state, entering, stats
    return 0, False, False, state, entering, stats


@jit()
def final_scores(X, w, weights, means, U, pc, kind, resp):
    """``row_criterion_sums`` of the rows at a state in the loops' layout: the criteria's sums at a stretch's end.

    Unless ``resp`` has no rows, the rows' responsibilities go into it too
    (``rows.e_step_rows``, the E-step ``predict_proba`` runs).
    """
    geometry = _estep_geometry(weights, means, U, pc, kind)
    if resp.shape[0] > 0:
        e_step_rows(X, geometry, np.empty(X.shape[0]), resp)
    return row_criterion_sums(X, w, geometry)


#: The loop of each family of ``models.fused``, by its index.
STRETCHES = (stretch_closed_form, stretch_eigen, stretch_orientation)
