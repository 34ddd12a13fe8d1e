"""Compiled inner loops of the iterative M-steps (``iterative``).

The M-steps without a closed form iterate on arrays of shape (K, d) or
(K, d, d); a step of their inner loops is a few dozen floating-point
operations per component, which NumPy's calls, a few microseconds each, took
a hundred times longer to run than the arithmetic. Each function here is one
such loop, written out; ``iterative`` keeps the mathematics and the checks.
"""

from __future__ import annotations

import math

import numpy as np

from ..compiled import jit
from ..structures import upper_inverse_factors


@jit(inline="always")
def _common_shape(values, active, volume, shape):
    """``shape = M / |M|^(1/d)``, ``M = sum_k values_k / lambda_k`` (active k); False if M is not positive."""
    K, d = values.shape
    log_sum = 0.0
    for j in range(d):
        m = 0.0
        for k in range(K):
            if active[k]:
                m += values[k, j] / volume[k]
        if not (m > 0.0 and m < math.inf):
            return False
        shape[j] = m
        log_sum += math.log(m)
    scale = math.exp(log_sum / d)
    for j in range(d):
        shape[j] /= scale
    return True


@jit(inline="always")
def _volume_shape_objective(values, nk, active, volume, shape):
    """``sum_k n_k d log lambda_k + sum_kj values_kj / (lambda_k A_j)`` over the active components."""
    K, d = values.shape
    total = 0.0
    for k in range(K):
        if active[k]:
            s = 0.0
            for j in range(d):
                s += values[k, j] / (volume[k] * shape[j])
            total += nk[k] * d * math.log(volume[k]) + s
    return total


@jit(inline="always")
def record_value(history, n_values, value):
    """Put ``value`` into ``history`` while it has room; the number of values kept."""
    if n_values < history.shape[0]:
        history[n_values] = value
        return n_values + 1
    return n_values


@jit(inline="always")
def _next_volumes(numerators, denominator, active, d, volume):
    """``lambda_k = numerator_k / (d denominator_k)``, 1 where inactive; False unless all positive and finite."""
    for k in range(volume.shape[0]):
        if active[k]:
            v = numerators[k] / (d * denominator[k])
            if not (v > 0.0 and v < math.inf):
                return False
            volume[k] = v
        else:
            volume[k] = 1.0
    return True


@jit()
def alternate_volumes_and_shape(values, nk, active, volume, tol, max_iter, history):
    """The alternation of ``iterative.volumes_and_common_shape``, from ``volume`` (updated in place).

    Returns ``(shape, status, n_values)``: status 0 when the objective
    settled (a change within ``tol`` relative), 1 when ``max_iter`` updates
    did not settle it, 2 when a shape or volume stopped being positive and
    finite. The objective's values go into ``history`` while it has room
    (``n_values`` of them; give an empty array to keep none).
    """
    K, d = values.shape
    shape = np.empty(d)
    numerators = np.empty(K)
    if not _common_shape(values, active, volume, shape):
        return shape, 2, 0
    current = _volume_shape_objective(values, nk, active, volume, shape)
    n_values = record_value(history, 0, current)
    for _ in range(max_iter):
        for k in range(K):
            s = 0.0
            for j in range(d):
                s += values[k, j] / shape[j]
            numerators[k] = s
        if not _next_volumes(numerators, nk, active, d, volume):
            return shape, 2, n_values
        if not _common_shape(values, active, volume, shape):
            return shape, 2, n_values
        new = _volume_shape_objective(values, nk, active, volume, shape)
        n_values = record_value(history, n_values, new)
        if abs(current - new) <= tol * (1.0 + abs(new)):
            return shape, 0, n_values
        current = new
    return shape, 1, n_values


@jit()
def rotated_diagonal(D, W):
    """``B[k] = diag(D^T W_k D)``, shape (K, d)."""
    K, d, p = W.shape[0], D.shape[0], D.shape[1]
    B = np.empty((K, p))
    for k in range(K):
        for i in range(p):
            t = 0.0
            for j in range(d):
                s = 0.0
                for l in range(d):
                    s += W[k, j, l] * D[l, i]
                t += D[j, i] * s
            B[k, i] = t
    return B


@jit()
def rotated_objective(B, s, nk, active):
    """``sum_k n_k sum_j log s_kj + sum_j B_kj / s_kj`` over the active components.

    ``L`` of ``Sigma_k = D diag(s_k) D^T`` for an orthogonal ``D``, with
    ``B_k = diag(D^T W_k D)``.
    """
    total = 0.0
    for k in range(B.shape[0]):
        if active[k]:
            logs = 0.0
            trace = 0.0
            for j in range(B.shape[1]):
                logs += math.log(s[k, j])
                trace += B[k, j] / s[k, j]
            total += nk[k] * logs + trace
    return total


