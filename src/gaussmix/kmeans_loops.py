"""The compiled loops of ``kmeans_small``: scikit-learn's k-means, sum for sum.

Each loop's order of operations is the one its docstring names (see
``kmeans_small`` for why and how far it matches scikit-learn's). No fast
math, the order being the point, except in ``_dot``: there LLVM may fuse
each multiply-add, as OpenBLAS's kernels do.
"""

import numpy as np

from .compiled import jit

__all__ = ["choice", "lloyd", "plusplus", "seed", "squared_norms"]


@jit()
def _dot(X, i, C, k):
    """``X[i] . C[k]`` as OpenBLAS's dgemm computes an entry: one fused multiply-add after another."""
    acc = 0.0
    for j in range(X.shape[1]):
        acc += X[i, j] * C[k, j]
    return acc


@jit(fastmath=False)
def _sqdist(X, x_sq, row, i):
    """scikit-learn's ``_euclidean_distances`` between rows ``row`` and ``i``: ``(-2 c.x + |c|^2) + |x|^2``, at least 0."""
    return max(-2.0 * _dot(X, row, X, i) + x_sq[row] + x_sq[i], 0.0)


@jit(fastmath=False)
def _squared_norm(C, k):
    """``np.einsum("ij,ij->i", C, C)[k]`` for fewer than 8 features: two lanes, odd feature to the first."""
    lane0 = 0.0
    lane1 = 0.0
    d = C.shape[1]
    j = 0
    while j + 2 <= d:
        lane0 += C[k, j] * C[k, j]
        lane1 += C[k, j + 1] * C[k, j + 1]
        j += 2
    if j < d:
        lane0 += C[k, j] * C[k, j]
    return lane0 + lane1


@jit(fastmath=False)
def _sqdist_unrolled(a, b):
    """``sum((a - b)**2)`` in scikit-learn's order: groups of four features, then the rest."""
    d = a.shape[0]
    result = 0.0
    j = 0
    while j + 4 <= d:
        result += ((a[j] - b[j]) * (a[j] - b[j]) + (a[j + 1] - b[j + 1]) * (a[j + 1] - b[j + 1])
                   + (a[j + 2] - b[j + 2]) * (a[j + 2] - b[j + 2])
                   + (a[j + 3] - b[j + 3]) * (a[j + 3] - b[j + 3]))
        j += 4
    while j < d:
        result += (a[j] - b[j]) * (a[j] - b[j])
        j += 1
    return result


@jit(fastmath=False)
def plusplus(X, w, x_sq, first, draws, seeds):
    """k-means++ seeds (row indices) into ``seeds``."""
    n = X.shape[0]
    n_trials = draws.shape[1]
    closest = np.empty(n)
    trial = np.empty(n)
    best_dist = np.empty(n)
    cum = np.empty(n)
    seeds[0] = first
    pot = 0.0
    for i in range(n):
        closest[i] = _sqdist(X, x_sq, first, i)
        pot += closest[i] * w[i]
    for c in range(1, seeds.shape[0]):
        acc = 0.0
        for i in range(n):
            acc += w[i] * closest[i]
            cum[i] = acc
        best_pot = np.inf
        best_row = 0
        for t in range(n_trials):
            value = draws[c - 1, t] * pot
            row = min(np.searchsorted(cum, value), n - 1)  # side='left', clipped as scikit-learn
            trial_pot = 0.0
            for i in range(n):
                trial[i] = min(closest[i], _sqdist(X, x_sq, row, i))
                trial_pot += trial[i] * w[i]
            # The first least potential, as argmin (a NaN counts as least;
            # every potential inf from overflow: the first candidate).
            if t == 0 or trial_pot < best_pot or (np.isnan(trial_pot) and not np.isnan(best_pot)):
                best_pot, best_row = trial_pot, row
                best_dist[:] = trial
        pot = best_pot
        closest[:] = best_dist
        seeds[c] = best_row


@jit(fastmath=False)
def _assign(X, w, centers, labels, sums, weights, update):
    """Label each row by its nearest centre (``|c|^2 - 2 x.c``); with ``update``, the weighted sums."""
    n, d = X.shape
    K = centers.shape[0]
    c_sq = np.empty(K)
    for k in range(K):
        c_sq[k] = _squared_norm(centers, k)
    sums[:] = 0.0
    weights[:] = 0.0
    for i in range(n):
        best = 0
        best_d = 0.0
        for k in range(K):
            dist = c_sq[k] + -2.0 * _dot(X, i, centers, k)
            if k == 0 or dist < best_d:
                best, best_d = k, dist
        labels[i] = best
        if update:
            for j in range(d):
                sums[best, j] += X[i, j] * w[i]
            weights[best] += w[i]


