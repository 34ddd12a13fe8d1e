r"""The block kernel of rows with missing values (Numba): marginal E-step and statistics in one pass.

It works as the row kernel (``kernels.rows``) works: a block of
``primitives.BLOCK`` rows at a time, transposed so that every loop over the
block's rows is innermost and vectorises, with the statistics in
``primitives.LANES`` fixed-order partial sums. For row ``i`` with missing
coordinates ``m`` (its pattern's holes) and component ``k`` with precision
``P_k = U_k U_k^T`` (``U_k`` upper triangular), let ``D`` be ``x_i - mu_k``
with zeros in the holes, ``y = U_k^T D`` (the row kernel's whitening, d^2/2
products) and ``z_m = (P_k D)_m = P_k,mo (x_o - mu_k,o)`` (``r d``
products, every component at once: :func:`_fill_ins`). With ``delta =
-P_k,mm^{-1} z_m``,

* ``(x_o - mu_o)^T Sigma_oo^{-1} (x_o - mu_o) = ||y||^2 + delta^T z_m``,
* ``log N(x_o | mu_o, Sigma_oo) = base[p, k] - (||y||^2 + delta^T z_m) / 2``
  with ``base`` from ``marginal.pattern_inverses`` (``log |Sigma_oo|^{-1/2}
  = log |P_k|^{1/2} - log |P_k,mm|^{1/2}``),
* the completed deviation ``x̂_ik - mu_k`` is ``D`` with ``delta`` in the holes.

A diagonal precision has ``z_m = 0``: its fill-ins are the means. The
statistics are the completed deviations' moments about ``mu_k``
(``engine.missing`` adds the conditional covariances per pattern and moves
the scatter to the new means). Past :data:`GEMM_FROM_D` features, BLAS
forms ``y`` and the second moments of each block instead.

Before this kernel, ``z = P_k D`` and the second moments were two full
GEMMs over blocks of rows (4 K d^2 flops a row against about 2 K d^2 here)
and a row-by-row pass: at d=16, K=16, 5% of cells missing, a 10 000-row
chunk (5590 rows incomplete) took 9.5 ms on one thread against 5.4 ms
with nothing missing; with this kernel, 7.9 ms.
"""

from __future__ import annotations

import numpy as np

from ...compiled import jit
from .plan import DIAGONAL, ISOTROPIC
from .primitives import BLOCK, add_products8, block_softmax, fold8, lane_totals, load_block

#: Beyond this many features BLAS forms the whole-row products of a block
#: of full precisions: ``y = U_k^T D`` and the second moments, twice the
#: triangular loops' work at several times their rate. Fits of 20 000
#: rows, 5% missing, per iteration: d=24 K=16 20.5 ms against the loops'
#: 19.2, d=32 30.8 against 32.0, d=64 K=8 57.5 against 65.0.
GEMM_FROM_D = 32
#: The statistics a pass gathers: none, ``S_k`` diagonals, or the full ``S_k``.
NONE, DIAG, FULL = -1, 0, 1


@jit(inline="always")
def _load_holes(X, w, i0, pattern, m_start, with_stats, xt, obs, wb, pat, fill):
    """A block of rows transposed, NaN set to 0 in ``xt`` and 0 in ``obs`` (1 elsewhere).

    ``pat[i]`` is row ``i``'s pattern (-1 past the end). Row weights go to
    ``wb``: the weight with ``with_stats`` (0 for a row with nothing
    observed, which carries no information), else 1, so that the soft-max
    gives the responsibilities themselves. Rows past the end weigh 0.
    """
    n, d = X.shape
    B = xt.shape[1]
    m = load_block(X, w, i0, xt, wb, fill)
    for j in range(d):
        for i in range(B):
            v = xt[j, i]
            hole = np.isnan(v)
            obs[j, i] = 0.0 if hole else 1.0
            xt[j, i] = 0.0 if hole else v
    for i in range(B):
        if i < m:
            p = pattern[i0 + i]
            pat[i] = p
            if not with_stats:
                wb[i] = 1.0
            elif m_start[p + 1] - m_start[p] == d:
                wb[i] = 0.0
        else:
            pat[i] = -1
    return m


