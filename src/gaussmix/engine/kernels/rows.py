r"""The row kernel (Numba): E-step and statistics of a chunk in one pass, for small d.

It takes the chunk a block of ``primitives.BLOCK`` rows at a time,
transposed so that every loop runs over the block's rows innermost and LLVM
vectorises it. For each row and component it forms ``z = x - mu_k`` in
float64, the squared distance ``||z U_k||^2`` (or ``sum_j p_kj z_j^2`` for
diagonal precisions; a shared factor whitens the block once, see
:func:`_block_wlp`), the log-sum-exp and the responsibility ``r_ik`` (with a
vectorisable exp, ``primitives.exp_parts``), and adds ``w_i r_ik``,
``w_i r_ik z`` and ``w_i r_ik z z^T`` into ``primitives.LANES`` partial
sums, in a fixed order; the lanes are added at the end. The statistics are
thus centred on the component's *current* mean; with
``a_k = sum_i w_i r_ik z_i``,

.. math::

    \bar x_k = \mu_k + a_k / n_k, \qquad
    S_k = \sum_i w_i r_{ik} z_i z_i^T - a_k a_k^T / n_k ,

which cancels only by ``eps (|\bar x_k - \mu_k| / \sigma_k)^2``: nothing once
EM has settled. A pooled scatter (``sum_k S_k``, for a shared covariance)
is taken about the pass's centre ``c`` instead, where
``sum_k w_i r_ik z z^T = w_i z z^T`` costs one product per row, and
``W = sum_i w_i z_i z_i^T - sum_k a_k a_k^T / n_k``. No (n, K) or
(n, K, d) array exists. A component whose one-pass moments lost more than
half their digits is recomputed exactly (``vectorised.finish_statistics``).
"""

from __future__ import annotations

import numpy as np

from ...compiled import jit
from .plan import DIAGONAL, ISOTROPIC, SHARED, plan_of
from .primitives import BLOCK, LANES, block_softmax, density_and_resp, lane_totals, load_block, weights_or_ones
from .base import CompiledKernel
from .moments import ROW_MODES, add_block_moments, statistics_of_resp
from .vectorised import VectorisedKernel, finish_statistics

#: Where the row kernel beats the BLAS routes (2-core EPYC, float64): full
#: precisions while d <= 16 (N=1e5 K=16 per iteration: d=16 52 ms against
#: TRMM's 62, d=24 102 against 78), and diagonal ones while d K <= 4096
#: (d=64 K=64 0.78 of the GEMM route's time; d=128 K=64 1.30). Measured
#: before the statistics moved to 8 lanes, which sped the row kernel up
#: 1.1-2x; the limits may now sit low.
ROW_KERNEL_MAX_D_MATRIX = 16
ROW_KERNEL_MAX_DK_DIAG = 4096
#: A shared factor whitens each block once (``_block_wlp``), so its row
#: kernel costs d^2/2 products a row for any K and wins further. 5000-row
#: chunks, one thread, float64 (float32 alike), row kernel against the GEMM
#: route, two runs each: d=24 K=16 1.4 ms against 5.3; d=32 K=16 1.5
#: against 6.6; d=64 K=3 3.0-3.9 against 9.2-10.9, K=16 4.0-5.2 against
#: 5.1, K=64 7.8-8.9 against 14.9-15.1.
ROW_KERNEL_MAX_D_SHARED = 64
#: Full covariances in float32 leave the row kernel (which computes in
#: float64) sooner: the float32 TRMM route of ``triangular`` wins from d=13
#: (N=1e5, K=16, per iteration: d=12 33.2 ms against 32.5; d=16 40 against 49).
ROW_KERNEL_MAX_D_TRIANGULAR_F32 = 12



