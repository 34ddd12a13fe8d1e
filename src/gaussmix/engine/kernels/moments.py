"""A block's moments in the lanes of the compiled sums, and the statistics of given responsibilities.

:func:`add_block_moments` adds ``w_i r_ik``, ``w_i r_ik z`` and ``w_i r_ik
z z^T`` of a block of rows (``primitives.BLOCK``) into
``primitives.LANES`` partial sums: the row kernel's E-step pass
(``rows.row_kernel_sums``) calls it with the responsibilities it has just
computed, and :func:`resp_kernel_sums` with given ones (a start's), so that
both sum in the same fixed order.
"""

from __future__ import annotations

import numpy as np

from ...compiled import jit
from ..stats import SuffStats
from .primitives import BLOCK, LANES, add_products8, centred_moments8, dot8, fold8, lane_totals
from .vectorised import moments_from_sums, recompute_exact

#: The row kernel's statistics: ``S_k`` diagonals, full ``S_k``, or their sum.
ROW_MODES = {"diag": 0, "full": 1, "pooled": 2}


@jit(inline="always")
def add_block_moments(xt, wb, e, origin, mode, z, ez, lane_n, lane_a, lane_S, L):
    """Add a block's ``e = w_i r_ik`` (K, BLOCK) and its moments about ``origin`` to the lanes.

    ``wb`` are the rows' weights ``w_i`` (``sum_k e_ik`` for a pooled
    scatter); ``z`` and ``ez`` are (d, BLOCK) buffers.
    """
    d, B = xt.shape
    K = e.shape[0]
    if mode == 2:  # one origin for every component: z once per block
        for j in range(d):
            c = origin[0, j]
            for i in range(B):
                t = xt[j, i] - c
                z[j, i] = t
                ez[j, i] = wb[i] * t
    for k in range(K):
        for i in range(L):
            lane_n[k, i] += fold8(e, k, i)
        if mode == 0:
            for j in range(d):
                mu = origin[k, j]
                for i in range(L):
                    first, second = centred_moments8(xt, j, e, k, mu, i)
                    lane_a[k, j, i] += first
                    lane_S[k, j, i] += second
        elif mode == 1:
            for j in range(d):
                mu = origin[k, j]
                for i in range(B):
                    t = xt[j, i] - mu
                    z[j, i] = t
                    ez[j, i] = e[k, i] * t
                for i in range(L):
                    lane_a[k, j, i] += fold8(ez, j, i)
            add_products8(lane_S, k, ez, z, True)
        else:
            for j in range(d):
                for i in range(L):
                    lane_a[k, j, i] += dot8(e, k, z, j, i)
    if mode == 2:
        # Pooled about one origin: sum_k w_i r_ik z z^T = w_i z z^T.
        add_products8(lane_S, 0, ez, z, True)


@jit()
def resp_kernel_sums(X, wr, mode, lanes):
    """The sums of :func:`row_kernel_sums` for given ``wr = w_i r_ik`` (n, K), about the rows' mean.

    The origin is the mean of the rows with some ``w_i r_ik`` other than 0,
    as ``vectorised.accumulate_numpy`` takes it; the other rows are read as
    that mean, so that they add nothing even where their squares would
    overflow. Returns ``(n_k, a_k, scatter sums, origin)``, the origin
    repeated for each component, (K, d), as ``vectorised.moments_from_sums``
    takes it (NumPy's ``broadcast_to`` and a copy took 7.5 us of a start).
    """
    n, d = X.shape
    K = wr.shape[1]
    full = mode != 0
    P = d * (d + 1) // 2 if full else d
    centre = np.zeros(d)
    keep = np.zeros(n, dtype=np.bool_)
    kept = 0
    for i in range(n):
        for k in range(K):
            if wr[i, k] != 0.0:
                keep[i] = True
        if keep[i]:
            kept += 1
            for j in range(d):
                centre[j] += X[i, j]
    if kept:
        for j in range(d):
            centre[j] /= kept
    origin = np.empty((K, d))
    for k in range(K):
        origin[k] = centre
    xt, z = np.empty((d, BLOCK)), np.empty((d, BLOCK))
    ez = np.empty((d, BLOCK))
    wb, e = np.empty(BLOCK), np.empty((K, BLOCK))
    B = BLOCK
    L = lanes
    lane_n = np.zeros((K, L))
    lane_a = np.zeros((K, d, L))
    lane_S = np.zeros((1 if mode == 2 else K, P, L))
    for i0 in range(0, n, B):
        m = min(B, n - i0)
        for i in range(B):
            row = i0 + i
            use = i < m and keep[row]
            total = 0.0
            for k in range(K):
                v = wr[row, k] if use else 0.0
                e[k, i] = v
                total += v
            wb[i] = total
            for j in range(d):
                xt[j, i] = X[row, j] if use else centre[j]
        add_block_moments(xt, wb, e, origin, mode, z, ez, lane_n, lane_a, lane_S, L)
    nk, a, S = lane_totals(lane_n, lane_a, lane_S, full)
    return nk, a, S, origin


def statistics_of_resp(X, resp, sample_weight, kind):
    """``SuffStats`` of the rows for given responsibilities, from :func:`resp_kernel_sums` (``Kernel.accumulate``)."""
    wr = np.asarray(resp, dtype=np.float64)
    if sample_weight is not None:
        wr = wr * np.asarray(sample_weight, dtype=np.float64)[:, None]
    wr = np.ascontiguousarray(wr)
    nk, a, raw, origin = resp_kernel_sums(np.ascontiguousarray(X), wr, ROW_MODES[kind], LANES)
    nk, means, scatter, lossy = moments_from_sums(nk, a, raw, origin, kind)
    if lossy.size:
        keep = wr.any(axis=1)  # as the sums: rows of no weight could overflow 0 * x^2
        recompute_exact(means, scatter, np.asarray(X, dtype=np.float64)[keep], wr[keep], lossy, kind)
    return SuffStats(nk, means, scatter)