@jit(inline="always")
def _fill_ins(i, r, holes, xt, obs, Pt, muT, inverses, zk, tk, wlp, delta):
    """Row ``i``'s fill-ins under every component at once.

    ``z_m = P_k,mo (x_o - mu_k,o)`` (``Pt[h, j, k] = P_k[h, j]``, ``muT[j,
    k] = mu_k[j]``), ``delta = -P_k,mm^{-1} z_m`` (``inverses``: the pattern's
    inverses as ``(r*r, K)``), ``wlp[k, i] += delta^T z_m`` and ``delta[k,
    h, i] = delta`` at each hole ``h``. Every loop runs over the
    components, innermost and contiguous: a row's few products, one
    component at a time, each paid a loop's overhead (as long as the rest of
    the E-step), and ``z_m`` read from the whitened rows took a gather per
    product (190 ns a row, K=16, d=16).
    """
    K, d = muT.shape[1], muT.shape[0]
    for a in range(r):
        h = holes[a]
        for k in range(K):
            zk[a, k] = 0.0
        for j in range(d):
            x, o = xt[j, i], obs[j, i]
            for k in range(K):
                zk[a, k] += Pt[h, j, k] * ((x - muT[j, k]) * o)
    for a in range(r):
        for k in range(K):
            tk[k] = 0.0
        for b in range(r):
            for k in range(K):
                tk[k] -= inverses[a * r + b, k] * zk[b, k]
        h = holes[a]
        for k in range(K):
            wlp[k, i] += tk[k] * zk[a, k]
            delta[k, h, i] = tk[k]