@jit(inline="always")
def _whiten(xt, origin, Uk, z, y, B):
    """``y[j, i] = sum_{q <= j} (xt[q, i] - origin[q]) Uk[q, j]``: a block's first ``B`` rows, centred, times upper-triangular ``Uk``."""
    d = xt.shape[0]
    for j in range(d):
        o = origin[j]
        for i in range(B):
            z[j, i] = xt[j, i] - o
    for j in range(d):
        for i in range(B):
            y[j, i] = 0.0
        for q in range(j + 1):
            u = Uk[q, j]
            for i in range(B):
                y[j, i] += z[q, i] * u


@jit(inline="always")
def _block_wlp(xt, geometry, z, y, yk, s, wlp, B):
    """``wlp[k, i] = log_norm_k - ||(x_i - mu_k) U_k||^2 / 2`` (or ``sum_j p_kj z_j^2``, ``p_k sum_j z_j^2``) for a block's first ``B`` rows.

    ``geometry`` is ``Plan.geometry``. A shared factor whitens the
    block once about the mixture's mean ``c``, ``y = (x - c) U``, and
    ``||(x - mu_k) U||^2 = ||y - b_k||^2`` with ``b_k = (mu_k - c) U``: d^2/2
    products a row instead of K d^2/2. A component marked ``direct`` (so
    far from ``c`` that ``y - b_k`` would cancel) is whitened on its own.
    """
    means, U, pdiag, log_norm, kind, centre, b, direct = geometry
    K, d = means.shape
    if kind == SHARED:
        _whiten(xt, centre, U[0], z, y, B)
    for k in range(K):
        for i in range(B):
            s[i] = 0.0
        if kind == DIAGONAL:
            # Four features a pass: one load and store of s per four terms.
            j = 0
            while j + 4 <= d:
                m0, m1, m2, m3 = means[k, j], means[k, j + 1], means[k, j + 2], means[k, j + 3]
                p0, p1, p2, p3 = pdiag[k, j], pdiag[k, j + 1], pdiag[k, j + 2], pdiag[k, j + 3]
                for i in range(B):
                    t0 = xt[j, i] - m0
                    t1 = xt[j + 1, i] - m1
                    t2 = xt[j + 2, i] - m2
                    t3 = xt[j + 3, i] - m3
                    s[i] += (p0 * (t0 * t0) + p1 * (t1 * t1)) + (p2 * (t2 * t2) + p3 * (t3 * t3))
                j += 4
            for j in range(j, d):
                mu = means[k, j]
                p = pdiag[k, j]
                for i in range(B):
                    t = xt[j, i] - mu
                    s[i] += p * (t * t)
        elif kind == ISOTROPIC:
            # One precision per component: it scales the sum of squares
            # once, two operations a term instead of the diagonal's three.
            j = 0
            while j + 4 <= d:
                m0, m1, m2, m3 = means[k, j], means[k, j + 1], means[k, j + 2], means[k, j + 3]
                for i in range(B):
                    t0 = xt[j, i] - m0
                    t1 = xt[j + 1, i] - m1
                    t2 = xt[j + 2, i] - m2
                    t3 = xt[j + 3, i] - m3
                    s[i] += (t0 * t0 + t1 * t1) + (t2 * t2 + t3 * t3)
                j += 4
            for j in range(j, d):
                mu = means[k, j]
                for i in range(B):
                    t = xt[j, i] - mu
                    s[i] += t * t
            p = pdiag[k, 0]
            for i in range(B):
                s[i] *= p
        elif kind == SHARED and not direct[k]:
            for j in range(d):
                c = b[k, j]
                for i in range(B):
                    t = y[j, i] - c
                    s[i] += t * t
        else:
            # One output column at a time: a (BLOCK,) row of yk stays in L1.
            for j in range(d):
                mu = means[k, j]
                for i in range(B):
                    z[j, i] = xt[j, i] - mu
            for j in range(d):
                for i in range(B):
                    yk[i] = 0.0
                for q in range(j + 1):  # U_k is upper triangular
                    u = U[k, q, j]
                    for i in range(B):
                        yk[i] += z[q, i] * u
                for i in range(B):
                    s[i] += yk[i] * yk[i]
        c = log_norm[k]
        for i in range(B):
            wlp[k, i] = c - 0.5 * s[i]


