r"""Compiled kernels for NumPy chunks: E-step and statistics in one pass.

The array-API functions of ``_estep`` and ``_stats`` remain the definition;
these kernels compute the same map of one EM iteration (``_em.chunk_statistics``)
faster, and the tests hold them to the reference on random inputs and edge
shapes. The route is chosen per shape and dtype (``Plan.uses_row_kernel``):

**Row kernel** (small d, or a shared factor; Numba). It takes the chunk a
block of :data:`BLOCK` rows at a time, transposed so that every loop runs
over the block's rows innermost and LLVM vectorises it. For each row and
component it forms ``z = x - mu_k`` in float64, the squared distance
``||z U_k||^2`` (or ``sum_j p_kj z_j^2`` for diagonal precisions; a shared
factor whitens the block once, see :func:`_block_wlp`), the log-sum-exp
and the responsibility ``r_ik`` (with a vectorisable exp,
:func:`_exp_parts`), and adds ``w_i r_ik``, ``w_i r_ik z`` and
``w_i r_ik z z^T`` into :data:`LANES` partial sums, in a fixed order; the
lanes are added at the end. The statistics are thus
centred on the component's *current* mean; with ``a_k = sum_i w_i r_ik z_i``,

.. math::

    \bar x_k = \mu_k + a_k / n_k, \qquad
    S_k = \sum_i w_i r_{ik} z_i z_i^T - a_k a_k^T / n_k ,

which cancels only by ``eps (|\bar x_k - \mu_k| / \sigma_k)^2``: nothing once
EM has settled. A pooled scatter (``sum_k S_k``, for a shared covariance)
is taken about the mixture's mean ``c`` instead, where
``sum_k w_i r_ik z z^T = w_i z z^T`` costs one product per row, and
``W = sum_i w_i z_i z_i^T - sum_k a_k a_k^T / n_k``. No (n, K) or
(n, K, d) array exists.

**BLAS routes** (larger d). Full covariances (a factor per component)
take ``_triangular``: per component one TRMM whitens the rows centred on
``mu_k``, and one SYRK forms the scatter, in the chunk's dtype. Shared
(beyond d=64) and diagonal precisions centre the chunk on the mixture's mean
``c = sum_k pi_k mu_k`` (fixed per pass, so an outlying row cannot move it):
a shared factor whitens it once, ``Y = (X - c) U``, with
``||(x - \mu_k) U||^2 = ||y - b_k||^2`` and ``b_k = (\mu_k - c) U``;
diagonal precisions use the expansion of ``_kernels.sq_distances_diagonal``
in float64; and the statistics are ``_kernels.accumulate_numpy`` about the
same centre. Float32 chunks whiten in float32 and accumulate in float64.
Where ``b_k`` is so large that ``y - b_k`` would cancel more than the
float32 result can carry (a component far from the centre), that
component's distances take the exact per-component arithmetic.

On every route a component whose one-pass moments lost more than half their
digits is recomputed exactly (``_kernels.moments_from_sums`` and
``recompute_exact``).

``log p(x_i)`` and the responsibilities come from one compiled log-sum-exp
over each row, with the conventions of ``_estep.log_resp_from_weighted``: a
row whose every density underflowed has ``log p = -inf`` and responsibilities
``1/K``, and a zero weight cancels its row.

Without Numba (``_numba.AVAILABLE`` false, or ``GAUSSMIX_NO_NUMBA=1``) EM
runs on the NumPy kernels of ``_kernels``.
"""

from __future__ import annotations

import numpy as np

from ._kernels import accumulate_numpy, moments_from_sums, recompute_exact, sq_distances_diagonal
from . import _triangular
from ._numba import AVAILABLE, jit, float64_from_bits
from ._stats import SuffStats

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
#: float64) sooner: the float32 TRMM route of ``_triangular`` wins from d=13
#: (N=1e5, K=16, per iteration: d=12 33.2 ms against 32.5; d=16 40 against 49).
ROW_KERNEL_MAX_D_TRIANGULAR_F32 = 12

