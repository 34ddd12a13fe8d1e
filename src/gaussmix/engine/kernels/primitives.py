r"""Compiled building blocks shared by the Numba kernels.

A vectorisable ``exp``, the log-sum-exp and responsibilities of a block of
rows, the fixed-order partial sums of the statistics, and the loading of a
block of rows transposed so that every loop over rows is innermost (LLVM
then vectorises it). :func:`density_and_resp` turns (n, K) log-densities
into ``w_i r_ik`` and ``log p(x_i)`` with the conventions of
``estep.log_resp_from_weighted``: a row whose every density underflowed has
``log p = -inf`` and responsibilities ``1/K``, and a zero weight cancels its
row.
"""

from __future__ import annotations

import numpy as np

from ...compiled import jit, float64_from_bits

#: Rows per block of the compiled kernels. Every loop over a block's rows is
#: innermost, so LLVM vectorises it. The kernels read the block size from
#: their buffers' shapes, not from this constant: a trip count known at
#: compile time makes LLVM unroll the loop into scalar code before it can
#: vectorise it (3x slower, measured). 64 beat 32, 128 and 256.
BLOCK = 64
#: The statistics keep :data:`LANES` partial sums (one SIMD register of
#: float64); lane ``l`` adds rows ``l, l + 8, ..., l + 56`` of each block
#: by a fixed tree (:func:`fold8`, :func:`dot8`), and the lanes are added
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
def exp_parts(x):
    """``exp(x) = p * 2**n`` for ``x <= 0`` (or -inf), as ``(p, n)``.

    Numba calls libm's scalar ``exp`` (7 ns here; NumPy's vector loop takes
    1.3 ns but cannot run inside a fused kernel). This is the textbook
    reduction ``x = n ln 2 + r``, ``|r| <= ln(2)/2``, and the Taylor series
    of ``exp(r)`` to degree 13 (truncation below 1e-17), which LLVM
    vectorises; within 2 ulp of libm. ``2**n`` is applied by
    :func:`exp_nonpositive`. Results below 2**-1022 (x < -708.4) flush to 0.
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
def exp_nonpositive(x):
    """``exp(x)`` for ``x <= 0`` (or -inf): :func:`exp_parts` with ``2**n`` applied from its bits."""
    p, n = exp_parts(x)
    # The float64 2**n for integral -1023 <= n <= 0 (-1023 gives 0.0).
    return p * float64_from_bits((np.int64(n) + 1023) << 52)


@jit(inline="always")
def block_softmax(wlp, wb, e, top, total, rows):
    r"""Turn the first ``rows`` of a block's ``wlp`` (K, BLOCK) into ``w_i r_ik`` (in ``e``), ``top`` into ``log p``.

    .. math::

        \log p(x_i) = m_i + \log \sum_k e^{\ell_{ik} - m_i}, \qquad
        r_{ik} = e^{\ell_{ik} - m_i} / \sum_j e^{\ell_{ij} - m_i},

    with ``m_i = max_k l_ik``. A row whose every entry is -inf gets
    ``log p = -inf`` and ``r_ik = 1/K`` (``estep.log_resp_from_weighted``).
    ``e``, ``top`` and ``total`` past ``rows`` are left as they were (an
    earlier block's values): a caller that reads them clears them.
    """
    K, B = wlp.shape[0], rows
    for i in range(B):
        top[i] = -np.inf
        total[i] = 0.0
    for k in range(K):
        for i in range(B):
            top[i] = max(top[i], wlp[k, i])
    for k in range(K):
        for i in range(B):
            # All -inf: every term counts as exp(0), so r_ik = 1/K.
            v = exp_nonpositive(wlp[k, i] - top[i] if top[i] > -np.inf else 0.0)
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
def fold8(a, r, i):
    """Lane ``i`` of row ``r`` of ``a`` (., BLOCK): ``sum_g a[r, i + 8 g]`` by a fixed tree."""
    return ((a[r, i] + a[r, i + 8]) + (a[r, i + 16] + a[r, i + 24])) + (
        (a[r, i + 32] + a[r, i + 40]) + (a[r, i + 48] + a[r, i + 56])
    )


@jit(inline="always")
def dot8(a, r, b, q, i):
    """Lane ``i`` of ``a[r] * b[q]`` (rows of (., BLOCK) arrays), summed as :func:`fold8` sums."""
    return (
        (a[r, i] * b[q, i] + a[r, i + 8] * b[q, i + 8]) + (a[r, i + 16] * b[q, i + 16] + a[r, i + 24] * b[q, i + 24])
    ) + ((a[r, i + 32] * b[q, i + 32] + a[r, i + 40] * b[q, i + 40]) + (a[r, i + 48] * b[q, i + 48] + a[r, i + 56] * b[q, i + 56]))


@jit(inline="always")
def centred_moments8(xt, j, e, k, mu, i):
    """Lane ``i`` of ``sum e[k] t`` and ``sum e[k] t^2``, ``t = xt[j] - mu``, without storing ``t``.

    The diagonal statistics' inner loop: kept in registers, it ran 2-3x
    faster than :func:`dot8` over stored temporaries.
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
def add_products8(lanes, k, a, b, full):
    """``lanes[k]`` (P, LANES) += the lanes of ``a[j] * b[q]`` for ``j <= q`` (packed, row by row), or ``j == q``."""
    d, L = a.shape[0], lanes.shape[2]
    t = 0
    for j in range(d):
        for q in range(j, d) if full else range(j, j + 1):
            for i in range(L):
                lanes[k, t, i] += dot8(a, j, b, q, i)
            t += 1


@jit(inline="always")
def lane_totals(lane_n, lane_a, lane_S, full):
    """The statistics from their :data:`LANES` partial sums, each added in lane order.

    ``lane_n`` (K, L), ``lane_a`` (K, d, L), ``lane_S`` (., P, L) with P
    the packed upper triangle (``full``) or the diagonal. Returns ``n_k``,
    ``a_k`` (K, d) and the scatter sums, (., d*d) with the triangle
    mirrored or (., d).
    """
    K, d, L = lane_a.shape
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
    return nk, a, S


@jit(inline="always")
def load_block(X, w, i0, xt, wb, fill):
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


@jit()
def softmax_rows(wlp, w, wr, log_prob):
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
        block_softmax(block, wb, e, top, total, B)
        for i in range(m):
            log_prob[i0 + i] = top[i]
            if wb[i] > 0:
                ll += wb[i] * top[i]
            for k in range(K):
                wr[i0 + i, k] = e[k, i]
    return ll


def density_and_resp(wlp, w=None):
    """``(r_ik w_i, log p(x_i), sum_i w_i log p(x_i))`` from ``wlp``, one compiled pass."""
    wlp = np.ascontiguousarray(wlp, dtype=np.float64)
    n, K = wlp.shape
    w = np.ones(n) if w is None else w
    wr = np.empty((n, K))
    log_prob = np.empty(n)
    loglik = softmax_rows(wlp, w, wr, log_prob)
    return wr, log_prob, float(loglik)


def weights_or_ones(sample_weight, n_rows):
    """The chunk's weights as contiguous float64, or ones."""
    if sample_weight is None:
        return np.ones(n_rows)
    return np.ascontiguousarray(sample_weight, dtype=np.float64)


#: The scatter kinds of :func:`moments_about_origin`.
MOMENTS_FULL, MOMENTS_DIAG, MOMENTS_POOLED = 0, 1, 2


@jit(fastmath=False)
def moments_about_origin(nk, a, raw, origin, kind, tiny):
    """``vectorised.moments_from_sums`` in one compiled call, with NumPy's own arithmetic.

    Not contracted into fused multiply-adds, so that the centred products
    are NumPy's to the bit (the lossy test's traces may add in another
    order past d=8, which moves a threshold only where a value sits on it).
    Returns ``(means, scatter, lossy)``: the scatter flat, (K or 1, d*d), or
    diagonal, (K, d); ``lossy`` a bool mask.
    """
    K, d = a.shape
    shift = np.empty((K, d))
    means = np.empty((K, d))
    for k in range(K):
        safe = nk[k] if nk[k] > 0 else 1.0
        for j in range(d):
            shift[k, j] = a[k, j] / safe
            means[k, j] = origin[k, j] + shift[k, j] if nk[k] > 0 else 0.0
    lossy = np.zeros(K, dtype=np.bool_)
    eps = np.finfo(np.float64).eps
    if kind == MOMENTS_DIAG:
        scatter = np.empty((K, d))
        for k in range(K):
            spread = 0.0
            total = 0.0
            for j in range(d):
                s = raw[k, j] - shift[k, j] * a[k, j]
                # What is left below the rounding of the raw moment is zero.
                if s <= 64 * eps * raw[k, j]:
                    s = 0.0
                scatter[k, j] = s
                spread += s
                total += raw[k, j]
            lossy[k] = total > 1e8 * max(spread, tiny)
        return means, scatter, lossy
    G = raw.shape[0]
    scatter = np.empty((G, d * d))
    for g in range(G):
        for i in range(d):
            for j in range(d):
                if kind == MOMENTS_POOLED:
                    p = 0.0
                    for k in range(K):
                        p += shift[k, i] * a[k, j]
                else:
                    p = shift[g, i] * a[g, j]
                scatter[g, i * d + j] = raw[g, i * d + j] - p
        for i in range(d):  # exactly symmetric, as the centred products are
            for j in range(i + 1, d):
                s = 0.5 * (scatter[g, i * d + j] + scatter[g, j * d + i])
                scatter[g, i * d + j] = s
                scatter[g, j * d + i] = s
            scatter[g, i * (d + 1)] = 0.5 * (scatter[g, i * (d + 1)] + scatter[g, i * (d + 1)])
        spread = 0.0
        total = 0.0
        for i in range(d):
            spread += scatter[g, i * (d + 1)]
            total += raw[g, i * d + i]
        lossy[g] = total > 1e8 * max(spread, tiny)
    if kind == MOMENTS_POOLED and lossy[0]:
        lossy[:] = True  # the sum is redone from every component
    return means, scatter, lossy