@jit(inline="always")
def _estep_buffers(d, K):
    """Per-block buffers of :func:`_block_wlp` and :func:`block_softmax`.

    ``xt, z, y`` (d, BLOCK); ``yk, s, wb, top, total`` (BLOCK,); ``wlp, e`` (K, BLOCK).
    """
    xt, z, y = np.empty((d, BLOCK)), np.empty((d, BLOCK)), np.empty((d, BLOCK))
    yk, s, wb, top, total = np.empty(BLOCK), np.empty(BLOCK), np.empty(BLOCK), np.empty(BLOCK), np.empty(BLOCK)
    return xt, z, y, yk, s, wb, top, total, np.empty((K, BLOCK)), np.empty((K, BLOCK))


@jit()
def row_kernel_sums(X, w, geometry, mode, origin, lanes):
    """E-step and statistics of a chunk, a block of rows at a time (see the module docstring).

    ``geometry`` is ``Plan.geometry``; ``lanes`` is :data:`LANES`.

    ``mode`` is a value of :data:`ROW_MODES`; the sums are taken about
    ``origin[k]`` (the component means, or the mixture's mean repeated for
    a pooled scatter). Returns ``n_k``, ``a_k = sum_i w_i r_ik z_ik`` (K, d),
    the scatter sums (K, d) diagonal, (K, d*d) full or (1, d*d) pooled (each
    product summed once, for j <= m, and mirrored), and ``sum_i w_i log p(x_i)``.
    """
    means = geometry[0]
    n, d = X.shape
    K = means.shape[0]
    full = mode != 0
    P = d * (d + 1) // 2 if full else d
    xt, z, y, yk, s, wb, top, total, wlp, e = _estep_buffers(d, K)
    ez = np.empty((d, BLOCK))
    B = xt.shape[1]
    L = lanes  # LANES, passed at run time: LLVM unrolls a loop of known trip count 8 into scalar code
    lane_n = np.zeros((K, L))
    lane_a = np.zeros((K, d, L))
    lane_S = np.zeros((1 if mode == 2 else K, P, L))
    ll = 0.0
    for i0 in range(0, n, B):
        m = load_block(X, w, i0, xt, wb, means[0])
        # The E-step of the block's rows only: those past the end (the last
        # block's; a quarter of the rows at 145) would give w_i r_ik = +0.0,
        # which the moments add as they are, so that is what they get.
        _block_wlp(xt, geometry, z, y, yk, s, wlp, m)
        block_softmax(wlp, wb, e, top, total, m)
        for k in range(K):
            for i in range(m, B):
                e[k, i] = 0.0
        for i in range(m):
            if wb[i] > 0:  # a zero weight cancels its row, even at log p = -inf
                ll += wb[i] * top[i]
        add_block_moments(xt, wb, e, origin, mode, z, ez, lane_n, lane_a, lane_S, L)
    nk, a, S = lane_totals(lane_n, lane_a, lane_S, full)
    return nk, a, S, ll


@jit()
def _wlp_rows(X, geometry, wlp):
    """``wlp[i, k] = log_norm_k - ||(x_i - mu_k) U_k||^2 / 2`` (or diagonal ``p_k``), a block at a time."""
    means = geometry[0]
    n, d = X.shape
    K = means.shape[0]
    xt, z, y, yk, s, wb, _, _, block, _ = _estep_buffers(d, K)
    ones = np.ones(n)
    B = xt.shape[1]
    for i0 in range(0, n, B):
        m = load_block(X, ones, i0, xt, wb, means[0])
        _block_wlp(xt, geometry, z, y, yk, s, block, m)
        for i in range(m):
            for k in range(K):
                wlp[i0 + i, k] = block[k, i]