#: float32 whitening is trusted while ``eps * |b_k|^2`` stays below this.
F32_CANCEL_LIMIT = 2e-4
#: The row kernel's shared whitening (in float64) is trusted while
#: ``eps * |b_k|^2`` stays below this, for components within 6700 standard
#: deviations of the mixture's mean; further ones are whitened on their own.
#: Rounding ``y`` and ``b_k`` costs about ``2 eps |x - c| ||U|| |y - b_k|``
#: in a squared distance: ``2 eps |b_k| |y - b_k|`` for a well-conditioned
#: factor (at 1e8 standard deviations, 3e-8 measured), up to cond(U) times
#: more for a nearly singular covariance, as on the GEMM route.
ROW_SHARED_CANCEL_LIMIT = 1e-8

#: The E-step geometries of the row kernel (``Plan.geometry``), and each
#: precision structure's.
_DIAGONAL, _FACTORS, _SHARED, _ISOTROPIC = 0, 1, 2, 3
_GEOMETRY_OF = {"diag": _DIAGONAL, "spherical": _ISOTROPIC, "full": _FACTORS, "shared": _SHARED}


# --------------------------------------------------------------------------
# compiled kernels
# --------------------------------------------------------------------------


#: Rows per block of the compiled kernels. Every loop over a block's rows is
#: innermost, so LLVM vectorises it. The kernels read the block size from
#: their buffers' shapes, not from this constant: a trip count known at
#: compile time makes LLVM unroll the loop into scalar code before it can
#: vectorise it (3x slower, measured). 64 beat 32, 128 and 256.
BLOCK = 64
#: The statistics keep :data:`LANES` partial sums (one SIMD register of
#: float64); lane ``l`` adds rows ``l, l + 8, ..., l + 56`` of each block
#: by a fixed tree (:func:`_fold8`, :func:`_dot8`), and the lanes are added
#: at the end. The order of every addition is fixed, whatever the SIMD
#: width. One partial sum per row of the block (64 lanes) cost a load and a
#: store per row and statistic, and at d=64, K=16 the lanes outgrew the L1
#: cache: the statistics of a 5000-row chunk took 1.8 ms against 0.6.
LANES = 8
assert BLOCK == 8 * LANES  # the folds below add 8 rows per lane

_LOG2E = 1.4426950408889634
# ln 2 split so that n * _LN2_HI is exact for |n| < 2**11 (Cody and Waite).
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10


@jit(inline="always")
def _exp_parts(x):
    """``exp(x) = p * 2**n`` for ``x <= 0`` (or -inf), as ``(p, n)``.

    Numba calls libm's scalar ``exp`` (7 ns here; NumPy's vector loop takes
    1.3 ns but cannot run inside a fused kernel). This is the textbook
    reduction ``x = n ln 2 + r``, ``|r| <= ln(2)/2``, and the Taylor series
    of ``exp(r)`` to degree 13 (truncation below 1e-17), which LLVM
    vectorises; within 2 ulp of libm. ``2**n`` is applied by
    :func:`_exp_nonpositive`. Results below 2**-1022 (x < -708.4) flush to 0.
    """
    x = max(x, -746.0)
    n = np.floor(x * _LOG2E + 0.5)
    r = (x - n * _LN2_HI) - n * _LN2_LO
    p = 1.0 / 6227020800.0
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    return p, max(n, -1023.0)


@jit(inline="always")
def _exp_nonpositive(x):
    """``exp(x)`` for ``x <= 0`` (or -inf): :func:`_exp_parts` with ``2**n`` applied from its bits."""
    p, n = _exp_parts(x)
    # The float64 2**n for integral -1023 <= n <= 0 (-1023 gives 0.0).
    return p * float64_from_bits((np.int64(n) + 1023) << 52)


