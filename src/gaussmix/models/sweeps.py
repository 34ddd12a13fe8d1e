"""Compiled sweeps of pair rotations: the common orientation of EVE and VVE (``iterative``).

A sweep turns each pair of columns of the orientation ``D`` by one angle;
in NumPy, the calls on 2-column slices cost a hundred times the
arithmetic. :func:`jacobi_sweep` takes each angle exact for eigenvalues
held, :func:`profiled_pair_sweep` the best of a grid for the profiled
objective, and :func:`orientation_descent` sweeps until the objective
settles, from the start :func:`best_start` picks.
``iterative.common_orientation`` keeps the mathematics and hands out the
errors and warnings.
"""

from __future__ import annotations

import math

import numpy as np

from ..compiled import jit
from .eigen import symmetric_eigen
from .inner import record_value, equal_volume_eigenvalues, rotated_diagonal, rotated_objective


@jit(inline="always")
def _rotated_scatters(D, W):
    """``M_k = D^T W_k D`` for every k, by way of ``T = W_k D``; shape (K, p, p)."""
    K, d, p = W.shape[0], D.shape[0], D.shape[1]
    M = np.empty((K, p, p))
    T = np.empty((d, p))
    for k in range(K):
        for j in range(d):
            for m in range(p):
                t = 0.0
                for l in range(d):
                    t += W[k, j, l] * D[l, m]
                T[j, m] = t
        for i in range(p):
            for m in range(p):
                t = 0.0
                for j in range(d):
                    t += D[j, i] * T[j, m]
                M[k, i, m] = t
    return M


@jit(inline="always")
def _turn(D, M, a, b, c, s):
    """Columns a and b of D, and rows then columns a and b of every M_k, turned by G = [[c, -s], [s, c]]."""
    for j in range(D.shape[0]):
        da, db = D[j, a], D[j, b]
        D[j, a] = c * da + s * db
        D[j, b] = c * db - s * da
    for k in range(M.shape[0]):
        for m in range(M.shape[1]):
            ma, mb = M[k, a, m], M[k, b, m]
            M[k, a, m] = c * ma + s * mb
            M[k, b, m] = c * mb - s * ma
        for m in range(M.shape[1]):
            ma, mb = M[k, m, a], M[k, m, b]
            M[k, m, a] = c * ma + s * mb
            M[k, m, b] = c * mb - s * ma


@jit()
def jacobi_sweep(D, W, inv_s):
    """One sweep of pair rotations of D's columns, each exact for the eigenvalues ``1 / inv_s`` held."""
    K, p = W.shape[0], D.shape[1]
    M = _rotated_scatters(D, W)
    for a in range(p - 1):
        for b in range(a + 1, p):
            P = Q = R = 0.0
            for k in range(K):
                ia, ib = inv_s[k, a], inv_s[k, b]
                P += M[k, a, a] * ia + M[k, b, b] * ib
                Q += M[k, a, a] * ib + M[k, b, b] * ia
                R += M[k, a, b] * (ia - ib)
            theta = 0.5 * math.atan2(-R, 0.5 * (Q - P))
            c, s = math.cos(theta), math.sin(theta)
            if abs(s) < 1e-15:
                continue
            _turn(D, M, a, b, c, s)
    return D


@jit(inline="always")
def _log(x):
    """``log x``: -inf at 0, NaN below 0 or at NaN, without NumPy's warnings (plain Python without Numba)."""
    if x > 0.0:
        return math.log(x)
    return -math.inf if x == 0.0 else math.nan


@jit(inline="always")
def _root(x, power):
    """``x ** power`` for ``x >= 0``, NaN below (or at NaN)."""
    return x**power if x >= 0.0 else math.nan


#: The pair profiles of ``profiled_pair_sweep``: VVE's ``sum_k n_k log(B_ka B_kb)``
#: and EVE's ``log sum_k c_k (B_ka B_kb)^(1/d)``, with ``c_k`` the other columns' part.
WEIGHTED_LOG, ROOT_SUM = 0, 1


@jit(inline="always")
def _pair_value(kind, P, Q, R, coef, inv_d, phi):
    """The pair profile at angle ``phi``: ``B_ka B_kb = P_k^2 - (Q_k cos phi + R_k sin phi)^2``."""
    c, s = math.cos(phi), math.sin(phi)
    total = 0.0
    for k in range(P.shape[0]):
        u = c * Q[k] + s * R[k]
        product = (P[k] + u) * (P[k] - u)
        if kind == WEIGHTED_LOG:
            total += coef[k] * _log(product)
        else:
            total += coef[k] * _root(product, inv_d)
    return total if kind == WEIGHTED_LOG else _log(total)