@jit(inline="always")
def _block_e_step(X, ones, i0, geometry, buffers):
    """The E-step of the block at ``i0`` (rows of weight 1) into ``buffers``; returns its rows.

    ``buffers`` are :func:`_estep_buffers`'; then ``top`` holds ``log p(x_i)``,
    ``e`` the responsibilities and ``total`` ``1 / sum_k e^{l_ik - m_i}``.
    """
    xt, z, y, yk, s, wb, top, total, wlp, e = buffers
    m = load_block(X, ones, i0, xt, wb, geometry[0][0])
    _block_wlp(xt, geometry, z, y, yk, s, wlp, m)  # the rows past the end are not read
    block_softmax(wlp, wb, e, top, total, m)
    return m


@jit()
def e_step_rows(X, geometry, log_prob, resp):
    """``log p(x_i)`` into ``log_prob`` and, unless ``resp`` has no rows, ``r_ik`` into ``resp``.

    The E-step of :func:`row_kernel_sums` alone, for scoring: no (n, K)
    log-density array is formed, and the results are written in the
    outputs' dtype.
    """
    n, d = X.shape
    K = geometry[0].shape[0]
    buffers = _estep_buffers(d, K)
    top, e = buffers[6], buffers[9]
    ones = np.ones(n)
    with_resp = resp.shape[0] > 0
    for i0 in range(0, n, BLOCK):
        m = _block_e_step(X, ones, i0, geometry, buffers)
        for i in range(m):
            log_prob[i0 + i] = top[i]
        if with_resp:
            for i in range(m):
                for k in range(K):
                    resp[i0 + i, k] = e[k, i]


@jit()
def row_criterion_sums(X, w, geometry):
    """``(sum_i w_i log p(x_i), sum_i w_i log max_k r_ik, sum_i w_i)`` over the rows of positive weight.

    The terms of BIC and ICL from the E-step of :func:`e_step_rows`, summed
    in the same pass: no per-row array. ``max_k r_ik`` is ``1 / sum_k
    e^{l_ik - m_i}`` (the largest term is ``e^0 = 1``), which
    ``block_softmax`` leaves in ``total`` for a row of weight 1.
    """
    n, d = X.shape
    buffers = _estep_buffers(d, geometry[0].shape[0])
    top, total = buffers[6], buffers[7]
    ones = np.ones(n)
    log_lik, log_map, weight = 0.0, 0.0, 0.0
    for i0 in range(0, n, BLOCK):
        m = _block_e_step(X, ones, i0, geometry, buffers)
        for i in range(m):
            wi = w[i0 + i]
            if wi > 0:  # a zero weight cancels its row, even at log p = -inf
                log_lik += wi * top[i]
                log_map += wi * np.log(total[i])
                weight += wi
    return log_lik, log_map, weight


#: Per precision structure: whether ``(K, d, float32)`` takes the row kernel.
_ROW_KERNEL_TAKES = {
    "diag": lambda K, d, f32: d * K <= ROW_KERNEL_MAX_DK_DIAG,
    "spherical": lambda K, d, f32: d * K <= ROW_KERNEL_MAX_DK_DIAG,
    "shared": lambda K, d, f32: d <= ROW_KERNEL_MAX_D_SHARED,
    "full": lambda K, d, f32: d <= (ROW_KERNEL_MAX_D_TRIANGULAR_F32 if f32 else ROW_KERNEL_MAX_D_MATRIX),
}