@jit()
def equal_volume_eigenvalues(B, active, n):
    """EVE's eigenvalues for ``B_k = diag(D^T W_k D)``: ``lambda B_k / |B_k|^(1/d)``, ``lambda = sum_k |B_k|^(1/d) / n``.

    An empty component gets ``lambda`` in every direction. A zero in ``B``
    gives a NaN, for the caller's positivity check to refuse.
    """
    K, d = B.shape
    root_det = np.empty(K)
    volume = 0.0
    for k in range(K):
        logs = 0.0
        for j in range(d):
            logs += math.log(B[k, j]) if B[k, j] > 0.0 else -math.inf
        root_det[k] = math.exp(logs / d)
        if active[k]:
            volume += root_det[k]
    volume /= n
    s = np.empty((K, d))
    for k in range(K):
        for j in range(d):
            if not active[k]:
                s[k, j] = volume
            elif root_det[k] > 0.0:
                s[k, j] = volume * B[k, j] / root_det[k]
            else:
                s[k, j] = math.nan
    return s


@jit(inline="always")
def _common_matrix(W, active, volume, C, Cinv, traces):
    """``C = M / |M|^(1/d)``, ``M = sum_k W_k / lambda_k`` (active k), ``C^-1`` and ``tr(C^-1 W_k)``.

    False if M is not positive definite (by its Cholesky factor).
    """
    K, d = W.shape[0], W.shape[1]
    for i in range(d):
        for j in range(d):
            m = 0.0
            for k in range(K):
                if active[k]:
                    m += W[k, i, j] / volume[k]
            C[i, j] = m
    # M^-1 = U U^T with U = L^-T, M = L L^T; C^-1 = |M|^(1/d) M^-1.
    U = np.empty((1, d, d))
    if not upper_inverse_factors(C.reshape(1, d, d), U):
        return False
    log_det = 0.0
    for j in range(d):
        log_det -= 2.0 * math.log(U[0, j, j])
    root = math.exp(log_det / d)
    for i in range(d):
        for j in range(d):
            C[i, j] /= root
            s = 0.0
            for m in range(max(i, j), d):
                s += U[0, i, m] * U[0, j, m]
            Cinv[i, j] = root * s
    for k in range(K):
        t = 0.0
        for i in range(d):
            for j in range(d):
                t += Cinv[i, j] * W[k, j, i]
        traces[k] = t
    return True


@jit(inline="always")
def _volume_trace_objective(traces, nk, active, volume, d):
    """``sum_k n_k d log lambda_k + tr(C^-1 W_k) / lambda_k`` over the active components."""
    total = 0.0
    for k in range(volume.shape[0]):
        if active[k]:
            total += nk[k] * d * math.log(volume[k]) + traces[k] / volume[k]
    return total


@jit()
def alternate_volumes_and_common_matrix(W, nk, denominator, active, volume, tol, max_iter, history):
    """VEE's alternation (``ellipsoidal._m_step_vee``), from ``volume`` (updated in place).

    Alternates ``C = M / |M|^(1/d)``, ``M = sum_k W_k / lambda_k``, and
    ``lambda_k = tr(C^-1 W_k) / (d denominator_k)`` until
    ``sum_k n_k d log lambda_k + tr(C^-1 W_k) / lambda_k`` (active k) settles
    as ``iterative._settle`` would. Returns ``(C, status, n_values)`` with
    status and ``history`` as in :func:`alternate_volumes_and_shape`.
    """
    K, d = W.shape[0], W.shape[1]
    C, Cinv, traces = np.empty((d, d)), np.empty((d, d)), np.empty(K)
    if not _common_matrix(W, active, volume, C, Cinv, traces):
        return C, 2, 0
    current = _volume_trace_objective(traces, nk, active, volume, d)
    n_values = record_value(history, 0, current)
    for _ in range(max_iter):
        if not _next_volumes(traces, denominator, active, d, volume):
            return C, 2, n_values
        if not _common_matrix(W, active, volume, C, Cinv, traces):
            return C, 2, n_values
        new = _volume_trace_objective(traces, nk, active, volume, d)
        n_values = record_value(history, n_values, new)
        if abs(current - new) <= tol * (1.0 + abs(new)):
            return C, 0, n_values
        current = new
    return C, 1, n_values