@jit(inline="always")
def _block_softmax(wlp, wb, e, top, total):
    r"""Turn a block's ``wlp`` (K, BLOCK) into ``w_i r_ik`` (in ``e``); ``top`` becomes ``log p(x_i)``.

    .. math::

        \log p(x_i) = m_i + \log \sum_k e^{\ell_{ik} - m_i}, \qquad
        r_{ik} = e^{\ell_{ik} - m_i} / \sum_j e^{\ell_{ij} - m_i},

    with ``m_i = max_k l_ik``. A row whose every entry is -inf gets
    ``log p = -inf`` and ``r_ik = 1/K`` (``_estep.log_resp_from_weighted``).
    """
    K, B = wlp.shape
    for i in range(B):
        top[i] = -np.inf
        total[i] = 0.0
    for k in range(K):
        for i in range(B):
            top[i] = max(top[i], wlp[k, i])
    for k in range(K):
        for i in range(B):
            # All -inf: every term counts as exp(0), so r_ik = 1/K.
            v = _exp_nonpositive(wlp[k, i] - top[i] if top[i] > -np.inf else 0.0)
            e[k, i] = v
            total[i] += v
    for i in range(B):
        scale = wb[i] / total[i]
        lse = top[i] + np.log(total[i]) if top[i] > -np.inf else -np.inf
        top[i] = lse
        total[i] = scale
    for k in range(K):
        for i in range(B):
            e[k, i] *= total[i]


@jit(inline="always")
def _fold8(a, r, i):
    """Lane ``i`` of row ``r`` of ``a`` (., BLOCK): ``sum_g a[r, i + 8 g]`` by a fixed tree."""
    return ((a[r, i] + a[r, i + 8]) + (a[r, i + 16] + a[r, i + 24])) + (
        (a[r, i + 32] + a[r, i + 40]) + (a[r, i + 48] + a[r, i + 56])
    )


@jit(inline="always")
def _dot8(a, r, b, q, i):
    """Lane ``i`` of ``a[r] * b[q]`` (rows of (., BLOCK) arrays), summed as :func:`_fold8` sums."""
    return (
        (a[r, i] * b[q, i] + a[r, i + 8] * b[q, i + 8]) + (a[r, i + 16] * b[q, i + 16] + a[r, i + 24] * b[q, i + 24])
    ) + ((a[r, i + 32] * b[q, i + 32] + a[r, i + 40] * b[q, i + 40]) + (a[r, i + 48] * b[q, i + 48] + a[r, i + 56] * b[q, i + 56]))


@jit(inline="always")
def _centred_moments8(xt, j, e, k, mu, i):
    """Lane ``i`` of ``sum e[k] t`` and ``sum e[k] t^2``, ``t = xt[j] - mu``, without storing ``t``.

    The diagonal statistics' inner loop: kept in registers, it ran 2-3x
    faster than :func:`_dot8` over stored temporaries.
    """
    t0 = xt[j, i] - mu
    t1 = xt[j, i + 8] - mu
    t2 = xt[j, i + 16] - mu
    t3 = xt[j, i + 24] - mu
    t4 = xt[j, i + 32] - mu
    t5 = xt[j, i + 40] - mu
    t6 = xt[j, i + 48] - mu
    t7 = xt[j, i + 56] - mu
    r0 = e[k, i] * t0
    r1 = e[k, i + 8] * t1
    r2 = e[k, i + 16] * t2
    r3 = e[k, i + 24] * t3
    r4 = e[k, i + 32] * t4
    r5 = e[k, i + 40] * t5
    r6 = e[k, i + 48] * t6
    r7 = e[k, i + 56] * t7
    first = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    second = ((r0 * t0 + r1 * t1) + (r2 * t2 + r3 * t3)) + ((r4 * t4 + r5 * t5) + (r6 * t6 + r7 * t7))
    return first, second


@jit(inline="always")
def _load_block(X, w, i0, xt, wb, fill):
    """Rows ``i0 .. i0+BLOCK`` of X transposed into ``xt`` (d, BLOCK), and their weights.

    Rows past the end are ``fill`` with weight 0, so they add nothing.
    """
    n, d = X.shape
    B = xt.shape[1]
    m = min(B, n - i0)
    # Eight rows at a time, each read along its columns: the plain
    # column-by-column copy became a strided gather, 3 cycles an element
    # (5000 x 16 float64: 59 us against 23).
    i = 0
    while i + 8 <= m:
        r = i0 + i
        for j in range(d):
            xt[j, i] = X[r, j]
            xt[j, i + 1] = X[r + 1, j]
            xt[j, i + 2] = X[r + 2, j]
            xt[j, i + 3] = X[r + 3, j]
            xt[j, i + 4] = X[r + 4, j]
            xt[j, i + 5] = X[r + 5, j]
            xt[j, i + 6] = X[r + 6, j]
            xt[j, i + 7] = X[r + 7, j]
        i += 8
    for i in range(i, m):
        for j in range(d):
            xt[j, i] = X[i0 + i, j]
    for j in range(d):
        for i in range(m, B):
            xt[j, i] = fill[j]
    for i in range(m):
        wb[i] = w[i0 + i]
    for i in range(m, B):
        wb[i] = 0.0
    return m