#: Diagonal statistics for given responsibilities leave the compiled sums
#: for NumPy's products sooner than the E-step pass does. 20 000 rows, one
#: call, compiled against NumPy (Xeon, 2 cores): d=32 K=64 11.6 ms against
#: 13.3, d=64 K=64 37.0 against 28.1; full d=16 K=16 10.4 against 32.8.
RESP_SUMS_MAX_DK_DIAG = 2048
#: Per scatter kind: whether ``(K, d)`` statistics for given responsibilities
#: take the compiled sums, else NumPy's GEMMs.
_RESP_SUMS_TAKE = {
    "full": lambda K, d: d <= ROW_KERNEL_MAX_D_MATRIX,
    "pooled": lambda K, d: d <= ROW_KERNEL_MAX_D_MATRIX,
    "diag": lambda K, d: d * K <= RESP_SUMS_MAX_DK_DIAG,
}


class RowKernel(CompiledKernel, VectorisedKernel):
    """NumPy chunks of small d (or a shared factor), float32 or float64, compiled.

    Its statistics from given responsibilities (a start's) are compiled
    sums too at small d (``moments.resp_kernel_sums``), and the NumPy kernel's
    beyond.
    """

    name = "numba-rows"
    threaded = True

    def within_limits(self, structure, n_components, n_features, dtype):
        f32 = np.dtype(dtype) == np.float32
        return _ROW_KERNEL_TAKES[structure](n_components, n_features, f32)

    def bytes_per_row(self, n_components, n_features, itemsize):
        # The chunk is read in place and the sums kept per block: a chunk
        # holds the (n, K) arrays of an E-step alone, and one float64 copy
        # of the chunk for an exact recompute.
        return 8 * (2 * n_components + n_features + 2)

    def prepare(self, eparams):
        return plan_of(eparams)

    @staticmethod
    def _log_prob64(X, plan):
        wlp = np.empty((X.shape[0], plan.means.shape[0]))
        _wlp_rows(X, plan.geometry, wlp)
        return wlp

    def weighted_log_prob(self, X, eparams):
        X = np.ascontiguousarray(X)
        return self._log_prob64(X, plan_of(eparams)).astype(X.dtype, copy=False)

    def e_step(self, X, eparams, with_resp=True):
        plan = plan_of(eparams)
        X = np.ascontiguousarray(X)
        n, K = X.shape[0], plan.means.shape[0]
        log_prob = np.empty(n, dtype=X.dtype)
        resp = np.empty((n, K) if with_resp else (0, K), dtype=X.dtype)
        e_step_rows(X, plan.geometry, log_prob, resp)
        return log_prob, resp if with_resp else None

    fused_criteria = True

    def accumulate(self, X, resp, sample_weight, kind):
        if not _RESP_SUMS_TAKE[kind](resp.shape[1], X.shape[1]):
            return super().accumulate(X, resp, sample_weight, kind)
        # 145 rows, d=3, K=5: 22-28 us a call, against NumPy's 77-84.
        return statistics_of_resp(X, resp, sample_weight, kind)

    def criterion_sums(self, X, sample_weight, eparams):
        X = np.ascontiguousarray(X)
        sums = row_criterion_sums(X, weights_or_ones(sample_weight, X.shape[0]), plan_of(eparams).geometry)
        return float(sums[0]), float(sums[1]), float(sums[2])

    def statistics(self, X, sample_weight, eparams, scatter):
        plan = plan_of(eparams)
        X = np.ascontiguousarray(X)
        w = weights_or_ones(sample_weight, X.shape[0])
        weight = float(X.shape[0]) if sample_weight is None else float(w.sum())
        # A pooled scatter needs one origin for all components (its sum of
        # z z^T is then one per row); the others centre on each mean.
        origin = plan.means if scatter != "pooled" else np.broadcast_to(plan.centre, plan.means.shape)
        nk, a, raw, ll = row_kernel_sums(
            X, w, plan.geometry, ROW_MODES[scatter], np.ascontiguousarray(origin), LANES,
        )
        stats = finish_statistics(
            nk, a, raw, origin, X, scatter, lambda: density_and_resp(self._log_prob64(X, plan), w)[0]
        )
        return stats, float(ll), weight


KERNEL = RowKernel()