@jit()
def profiled_pair_sweep(D, W, kind, weight, grid, zoom, refinements):
    """One sweep of profiled rotations of D's columns (``iterative.common_orientation``), D in place.

    For each pair ``(a, b)`` the angle is the best of ``grid`` and each
    component's well ``atan2(R_k, Q_k)`` folded into the period, refined
    ``refinements`` times on ``zoom`` (a grid of [-1, 1]) around it, and
    taken only where it lowers the profile ``kind`` (:data:`WEIGHTED_LOG`
    with ``weight`` the ``n_k``, or :data:`ROOT_SUM`). Returns False where
    the profile is not finite (a component's scatter is singular).
    """
    K, p = W.shape[0], D.shape[1]
    M = _rotated_scatters(D, W)
    P, Q, R, coef = np.empty(K), np.empty(K), np.empty(K), np.empty(K)
    inv_d = 1.0 / p
    n_grid = grid.shape[0]
    for a in range(p - 1):
        for b in range(a + 1, p):
            for k in range(K):
                P[k] = 0.5 * (M[k, a, a] + M[k, b, b])
                Q[k] = 0.5 * (M[k, a, a] - M[k, b, b])
                R[k] = M[k, a, b]
                if kind == WEIGHTED_LOG:
                    coef[k] = weight[k]
                else:  # exp of the mean log of the other columns of B_k
                    logs = 0.0
                    for j in range(p):
                        if j != a and j != b:
                            logs += _log(M[k, j, j])
                    coef[k] = math.exp(logs * inv_d)
            # The grid, then the wells of nearly singular blocks.
            phi, value = 0.0, math.inf
            for g in range(n_grid + K):
                if g < n_grid:
                    candidate = grid[g]
                else:
                    k = g - n_grid
                    candidate = (math.atan2(R[k], Q[k]) + 0.5 * math.pi) % math.pi - 0.5 * math.pi
                v = _pair_value(kind, P, Q, R, coef, inv_d, candidate)
                if not (v > -math.inf and v < math.inf):
                    return False
                if v < value:
                    phi, value = candidate, v
            step = grid[1] - grid[0]
            for _ in range(refinements):
                centre, best = phi, math.inf
                for z in range(zoom.shape[0]):
                    candidate = centre + step * zoom[z]
                    v = _pair_value(kind, P, Q, R, coef, inv_d, candidate)
                    if v < best:
                        phi, best = candidate, v
                value = best
                step = 2.0 * step / n_grid
            held = 0.0
            for k in range(K):
                if kind == WEIGHTED_LOG:
                    held += coef[k] * _log(M[k, a, a] * M[k, b, b])
                else:
                    held += coef[k] * _root(M[k, a, a] * M[k, b, b], inv_d)
            if kind == ROOT_SUM:
                held = _log(held)
            if not value < held:
                continue
            _turn(D, M, a, b, math.cos(0.5 * phi), math.sin(0.5 * phi))
    return True


@jit(inline="always")
def _eigenvalues(kind, B, active, denominator, n):
    """The optimal ``s_k`` given ``B_k = diag(D^T W_k D)``: VVE's ``B_k / n_k`` (WEIGHTED_LOG) or EVE's."""
    if kind == ROOT_SUM:
        return equal_volume_eigenvalues(B, active, n)
    s = np.empty_like(B)
    for k in range(B.shape[0]):
        for j in range(B.shape[1]):
            # An empty component is free in volume and shape: a unit sphere.
            s[k, j] = B[k, j] / denominator[k] if active[k] else 1.0
    return s


@jit(inline="always")
def _positive(s):
    for k in range(s.shape[0]):
        for j in range(s.shape[1]):
            if not (s[k, j] > 0.0 and s[k, j] < math.inf):
                return False
    return True


