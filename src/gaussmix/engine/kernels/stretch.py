r"""Ordinary EM iterations of a closed-form model on one in-memory chunk, in one compiled call.

On a few hundred rows the arithmetic of an EM iteration takes a few
microseconds, and the Python around it (the updater's E-step inputs, the
pass's kernel choice and plan, the merge, the update) about 150: a
hundred-fold. :func:`ordinary_stretch` runs the iterations themselves in
compiled code, for maximum likelihood with the closed-form models of
:data:`M_STEPS`, one chunk of rows and the row kernel: per iteration,

1. the E-step's inputs from the state, as ``updaters.ml.estep_inputs``
   forms them: ``c_k = log pi_k + log det U_k - d/2 log 2 pi`` and the
   centre ``sum_k pi_k mu_k``, and the row kernel's plan
   (``kernels.plan.Plan``);
2. the E-step and the sums of the row kernel (``rows.row_kernel_sums``)
   and the centred moments (``primitives.moments_about_origin``): the
   same compiled functions as a pass of the engine;
3. the model's M-step, ``n_k`` plus 10 eps as each denominator and
   ``reg_covar`` added to each estimate's diagonal first
   (``models.base.regularise``):

   .. math::

       \text{VVV: } \Sigma_k = \frac{W_k + r d_k I}{d_k}, \quad
       \text{EEE: } \Sigma = \frac{\sum_k W_k + r D I}{D}, \quad
       \text{VVI: } \sigma^2_{kj} = \frac{(W_k)_{jj} + r d_k}{d_k}, \quad
       \text{EEI: } \sigma^2_j = \frac{\sum_k (W_k)_{jj} + r d_k}{D},

   .. math::

       \text{VII: } \lambda_k = \frac{\operatorname{tr} W_k + d\, r d_k}{d\, d_k}, \quad
       \text{EII: } \lambda = \frac{\sum_k \operatorname{tr} W_k + d\, r d_k}{d\, D},

   with ``d_k = n_k + 10 eps``, ``D = sum_k d_k`` and ``r = reg_covar``,
   and the precision factors (``structures.upper_inverse_factors``, or
   ``1 / sqrt`` of the variances).

The stretch stops *before* an iteration that is not ordinary: a component
that lost its weight, moments that lost half their digits to cancellation,
a log-likelihood that is not finite; and after one whose M-step cannot
factorise its covariances. It returns the state entering its last
iteration and that iteration's statistics, and the driver makes that last
update, and everything after it, on the general path (``engine.stretch``),
so that every policy for empty and collapsed components stays in one place.
"""

from __future__ import annotations

import math

import numpy as np

from ...compiled import jit
from ...structures import upper_inverse_factors
from .plan import FACTORS, ROW_SHARED_CANCEL_LIMIT, SHARED
from .primitives import MOMENTS_DIAG, MOMENTS_FULL, MOMENTS_POOLED, moments_about_origin
from .rows import ROW_MODES, row_kernel_sums

#: The closed-form M-steps compiled here, one code each.
M_VVV, M_EEE, M_VVI, M_EEI, M_VII, M_EII = range(6)

#: mclust's code of each model the stretch takes, and its M-step; a model
#: not here (the iterative ones, VEI, VEE, EVE, VVE, VEV, and EVI, EEV,
#: EVV) runs every iteration on the general path.
M_STEPS = {"VVV": M_VVV, "EEE": M_EEE, "VVI": M_VVI, "EEI": M_EEI, "VII": M_VII, "EII": M_EII,
           "E": M_EII, "V": M_VII}

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
def _m_step(nk, scatter, m_step, reg_covar, cov, U, pc):
    """The closed-form M-step ``m_step`` into ``cov``, ``U`` (matrices) or ``pc`` (variances); False if it fails."""
    K, d = pc.shape
    denom = nk + _TEN_EPS
    total = 0.0
    for k in range(K):
        total += denom[k]
    if m_step == M_VVV or m_step == M_EEE:
        for k in range(K):
            g = 0 if m_step == M_EEE else k
            by = total if m_step == M_EEE else denom[k]
            extra = reg_covar * by
            for i in range(d):
                for j in range(d):
                    s = scatter[g, i, j] + extra if i == j and reg_covar != 0 else scatter[g, i, j]
                    cov[k, i, j] = s / by
        return upper_inverse_factors(cov[:1] if m_step == M_EEE else cov, U) and _repeat_first(U, m_step)
    for k in range(K):
        extra = reg_covar * denom[k]
        for j in range(d):
            pc[k, j] = scatter[k, j, 0] + extra if reg_covar != 0 else scatter[k, j, 0]
    if m_step == M_VVI:
        for k in range(K):
            for j in range(d):
                cov[k, j, 0] = pc[k, j] / denom[k]
    elif m_step == M_EEI:
        for j in range(d):
            s = 0.0
            for k in range(K):
                s += pc[k, j]
            for k in range(K):
                cov[k, j, 0] = s / total
    else:
        grand = 0.0
        for k in range(K):
            s = 0.0
            for j in range(d):
                s += pc[k, j]
            grand += s
            if m_step == M_VII:
                for j in range(d):
                    cov[k, j, 0] = s / (d * denom[k])
        if m_step == M_EII:
            for k in range(K):
                for j in range(d):
                    cov[k, j, 0] = grand / (d * total)
    for k in range(K):
        for j in range(d):
            v = cov[k, j, 0]
            if not (v > 0.0 and v < np.inf):
                return False
            pc[k, j] = 1.0 / math.sqrt(v)
    return True


