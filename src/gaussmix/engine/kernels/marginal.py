r"""Compiled loops over rows with missing values, for every precision structure.

For row ``i`` with missing coordinates ``m`` (NaN) and component ``k`` with
precision ``P_k``, let ``D`` be ``x_i - mu_k`` with zeros in the holes and
``z = P_k D``. Then, with ``delta = -P_{k,mm}^{-1} z_m``,

* ``(x_o - mu_o)^T Sigma_oo^{-1} (x_o - mu_o) = D^T z + delta^T z_m``,
* ``log |Sigma_oo|^{-1/2} = log |P_k|^{1/2} - log |P_{k,mm}|^{1/2}``,
* the completed deviation ``x̂_ik - mu_k`` is ``D`` with ``delta`` in the holes,
* and ``Cov[x_m | x_o] = P_{k,mm}^{-1}``.

``P_{k,mm}^{-1}`` and ``log |P_{k,mm}|`` depend on the row only through
its pattern of holes: they are formed once per pattern and component (a
Cholesky factorisation of the ``r x r`` block, :func:`pattern_inverses`).
``z = P_k D`` and the second moments are products of whole rows, done by
BLAS for a block of rows at once; one compiled pass over the block
(:func:`marginal_rows`) does the rest, ``O(K (d + r^2))`` per row.
``engine.missing`` turns the results into densities, responsibilities and
statistics; a diagonal precision comes as a diagonal matrix.
"""

from __future__ import annotations

import math

import numpy as np

from .compiled import jit
from .primitives import block_softmax

HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


@jit(inline="always")
def _cholesky_of_block(P, missing, r, L):
    """``L L^T = P[missing, missing]`` in ``L[:r, :r]``; returns ``log |L|``."""
    log_det = 0.0
    for a in range(r):
        for b in range(a + 1):
            s = P[missing[a], missing[b]]
            for c in range(b):
                s -= L[a, c] * L[b, c]
            if a == b:
                L[a, a] = math.sqrt(s)
                log_det += math.log(L[a, a])
            else:
                L[a, b] = s / L[b, b]
    return log_det


@jit(inline="always")
def _inverse(L, r, out, Linv):
    """``out[:r, :r] = (L L^T)^{-1} = L^{-T} L^{-1}`` (``Linv``: r x r scratch)."""
    for b in range(r):
        Linv[b, b] = 1.0 / L[b, b]
        for a in range(b + 1, r):
            s = 0.0
            for c in range(b, a):
                s -= L[a, c] * Linv[c, b]
            Linv[a, b] = s / L[a, a]
    for a in range(r):
        for b in range(a + 1):
            s = 0.0
            for c in range(a, r):
                s += Linv[c, a] * Linv[c, b]
            out[a, b] = s
            out[b, a] = s