@jit()
def holes_pass(X, w, pattern, missing, m_start, inverses, i_start, base, geometry, Pt, mode, gemm, lanes,
               wlp_out, resp_out, log_prob, per_pattern, imputed):
    """Marginal E-step of rows with holes and, unless ``mode`` is :data:`NONE`, their statistics.

    ``pattern[i]`` numbers row ``i``'s pattern of holes; ``missing``,
    ``m_start``, ``inverses``, ``i_start`` and ``base`` are
    ``marginal.pattern_inverses``'s; ``geometry`` is ``Plan.geometry``, ``Pt``
    the precisions as ``Pt[h, j, k] = P_k[h, j]`` and ``lanes`` is
    ``primitives.LANES``. Writes ``log p(x_i,o)`` to ``log_prob`` (0 for a
    row with nothing observed), the weighted log-densities to ``wlp_out``
    and, without statistics, the responsibilities to ``resp_out`` (each
    unless it has no rows), ``sum_k r_ik (mu_k,m + delta_k)`` into the holes
    of ``imputed`` unless it has no rows, and ``per_pattern[p, k] += w_i
    r_ik``. Returns ``n_k``, the first moments about the means ``a_k`` (K,
    d), and the second moments about them, (K, d*d) for :data:`FULL` (each
    product summed once and mirrored) or (K, d) for :data:`DIAG`.
    """
    means, U, pdiag = geometry[0], geometry[1], geometry[2]
    kind = geometry[4]
    n, d = X.shape
    K = means.shape[0]
    stats = mode != NONE
    diagonal = kind == DIAGONAL or kind == ISOTROPIC
    by_blas = gemm and mode == FULL
    P = d * (d + 1) // 2 if mode == FULL else d
    # With gemm, BLAS forms y = U_k^T D and the second moments of a block.
    moments = np.zeros((K if by_blas else 0, d, d))
    xt, obs, z, ez = np.empty((d, BLOCK)), np.empty((d, BLOCK)), np.empty((d, BLOCK)), np.empty((d, BLOCK))
    # delta[k, h, i]: row i's fill-in at hole h under k, 0 elsewhere.
    y, delta = np.empty((d, BLOCK)), np.zeros((K, d, BLOCK))
    muT = np.ascontiguousarray(means.T)
    zk, tk = np.empty((d, K)), np.empty(K)
    wb, top, total = np.empty(BLOCK), np.empty(BLOCK), np.empty(BLOCK)
    wlp, e = np.empty((K, BLOCK)), np.empty((K, BLOCK))
    pat = np.empty(BLOCK, np.int64)
    B = xt.shape[1]
    L = lanes
    lane_n = np.zeros((K, L))
    lane_a = np.zeros((K, d, L))
    lane_S = np.zeros((0 if by_blas else K, P, L))
    with_wlp, with_resp, impute = wlp_out.shape[0] > 0, resp_out.shape[0] > 0, imputed.shape[0] > 0
    for i0 in range(0, n, B):
        m = _load_holes(X, w, i0, pattern, m_start, stats, xt, obs, wb, pat, means[0])
        # wlp holds the quadratic forms until the end of the E-step.
        for k in range(K):
            for i in range(B):
                wlp[k, i] = 0.0
            for j in range(d):
                mu = means[k, j]
                for i in range(B):
                    z[j, i] = (xt[j, i] - mu) * obs[j, i]
            if diagonal:  # z_m = 0: the fill-ins are the means
                for j in range(d):
                    p = pdiag[k, j]
                    for i in range(B):
                        wlp[k, i] += p * (z[j, i] * z[j, i])
            elif gemm:
                yb = np.dot(U[k].T, z)
                for j in range(d):
                    for i in range(B):
                        wlp[k, i] += yb[j, i] * yb[j, i]
            else:
                for j in range(d):  # y = U_k^T D, one column of U_k at a time
                    for i in range(B):
                        y[j, i] = 0.0
                    for q in range(j + 1):
                        u = U[k, q, j]
                        for i in range(B):
                            y[j, i] += z[q, i] * u
                    for i in range(B):
                        wlp[k, i] += y[j, i] * y[j, i]
        if not diagonal:
            for i in range(m):
                p = pat[i]
                c0 = i_start[p]
                _fill_ins(i, m_start[p + 1] - m_start[p], missing[m_start[p]:m_start[p + 1]], xt, obs, Pt, muT,
                          inverses[c0:], zk, tk, wlp, delta)
        for k in range(K):
            for i in range(m):
                wlp[k, i] = base[pat[i], k] - 0.5 * wlp[k, i]
            for i in range(m, B):
                wlp[k, i] = -0.5 * wlp[k, i]
        if with_wlp:
            for i in range(m):
                for k in range(K):
                    wlp_out[i0 + i, k] = wlp[k, i]
        block_softmax(wlp, wb, e, top, total, B)
        for i in range(m):
            p = pat[i]
            log_prob[i0 + i] = 0.0 if m_start[p + 1] - m_start[p] == d else top[i]
        if with_resp:  # weights of 1 without statistics: e holds r_ik
            for i in range(m):
                for k in range(K):
                    resp_out[i0 + i, k] = e[k, i]
        if impute:
            for i in range(m):
                p = pat[i]
                for h in missing[m_start[p]:m_start[p + 1]]:
                    v = 0.0
                    for k in range(K):
                        v += e[k, i] * (means[k, h] + delta[k, h, i])
                    imputed[i0 + i, h] = v
        if stats:
            for k in range(K):
                for i in range(L):
                    lane_n[k, i] += fold8(e, k, i)
                for i in range(m):
                    per_pattern[pat[i], k] += e[k, i]
                dk = delta[k]
                for j in range(d):  # the completed deviation: delta in the holes
                    mu = means[k, j]
                    for i in range(B):
                        v = (xt[j, i] - mu) * obs[j, i] + dk[j, i]
                        z[j, i] = v
                        ez[j, i] = e[k, i] * v
                    for i in range(L):
                        lane_a[k, j, i] += fold8(ez, j, i)
                if by_blas:
                    moments[k] += np.dot(ez, z.T)
                else:
                    add_products8(lane_S, k, ez, z, mode == FULL)
        if not diagonal:  # clear the fill-ins for the next block
            for i in range(m):
                p = pat[i]
                for h in missing[m_start[p]:m_start[p + 1]]:
                    for k in range(K):
                        delta[k, h, i] = 0.0
    nk, a, S = lane_totals(lane_n, lane_a, lane_S, mode == FULL)
    if by_blas:  # the upper triangle, mirrored: the sums are symmetric
        S = np.empty((K, d * d))
        for k in range(K):
            for j in range(d):
                for q in range(j, d):
                    S[k, j * d + q] = moments[k, j, q]
                    S[k, q * d + j] = moments[k, j, q]
    return nk, a, S