@jit(inline="always")
def _whiten(xt, origin, Uk, z, y):
    """``y[j, i] = sum_{q <= j} (xt[q, i] - origin[q]) Uk[q, j]``: a block's rows, centred, times upper-triangular ``Uk``."""
    d, B = xt.shape
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
def _block_wlp(xt, geometry, z, y, yk, s, wlp):
    """``wlp[k, i] = log_norm_k - ||(x_i - mu_k) U_k||^2 / 2`` (or ``sum_j p_kj z_j^2``, ``p_k sum_j z_j^2``) for a block.

    ``geometry`` is :attr:`Plan.geometry`. A shared factor whitens the
    block once about the mixture's mean ``c``, ``y = (x - c) U``, and
    ``||(x - mu_k) U||^2 = ||y - b_k||^2`` with ``b_k = (mu_k - c) U``: d^2/2
    products a row instead of K d^2/2. A component marked ``direct`` (so
    far from ``c`` that ``y - b_k`` would cancel) is whitened on its own.
    """
    means, U, pdiag, log_norm, kind, centre, b, direct = geometry
    K, d = means.shape
    B = xt.shape[1]
    if kind == _SHARED:
        _whiten(xt, centre, U[0], z, y)
    for k in range(K):
        for i in range(B):
            s[i] = 0.0
        if kind == _DIAGONAL:
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
        elif kind == _ISOTROPIC:
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
        elif kind == _SHARED and not direct[k]:
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
    """Per-block buffers of :func:`_block_wlp` and :func:`_block_softmax`.

    ``xt, z, y`` (d, BLOCK); ``yk, s, wb, top, total`` (BLOCK,); ``wlp, e`` (K, BLOCK).
    """
    xt, z, y = np.empty((d, BLOCK)), np.empty((d, BLOCK)), np.empty((d, BLOCK))
    yk, s, wb, top, total = np.empty(BLOCK), np.empty(BLOCK), np.empty(BLOCK), np.empty(BLOCK), np.empty(BLOCK)
    return xt, z, y, yk, s, wb, top, total, np.empty((K, BLOCK)), np.empty((K, BLOCK))


#: The row kernel's statistics: ``S_k`` diagonals, full ``S_k``, or their sum.
_MODES = {"diag": 0, "full": 1, "pooled": 2}