@jit()
def pattern_ids(mask):
    """Number the missingness patterns of ``mask`` (rows, d; True where missing).

    Returns ``pattern`` (each row's pattern) and ``first`` (a row of each
    pattern). The rows' bit masks, one 64-bit word per 64 features, are
    hashed to one word (the word itself up to d=64), the rows sorted by it,
    and each run of equal hashes split by comparing the words, so that a
    collision never merges two patterns. NumPy's ``unique`` on the rows'
    packed bytes took 0.8 ms for the 5600 incomplete rows of a 10 000-row
    chunk (d=16) and held the GIL; this takes 0.3 ms without it.
    """
    n, d = mask.shape
    n_words = (d + 63) // 64
    words = np.zeros((n, n_words), dtype=np.uint64)
    hashes = np.empty(n, dtype=np.uint64)
    for i in range(n):
        for j in range(d):
            if mask[i, j]:
                words[i, j // 64] |= np.uint64(1) << np.uint64(j % 64)
        h = words[i, 0]
        for w in range(1, n_words):
            h = (h * np.uint64(0x9E3779B97F4A7C15)) ^ words[i, w]
        hashes[i] = h
    order = np.argsort(hashes)
    pattern = np.empty(n, dtype=np.int64)
    first = np.empty(n, dtype=np.int64)
    n_patterns = 0
    start = 0
    while start < n:
        end = start + 1
        while end < n and hashes[order[end]] == hashes[order[start]]:
            end += 1
        run_first = n_patterns
        for t in range(start, end):
            i = order[t]
            found = -1
            for p in range(run_first, n_patterns):
                same = True
                for w in range(n_words):
                    if words[i, w] != words[first[p], w]:
                        same = False
                        break
                if same:
                    found = p
                    break
            if found < 0:
                found = n_patterns
                first[n_patterns] = i
                n_patterns += 1
            pattern[i] = found
        start = end
    return pattern, first[:n_patterns]


@jit()
def pattern_inverses(patterns, precision, log_norm):
    """Per missingness pattern ``p`` and component ``k``: ``P_k,mm^{-1}`` and the density's constant.

    ``patterns`` is (n_patterns, d), True where a value is missing. Returns
    ``missing`` (every pattern's hole indices, concatenated; pattern ``p``'s
    are ``missing[m_start[p]:m_start[p + 1]]``), ``m_start``, ``inverses``
    (K, sum_p r_p^2: pattern ``p``'s ``r x r`` inverse, row-major, from
    ``i_start[p]``), ``i_start`` and ``base[p, k] = log_norm[k] + r/2 log 2 pi
    - log |P_k,mm|^{1/2}``.
    """
    n_patterns, d = patterns.shape
    K = precision.shape[0]
    m_start = np.zeros(n_patterns + 1, dtype=np.int64)
    i_start = np.zeros(n_patterns + 1, dtype=np.int64)
    for p in range(n_patterns):
        r = 0
        for j in range(d):
            if patterns[p, j]:
                r += 1
        m_start[p + 1] = m_start[p] + r
        i_start[p + 1] = i_start[p] + r * r
    missing = np.empty(m_start[n_patterns], dtype=np.int64)
    inverses = np.empty((K, i_start[n_patterns]))
    base = np.empty((n_patterns, K))
    L = np.empty((d, d))
    Linv = np.empty((d, d))
    inv = np.empty((d, d))
    for p in range(n_patterns):
        m0, i0 = m_start[p], i_start[p]
        r = 0
        for j in range(d):
            if patterns[p, j]:
                missing[m0 + r] = j
                r += 1
        holes = missing[m0 : m0 + r]
        for k in range(K):
            log_det = _cholesky_of_block(precision[k], holes, r, L)
            _inverse(L, r, inv, Linv)
            for a in range(r):
                for b in range(r):
                    inverses[k, i0 + a * r + b] = inv[a, b]
            base[p, k] = log_norm[k] + r * HALF_LOG_2PI - log_det
    return missing, m_start, inverses, i_start, base


@jit(inline="always")
def _dot(a, b, d):
    """``a[:d] . b[:d]`` in four interleaved partial sums, added in a fixed order.

    One running sum makes every multiply-add wait for the one before (a
    chain of d latencies); four independent ones overlap.
    """
    s0 = s1 = s2 = s3 = 0.0
    j = 0
    while j + 4 <= d:
        s0 += a[j] * b[j]
        s1 += a[j + 1] * b[j + 1]
        s2 += a[j + 2] * b[j + 2]
        s3 += a[j + 3] * b[j + 3]
        j += 4
    while j < d:
        s0 += a[j] * b[j]
        j += 1
    return (s0 + s1) + (s2 + s3)


@jit()
def deviations(X, means, out):
    """``out[k, i] = x_i - mu_k`` with zeros where ``x_i`` is NaN."""
    K, n, d = out.shape
    for k in range(K):
        for i in range(n):
            for j in range(d):
                v = X[i, j] - means[k, j]
                out[k, i, j] = 0.0 if np.isnan(v) else v


@jit()
def marginal_rows(X, weights, pattern, missing, m_start, inverses, i_start, base, means, D, Z,
                  statistics, wlp, log_prob, nk, first, per_pattern, imputed):
    """The E-step of a block of rows with holes, after the products of whole rows; and its first moments.

    On entry ``D[k, i] = x_i - mu_k`` with zeros in the holes and ``Z[k, i]
    = P_k D[k, i]`` (BLAS, for the whole block). Row ``i``'s pattern is
    ``pattern[i]``, whose holes and ``P_k,mm^{-1}`` :func:`pattern_inverses`
    gave. With ``delta = -P_k,mm^{-1} z_m``, writes ``wlp[i, k] = base[p, k]
    - (D^T z + delta^T z_m) / 2`` and ``log_prob[i]`` (0 for a row with
    nothing observed; ``-inf``, with responsibilities ``1/K``, where every
    density underflowed), and puts ``delta`` into ``D``'s holes: ``D[k, i]``
    becomes the completed deviation ``y = x̂_ik - mu_k``.

    With ``statistics``, adds each row of positive weight with something
    observed to ``nk[k] += w r``, ``first[k] += w r y`` and ``per_pattern[p,
    k] += w r``, and scales ``D[k, i]`` by ``sqrt(w r)`` (zero for the other
    rows), so that ``D[k]^T D[k]`` is the second moment about ``mu_k``. With
    ``imputed`` of shape (n, d), writes row ``i``'s holes as ``sum_k r_k
    (mu_k + y_k)`` there.
    """
    K, n, d = D.shape
    # The log-sum-exp runs over the whole block, rows innermost, so that its
    # exp vectorises (primitives.block_softmax): per row, libm's scalar exp
    # took a third of this function's time.
    wt, e = np.empty((K, n)), np.empty((K, n))
    top, total, wb = np.empty(n), np.empty(n), np.empty(n)
    for i in range(n):
        p = pattern[i]
        m0, r, i0 = m_start[p], m_start[p + 1] - m_start[p], i_start[p]
        for k in range(K):
            y, z = D[k, i], Z[k, i]
            q = _dot(y, z, d)
            for a in range(r):
                s = 0.0
                for b in range(r):
                    s -= inverses[k, i0 + a * r + b] * z[missing[m0 + b]]
                q += s * z[missing[m0 + a]]
                y[missing[m0 + a]] = s
            wt[k, i] = base[p, k] - 0.5 * q
            wlp[i, k] = wt[k, i]
        # e = w r for the statistics (zero for a row with nothing observed), r otherwise.
        wb[i] = (weights[i] if r < d else 0.0) if statistics else 1.0
    block_softmax(wt, wb, e, top, total)
    impute = imputed.shape[0] > 0
    for i in range(n):
        p = pattern[i]
        m0, r = m_start[p], m_start[p + 1] - m_start[p]
        # Nothing observed: exactly 0, not log sum_k pi_k rounded.
        log_prob[i] = 0.0 if r == d else top[i]
        if impute:
            for a in range(r):
                j = missing[m0 + a]
                s = 0.0
                for k in range(K):
                    s += e[k, i] * (means[k, j] + D[k, i, j])
                imputed[i, j] = s
    if not statistics:
        return
    # Component by component, so that D[k] is read in order and first[k]
    # stays in registers.
    for k in range(K):
        f = np.zeros(d)
        for i in range(n):
            wr = e[k, i]
            if wr > 0.0:
                nk[k] += wr
                per_pattern[pattern[i], k] += wr
            scale = math.sqrt(wr)
            for j in range(d):
                f[j] += wr * D[k, i, j]
                D[k, i, j] *= scale
        for j in range(d):
            first[k, j] += f[j]


@jit()
def pattern_scatter(missing, m_start, inverses, i_start, weights, out):
    """``out[k] += weights[p, k] P_k,mm^{-1}`` on the holes ``m`` of each pattern ``p``.

    ``P_k,mm^{-1}`` is ``Cov_k[x_m | x_o]``, the same for every row of a
    pattern (:func:`pattern_inverses`).
    """
    K = out.shape[0]
    for p in range(m_start.shape[0] - 1):
        m0, r, i0 = m_start[p], m_start[p + 1] - m_start[p], i_start[p]
        for k in range(K):
            w = weights[p, k]
            if w == 0.0:
                continue
            for a in range(r):
                for b in range(r):
                    out[k, missing[m0 + a], missing[m0 + b]] += w * inverses[k, i0 + a * r + b]