@jit(fastmath=False)
def _pairwise_sum(a):
    """``np.sum`` of a contiguous float64 vector: NumPy's pairwise summation (8 accumulators, blocks of 128)."""
    n = a.shape[0]
    if n < 8:
        res = 0.0
        for i in range(n):
            res += a[i]
        return res
    if n <= 128:
        r = a[:8].copy()
        i = 8
        while i < n - n % 8:
            for j in range(8):
                r[j] += a[i + j]
            i += 8
        res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
        while i < n:
            res += a[i]
            i += 1
        return res
    half = n // 2
    half -= half % 8
    return _pairwise_sum(a[:half]) + _pairwise_sum(a[half:])


@jit(fastmath=False)
def _column_sums(A):
    """``A.sum(axis=0)`` of a C-ordered array in NumPy's order: pairwise down a single column, else row after row."""
    n, d = A.shape
    if d == 1:
        out = np.empty(1)
        out[0] = _pairwise_sum(A[:, 0])
        return out
    out = np.zeros(d)
    for i in range(n):
        for j in range(d):
            out[j] += A[i, j]
    return out


@jit(fastmath=False)
def squared_norms(X, out):
    """``np.einsum("ij,ij->i", X, X)`` into ``out``."""
    for i in range(X.shape[0]):
        out[i] = _squared_norm(X, i)


@jit(fastmath=False)
def choice(w, u):
    """``choice(n, p=w / sum(w))`` given its one ``random_sample`` u: the cumulative p normalised, searched on the right.

    The weights are non-negative with a positive, finite sum (the callers
    check them), so the last cumulative value, 1, exceeds u.
    """
    p = w / _pairwise_sum(w)
    cdf = np.cumsum(p)
    cdf = cdf / cdf[-1]
    for i in range(cdf.shape[0]):
        if cdf[i] > u:
            return i
    return cdf.shape[0]


@jit(fastmath=False)
def seed(X, w, u, draws, Xc, x_sq, centers, rel_tol):
    """scikit-learn's k-means set-up and k-means++: X centred into ``Xc``, its squared norms, the seeds' rows; returns ``tol``.

    ``tol`` is ``np.mean(np.var(X, axis=0)) * rel_tol`` on X before it is centred, in NumPy's order.
    """
    n, d = X.shape
    mean = _column_sums(X) / n
    for i in range(n):
        for j in range(d):
            Xc[i, j] = X[i, j] - mean[j]
    variances = _column_sums(Xc * Xc) / n
    tol = _pairwise_sum(variances) / d * rel_tol
    squared_norms(Xc, x_sq)
    seeds = np.empty(centers.shape[0], dtype=np.int64)
    plusplus(Xc, w, x_sq, choice(w, u), draws, seeds)
    for k in range(seeds.shape[0]):
        centers[k, :] = Xc[seeds[k], :]
    return tol


@jit(fastmath=False)
def _average(sums, weights):
    """scikit-learn's ``_average_centers``, in place: an empty cluster copies the heaviest one's row as it then is."""
    heaviest = np.argmax(weights)
    for k in range(sums.shape[0]):
        if weights[k] > 0:
            alpha = 1.0 / weights[k]
            for j in range(sums.shape[1]):
                sums[k, j] *= alpha
        else:
            sums[k, :] = sums[heaviest, :]


@jit(fastmath=False)
def lloyd(X, w, tol, max_iter, centers, labels, labels_old, sums, weights, start, resume):
    """Lloyd's iterations from ``start``; returns ``(iteration, relocate, distinct labels)``.

    With ``relocate`` true, ``iteration`` has labelled the rows and summed
    them but left a cluster empty: the caller moves a row into it
    (:func:`_relocate_empty`) and calls again from there with ``resume``
    true. Otherwise ``labels`` are final (and ``iteration`` means nothing).
    """
    K = centers.shape[0]
    shift = np.empty(K)
    for it in range(start, max_iter):
        if not (resume and it == start):
            _assign(X, w, centers, labels, sums, weights, True)
            for k in range(K):
                if weights[k] == 0:
                    return it, True, 0
        _average(sums, weights)
        for k in range(K):
            shift[k] = np.sqrt(_sqdist_unrolled(sums[k], centers[k]))
        centers[:, :] = sums
        if np.array_equal(labels, labels_old):
            return it + 1, False, _distinct(labels, K)  # strict convergence: labels of the centres
        if _pairwise_sum(shift ** 2) <= tol:
            break
        labels_old[:] = labels
    _assign(X, w, centers, labels, sums, weights, False)
    return max_iter, False, _distinct(labels, K)


@jit(fastmath=False)
def _distinct(labels, K):
    """How many of the K labels occur."""
    seen = np.zeros(K, dtype=np.bool_)
    for i in range(labels.shape[0]):
        seen[labels[i]] = True
    return np.count_nonzero(seen)