@jit()
def _repeat_first(U, m_step):
    """A shared factor in every component's place (EEE); True."""
    if m_step == M_EEE:
        for k in range(1, U.shape[0]):
            U[k] = U[0]
    return True


@jit()
def ordinary_stretch(X, w, total_weight, weights, means, cov, U, pc, kind, mode, m_step, reg_covar, tol,
                     max_iter, lower_bound, lanes, values):
    """Up to ``max_iter`` ordinary EM iterations from a state (see the module docstring).

    ``cov`` holds (K, d, d) covariances for matrix structures and (K, d, 1)
    variances otherwise; ``U`` the factors (K, d, d) (a shared one
    repeated) and ``pc`` the variances' ``1 / sqrt`` (K, d); ``kind`` is the
    plan's geometry and ``mode`` the row kernel's scatter. Each iteration's
    mean log-likelihood goes into ``values``; EM stops when it changes by
    less than ``tol`` from the one before (``lower_bound`` at first).

    Returns ``(n_done, converged, state, stats)``: the iterations done, the
    state ``(weights, means, cov, U, pc)`` entering the last of them and
    that iteration's statistics ``(nk, means, scatter)``.
    """
    K, d = means.shape
    state = (weights.copy(), means.copy(), cov.copy(), U.copy(), pc.copy())
    entering = (weights.copy(), means.copy(), cov.copy(), U.copy(), pc.copy())
    G = 1 if mode == _POOLED else K
    stats = (np.zeros(K), np.zeros((K, d)), np.zeros((G, d, d)) if mode != 0 else np.zeros((K, d, 1)))
    done = 0
    converged = False
    for it in range(max_iter):
        cur_w, cur_means, cur_cov, cur_U, cur_pc = state
        geometry = _estep_geometry(cur_w, cur_means, cur_U, cur_pc, kind)
        origin = np.empty((K, d))
        for k in range(K):
            for j in range(d):
                origin[k, j] = geometry[5][j] if mode == _POOLED else cur_means[k, j]
        nk, a, raw, ll = row_kernel_sums(X, w, geometry, mode, origin, lanes)
        new_means, scatter, lossy = moments_about_origin(nk, a, raw, origin, _MOMENTS_OF_MODE[mode], _TINY)
        value = ll / total_weight
        if not np.isfinite(value) or lossy.any():
            break
        n = 0.0
        for k in range(K):
            n += nk[k]
        empty = False
        for k in range(K):
            empty |= nk[k] <= _TEN_EPS * n
        if empty:
            break
        # An ordinary iteration: the driver makes its update from these.
        entering[0][:] = cur_w
        entering[1][:] = cur_means
        entering[2][:] = cur_cov
        entering[3][:] = cur_U
        entering[4][:] = cur_pc
        stats[0][:] = nk
        stats[1][:] = new_means
        stats[2][:] = scatter.reshape(stats[2].shape)
        values[it] = value
        done = it + 1
        if abs(value - lower_bound) < tol:
            converged = True
            break
        lower_bound = value
        if done == max_iter:
            break
        next_w = nk / n
        next_cov, next_U, next_pc = np.empty_like(cur_cov), np.zeros_like(cur_U), np.empty_like(cur_pc)
        if not _m_step(nk, stats[2], m_step, reg_covar, next_cov, next_U, next_pc):
            break
        state = (next_w, new_means, next_cov, next_U, next_pc)
    return done, converged, entering, stats