@jit()
def orientation_descent(D, W, Wa, kind, nk, denominator, active, n, weight, grid, zoom, refinements,
                        creep_sweeps, tol, max_iter, history):
    """``iterative.common_orientation``'s descent from ``D`` (turned in place): sweeps until the objective settles.

    With ``B = diag(D^T W_k D)`` and ``s`` the optimal eigenvalues of the
    profile ``kind`` (VVE's for WEIGHTED_LOG, EVE's for ROOT_SUM), the
    objective is ``inner.rotated_objective``. Each step is a
    :func:`jacobi_sweep` of ``Wa`` (the active components' scatters) with
    ``s`` held or, at any step after the first ``creep_sweeps`` values of
    the objective where the last three gains each exceed half the one
    before (the sweeps creep), a :func:`profiled_pair_sweep`. Stops as
    ``iterative._settle`` does. Returns ``((D, s), status, n_values)``:
    status 0 when settled, 1 when ``max_iter`` steps did not settle it, 2
    when an eigenvalue or the profile stopped being positive and finite;
    the objective's values go into ``history`` while it has room. (The
    first element is the pair ``(D, s)``.)
    """
    B = rotated_diagonal(D, W)
    s = _eigenvalues(kind, B, active, denominator, n)
    if not _positive(s):
        return (D, s), 2, 0
    current = rotated_objective(B, s, nk, active)
    last = np.full(4, math.nan)  # the last four values, for the creeping test
    last[3] = current
    count = 1
    n_values = record_value(history, 0, current)
    for _ in range(max_iter):  # D turns in place: only the last one is returned
        creeping = count >= creep_sweeps
        if creeping:
            g0, g1, g2 = last[0] - last[1], last[1] - last[2], last[2] - last[3]
            creeping = g1 > 0.5 * g0 and g2 > 0.5 * g1
        if creeping:
            if not profiled_pair_sweep(D, Wa, kind, weight, grid, zoom, refinements):
                return (D, s), 2, n_values
        else:
            inv_s = np.empty((Wa.shape[0], s.shape[1]))
            a = 0
            for k in range(s.shape[0]):
                if active[k]:
                    for j in range(s.shape[1]):
                        inv_s[a, j] = 1.0 / s[k, j]
                    a += 1
            jacobi_sweep(D, Wa, inv_s)
        B = rotated_diagonal(D, W)
        s = _eigenvalues(kind, B, active, denominator, n)
        if not _positive(s):
            return (D, s), 2, n_values
        new = rotated_objective(B, s, nk, active)
        last[0], last[1], last[2], last[3] = last[1], last[2], last[3], new
        count += 1
        n_values = record_value(history, n_values, new)
        if abs(current - new) <= tol * (1.0 + abs(new)):
            return (D, s), 0, n_values
        current = new
    return (D, s), 1, n_values


@jit(inline="always")
def _profile(kind, B, weight):
    """The profiled objective of ``B`` (K, p), up to a constant and an increasing map.

    VVE (WEIGHTED_LOG): ``sum_k n_k sum_j log B_kj``; EVE (ROOT_SUM):
    ``log sum_k |B_k|^(1/p)``. As in NumPy, a zero ``B_kj`` gives -inf (a
    component flat along a column of D: the deepest well) and a negative
    one NaN.
    """
    total = 0.0
    for k in range(B.shape[0]):
        logs = 0.0
        for j in range(B.shape[1]):
            logs += _log(B[k, j])
        total += weight[k] * logs if kind == WEIGHTED_LOG else math.exp(logs / B.shape[1])
    return total if kind == WEIGHTED_LOG else _log(total)


@jit()
def best_start(Wa, previous, kind, weight):
    """The orientation to start from: the best by :func:`_profile` of the candidates.

    The candidates are the eigenvectors of ``previous`` (a (p, p) covariance,
    or an empty array for none), of the pooled ``sum_k Wa_k`` and of each
    ``Wa_k``: never worse than the previous orientation, and a component flat
    in some direction starts in its own deep well. As NumPy's ``nanargmin``:
    the first of the lowest scores that are numbers (-inf included); the
    first candidate where no score is finite.
    """
    K, p = Wa.shape[0], Wa.shape[1]
    pooled = np.zeros((p, p))
    for k in range(K):
        for i in range(p):
            for j in range(p):
                pooled[i, j] += Wa[k, i, j]
    has_previous = previous.shape[0] > 0
    n_candidates = K + 1 + (1 if has_previous else 0)
    candidates = np.empty((n_candidates, p, p))
    scores = np.empty(n_candidates)
    any_finite = False
    for c in range(n_candidates):
        m = c - 1 if has_previous else c
        if has_previous and c == 0:
            source = np.ascontiguousarray(previous)
        elif m == 0:
            source = pooled
        else:
            source = np.ascontiguousarray(Wa[m - 1])
        candidates[c] = symmetric_eigen(source)[1]
        scores[c] = _profile(kind, rotated_diagonal(np.ascontiguousarray(candidates[c]), Wa), weight)
        any_finite = any_finite or (abs(scores[c]) < math.inf)
    best = 0
    if any_finite:
        best = -1
        for c in range(n_candidates):
            if scores[c] == scores[c] and (best < 0 or scores[c] < scores[best]):
                best = c
    return np.ascontiguousarray(candidates[best])