@jit()
def _row_kernel(X, w, geometry, mode, origin, lanes):
    """E-step and statistics of a chunk, a block of rows at a time (see the module docstring).

    ``geometry`` is :attr:`Plan.geometry`; ``lanes`` is :data:`LANES`.

    ``mode`` is a value of :data:`_MODES`; the sums are taken about
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
        m = _load_block(X, w, i0, xt, wb, means[0])
        _block_wlp(xt, geometry, z, y, yk, s, wlp)
        _block_softmax(wlp, wb, e, top, total)
        for i in range(m):
            if wb[i] > 0:  # a zero weight cancels its row, even at log p = -inf
                ll += wb[i] * top[i]
        if mode == 2:  # one origin for every component: z once per block
            for j in range(d):
                c = origin[0, j]
                for i in range(B):
                    t = xt[j, i] - c
                    z[j, i] = t
                    ez[j, i] = wb[i] * t
        for k in range(K):
            for i in range(L):
                lane_n[k, i] += _fold8(e, k, i)
            if mode == 0:
                for j in range(d):
                    mu = origin[k, j]
                    for i in range(L):
                        first, second = _centred_moments8(xt, j, e, k, mu, i)
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
                        lane_a[k, j, i] += _fold8(ez, j, i)
                t = 0
                for j in range(d):
                    for q in range(j, d):
                        for i in range(L):
                            lane_S[k, t, i] += _dot8(ez, j, z, q, i)
                        t += 1
            else:
                for j in range(d):
                    for i in range(L):
                        lane_a[k, j, i] += _dot8(e, k, z, j, i)
        if mode == 2:
            # Pooled about one origin: sum_k w_i r_ik z z^T = w_i z z^T.
            t = 0
            for j in range(d):
                for q in range(j, d):
                    for i in range(L):
                        lane_S[0, t, i] += _dot8(ez, j, z, q, i)
                    t += 1
    nk = np.zeros(K)
    a = np.zeros((K, d))
    S = np.zeros((lane_S.shape[0], d * d if full else d))
    for k in range(K):
        for i in range(L):
            nk[k] += lane_n[k, i]
        for j in range(d):
            for i in range(L):
                a[k, j] += lane_a[k, j, i]
    for k in range(S.shape[0]):
        t = 0  # the packed upper triangle (or diagonal), in the order it was filled
        for j in range(d):
            for q in range(j, d) if full else range(j, j + 1):
                acc = 0.0
                for i in range(L):
                    acc += lane_S[k, t, i]
                if full:  # both triangles: the sums are symmetric
                    S[k, j * d + q] = acc
                    S[k, q * d + j] = acc
                else:
                    S[k, j] = acc
                t += 1
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
        m = _load_block(X, ones, i0, xt, wb, means[0])
        _block_wlp(xt, geometry, z, y, yk, s, block)
        for i in range(m):
            for k in range(K):
                wlp[i0 + i, k] = block[k, i]


@jit()
def _e_step_rows(X, geometry, log_prob, resp):
    """``log p(x_i)`` into ``log_prob`` and, unless ``resp`` has no rows, ``r_ik`` into ``resp``.

    The E-step of :func:`_row_kernel` alone, for scoring: no (n, K)
    log-density array is formed, and the results are written in the
    outputs' dtype.
    """
    means = geometry[0]
    n, d = X.shape
    K = means.shape[0]
    xt, z, y, yk, s, wb, top, total, wlp, e = _estep_buffers(d, K)
    ones = np.ones(n)
    B = xt.shape[1]
    with_resp = resp.shape[0] > 0
    for i0 in range(0, n, B):
        m = _load_block(X, ones, i0, xt, wb, means[0])
        _block_wlp(xt, geometry, z, y, yk, s, wlp)
        _block_softmax(wlp, wb, e, top, total)
        for i in range(m):
            log_prob[i0 + i] = top[i]
        if with_resp:
            for i in range(m):
                for k in range(K):
                    resp[i0 + i, k] = e[k, i]


#: Rows per tile of :func:`_wlp_shared`: a tile of whitened rows (256 KiB at
#: d=128 in float64) stays in L2 while every component passes over it.
SHARED_TILE_ROWS = 256


@jit()
def _wlp_shared(Yt, b, log_norm, wlp, acc):
    """``wlp[i, k] = log_norm_k - ||y_i - b_k||^2 / 2`` from the whitened rows held feature-major.

    ``Yt`` (d, n) holds ``y_i`` in column i. Each squared distance is a sum
    over features in feature order, with the loop over a tile's rows
    innermost, so it vectorises and every row's sum has the same fixed
    order. (Summed along row-major rows, it was scalar code: at d=128,
    K=64, 12 of a chunk's 19 ms.) ``acc`` holds a tile's sums.
    """
    d, n = Yt.shape
    K = b.shape[0]
    rows = acc.shape[0]
    for t0 in range(0, n, rows):
        m = min(rows, n - t0)
        for k in range(K):
            for i in range(m):
                acc[i] = 0.0
            j = 0
            while j + 4 <= d:  # four features per pass: a quarter of the loads and stores of acc
                b0, b1, b2, b3 = b[k, j], b[k, j + 1], b[k, j + 2], b[k, j + 3]
                y0, y1 = Yt[j, t0:t0 + m], Yt[j + 1, t0:t0 + m]
                y2, y3 = Yt[j + 2, t0:t0 + m], Yt[j + 3, t0:t0 + m]
                for i in range(m):
                    t0_, t1_ = np.float64(y0[i]) - b0, np.float64(y1[i]) - b1
                    t2_, t3_ = np.float64(y2[i]) - b2, np.float64(y3[i]) - b3
                    acc[i] += (t0_ * t0_ + t1_ * t1_) + (t2_ * t2_ + t3_ * t3_)
                j += 4
            while j < d:
                bj = b[k, j]
                yj = Yt[j, t0:t0 + m]
                for i in range(m):
                    t = np.float64(yj[i]) - bj
                    acc[i] += t * t
                j += 1
            col = wlp[t0:t0 + m, k]
            for i in range(m):
                col[i] = log_norm[k] - 0.5 * acc[i]


@jit()
def _responsibilities(wlp, w, wr, log_prob):
    """From ``wlp`` (n, K): ``wr = w_i r_ik`` and ``log_prob = log p(x_i)``.

    Returns ``sum_i w_i log p(x_i)`` over the rows of positive weight.
    """
    n, K = wlp.shape
    block = np.empty((K, BLOCK))
    e = np.empty((K, BLOCK))
    wb = np.empty(BLOCK)
    top = np.empty(BLOCK)
    total = np.empty(BLOCK)
    ll = 0.0
    B = wb.shape[0]
    for i0 in range(0, n, B):
        m = min(B, n - i0)
        for i in range(m):
            wb[i] = w[i0 + i]
            for k in range(K):
                block[k, i] = wlp[i0 + i, k]
        for i in range(m, B):
            wb[i] = 0.0
            for k in range(K):
                block[k, i] = 0.0
        _block_softmax(block, wb, e, top, total)
        for i in range(m):
            log_prob[i0 + i] = top[i]
            if wb[i] > 0:
                ll += wb[i] * top[i]
            for k in range(K):
                wr[i0 + i, k] = e[k, i]
    return ll


# --------------------------------------------------------------------------
# per-pass preparation
# --------------------------------------------------------------------------


#: Per precision structure: whether ``(K, d, float32)`` takes the row kernel.
_ROW_KERNEL_TAKES = {
    "diag": lambda K, d, f32: d * K <= ROW_KERNEL_MAX_DK_DIAG,
    "spherical": lambda K, d, f32: d * K <= ROW_KERNEL_MAX_DK_DIAG,
    "shared": lambda K, d, f32: d <= ROW_KERNEL_MAX_D_SHARED,
    "full": lambda K, d, f32: d <= (ROW_KERNEL_MAX_D_TRIANGULAR_F32 if f32 else ROW_KERNEL_MAX_D_MATRIX),
}


def row_kernel_route(structure, n_components, n_features, dtype):
    """Whether EM on chunks of ``dtype`` takes the row kernel for a precision ``structure``.

    ``structure`` is a name of ``_structures.STRUCTURES``; the limits are
    measured (see :data:`ROW_KERNEL_MAX_D_MATRIX` and the ones below it).
    """
    f32 = np.dtype(dtype) == np.float32
    return AVAILABLE and _ROW_KERNEL_TAKES[structure](n_components, n_features, f32)


def chunk_route(structure, n_components, n_features, dtype):
    """The route of an EM pass over chunks of ``dtype``: ``"row"``, ``"triangular"`` or ``"blas"``.

    The keys of ``_chunks.BYTES_PER_ROW``, which sizes the chunks by route.
    """
    if row_kernel_route(structure, n_components, n_features, dtype):
        return "row"
    return "triangular" if AVAILABLE and structure == "full" else "blas"


class Plan:
    """What the kernels need from one pass's parameters (built once per pass).

    ``structure`` names the precision structure (a key of
    ``_structures.STRUCTURES``). The arrays are float64 on the host:
    ``means`` (K, d) the exact means, ``log_norm`` (K,), ``centre`` (d,) the
    mixture's mean, and either ``U`` (K, d, d) upper-triangular precision
    factors (a shared factor repeated) or ``pdiag`` (K, d) diagonal
    precisions.
    """

    def __init__(self, eparams):
        means = np.ascontiguousarray(eparams.means_host, dtype=np.float64)
        K, d = means.shape
        self.means = means
        self.log_norm = np.asarray(eparams.log_norm_host, dtype=np.float64)
        # The centre of the shared and diagonal BLAS routes and of pooled
        # sums: the mixture's mean, fixed for the pass.
        self.centre = np.asarray(eparams.weights_host, dtype=np.float64) @ means
        self.structure = eparams.structure
        if eparams.precision_diag is None:  # full or shared factors
            U = np.asarray(eparams.prec_chol_host, dtype=np.float64)
            self.U = np.ascontiguousarray(np.broadcast_to(U, (K, d, d)))
            self.pdiag = np.zeros((K, d))
        else:
            self.U = np.zeros((K, 1, 1))
            self.pdiag = np.ascontiguousarray(np.asarray(eparams.precision_diag_host, dtype=np.float64))
        self._U_as = {}
        if self.structure == "shared":
            # The row kernel whitens once about the centre; see _block_wlp.
            self.b = (means - self.centre) @ self.U[0]
            self.direct = np.finfo(np.float64).eps * np.sum(self.b**2, axis=1) > ROW_SHARED_CANCEL_LIMIT
        else:
            self.b = np.zeros((K, d))
            self.direct = np.ones(K, dtype=bool)
        #: What ``_block_wlp`` reads: means, U, pdiag, log_norm, kind, centre, b, direct.
        self.geometry = (self.means, self.U, self.pdiag, self.log_norm, _GEOMETRY_OF[self.structure],
                         self.centre, self.b, self.direct)
        #: True or False forces a route (the tests use it); None chooses by shape.
        self.row_kernel = None

    def uses_row_kernel(self, dtype):
        """Whether chunks of ``dtype`` take the row kernel (else the BLAS routes)."""
        if self.row_kernel is not None:
            return self.row_kernel
        K, d = self.means.shape
        return row_kernel_route(self.structure, K, d, dtype)

    def U_as(self, dtype):
        """The factors ``U`` (K, d, d) in ``dtype``."""
        key = np.dtype(dtype)
        if key not in self._U_as:
            self._U_as[key] = np.ascontiguousarray(self.U, dtype=dtype)
        return self._U_as[key]


def plan_of(eparams):
    """The cached :class:`Plan` of ``eparams``."""
    if eparams.plan is None:
        eparams.plan = Plan(eparams)
    return eparams.plan


def supports(Xc):
    """Whether the compiled kernels take this chunk."""
    return AVAILABLE and isinstance(Xc, np.ndarray) and Xc.dtype in (np.float32, np.float64)


def _weights(wc, n):
    if wc is None:
        return np.ones(n)
    return np.ascontiguousarray(wc, dtype=np.float64)


# --------------------------------------------------------------------------
# the map of one iteration
# --------------------------------------------------------------------------


def chunk_statistics(Xc, wc, eparams, scatter):
    """``_em.chunk_statistics`` for a NumPy chunk: ``(stats, loglik, weight)``."""
    plan = plan_of(eparams)
    X = np.ascontiguousarray(Xc)
    n = X.shape[0]
    w = _weights(wc, n)
    weight = float(n) if wc is None else float(w.sum())
    if plan.uses_row_kernel(X.dtype):
        # A pooled scatter needs one origin for all components (its sum of
        # z z^T is then one per row); the others centre on each mean.
        origin = plan.means if scatter != "pooled" else np.broadcast_to(plan.centre, plan.means.shape)
        nk, a, raw, ll = _row_kernel(
            X, w, plan.geometry, _MODES[scatter], np.ascontiguousarray(origin), LANES,
        )
        stats = _finish(nk, a, raw, origin, X, scatter, lambda: _wr_and_log_prob(X, w, plan)[0])
        return stats, float(ll), weight
    wr, _, loglik = _wr_and_log_prob(X, w, plan)
    if scatter == "full" and plan.structure == "full":
        nk, a, raw = _triangular.statistics(X, wr, plan)
        return _finish(nk, a, raw, plan.means, X, scatter, lambda: wr), loglik, weight
    stats = SuffStats(*accumulate_numpy(X, wr, None, scatter, centre=plan.centre))
    return stats, loglik, weight


def _finish(nk, a, raw, origin, X, scatter, weighted_resp):
    """Statistics from the sums about ``origin``; lossy components redone exactly.

    ``weighted_resp()`` gives ``w_i r_ik``, asked for only when a component
    must be redone.
    """
    nk, means, S, lossy = moments_from_sums(nk, a, raw, origin, scatter)
    if lossy.size:
        recompute_exact(means, S, np.asarray(X, dtype=np.float64), weighted_resp(), lossy, scatter)
    return SuffStats(nk, means, S)


# --------------------------------------------------------------------------
# the E-step alone
# --------------------------------------------------------------------------


def weighted_log_prob64(X, plan):
    """``log pi_k + log N(x_i | mu_k, Sigma_k)`` (n, K), float64, for a NumPy chunk."""
    X = np.ascontiguousarray(X)
    if plan.uses_row_kernel(X.dtype):
        wlp = np.empty((X.shape[0], plan.means.shape[0]))
        _wlp_rows(X, plan.geometry, wlp)
        return wlp
    if plan.structure == "full":
        wlp = _triangular.sq_distances(X, plan)
        wlp *= -0.5  # in place: the route's budget counts two (n, K) arrays
        wlp += plan.log_norm
        return wlp
    if plan.structure != "shared":  # diagonal precisions
        X64 = np.asarray(X, dtype=np.float64)
        return plan.log_norm - 0.5 * sq_distances_diagonal(X64, plan.means, plan.pdiag, plan.centre)
    # A shared factor: one product whitens the chunk for every component.
    c = plan.centre.astype(X.dtype)
    b = (plan.means - c.astype(np.float64)) @ plan.U[0]
    # U^T (X - c)^T: the whitened rows feature-major, as _wlp_shared reads them.
    Yt = plan.U_as(X.dtype)[0].T @ (X - c).T
    wlp = np.empty((X.shape[0], plan.means.shape[0]))
    _wlp_shared(Yt, b, plan.log_norm, wlp, np.empty(max(1, min(X.shape[0], SHARED_TILE_ROWS))))
    eps = np.finfo(X.dtype).eps
    if eps > np.finfo(np.float64).eps:
        far = np.flatnonzero(eps * np.sum(b * b, axis=1) > F32_CANCEL_LIMIT)
        for k in far:  # whitened far from the centre: exact arithmetic
            mean32 = plan.means[k].astype(X.dtype)
            y = (X - mean32) - (plan.means[k] - mean32.astype(np.float64)).astype(X.dtype)
            y = y @ plan.U_as(X.dtype)[0]
            wlp[:, k] = plan.log_norm[k] - 0.5 * np.einsum("ij,ij->i", y, y, dtype=np.float64)
    return wlp


def e_step(X, eparams, with_resp=True):
    """``(log p(x_i), r_ik)`` of a NumPy chunk in its dtype (``r_ik`` None unless ``with_resp``)."""
    plan = plan_of(eparams)
    X = np.ascontiguousarray(X)
    n, K = X.shape[0], plan.means.shape[0]
    if plan.uses_row_kernel(X.dtype):
        log_prob = np.empty(n, dtype=X.dtype)
        resp = np.empty((n, K) if with_resp else (0, K), dtype=X.dtype)
        _e_step_rows(X, plan.geometry, log_prob, resp)
        return log_prob, resp if with_resp else None
    resp, log_prob, _ = density_and_resp(weighted_log_prob64(X, plan))
    return log_prob.astype(X.dtype, copy=False), resp.astype(X.dtype, copy=False) if with_resp else None


def _wr_and_log_prob(X, w, plan):
    """``(w_i r_ik, log p(x_i), sum_i w_i log p(x_i))`` for a chunk."""
    return density_and_resp(weighted_log_prob64(X, plan), w)


def density_and_resp(wlp, w=None):
    """``(r_ik w_i, log p(x_i), sum_i w_i log p(x_i))`` from ``wlp``, one compiled pass."""
    wlp = np.ascontiguousarray(wlp, dtype=np.float64)
    n, K = wlp.shape
    w = np.ones(n) if w is None else w
    wr = np.empty((n, K))
    log_prob = np.empty(n)
    loglik = _responsibilities(wlp, w, wr, log_prob)
    return wr, log_prob, float(loglik)


def weighted_log_prob(X, eparams):
    """``log pi_k + log N(x_i | mu_k, Sigma_k)`` for a NumPy chunk, in X's dtype."""
    return weighted_log_prob64(X, plan_of(eparams)).astype(X.dtype, copy=False)


__all__ = ["AVAILABLE", "Plan", "chunk_statistics", "e_step", "weighted_log_prob", "density_and_resp", "supports"]
