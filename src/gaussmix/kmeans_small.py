"""scikit-learn's k-means start, compiled, for small float64 arrays in memory.

Why: on 150 rows ``KMeans(n_init=1).fit`` took about 1.3 ms, nearly all
of it Python around two small compiled loops (parameter and data checks,
k-means++ through ``_euclidean_distances``, thread limits). That is three
times a whole EM on iris, and it held a default fit (``init_params=
"kmeans"``) to 1.3-2x scikit-learn's own, whose k-means is the same call.
Here the same algorithm runs compiled, on the same draws
from the same ``RandomState`` (0.03-0.16 ms on iris, K=2..9):

* X is centred on its mean; ``tol`` is ``mean(var(X, axis=0)) * 1e-4``;
* k-means++ with ``2 + int(log K)`` local trials: the first seed is
  ``random_state.choice(n, p=w / sum(w))`` (one ``random_sample`` searched
  in the normalised cumulative p), then each further seed draws
  ``uniform(size=n_local_trials)`` and keeps the candidate of least
  weighted potential. Every draw is made on the host before the compiled
  call, which consumes the stream exactly as one draw after another does;
* Lloyd: squared distances ``|c|^2 - 2 x.c`` (first minimum), weighted
  means, shift ``sum_k |c_k - c'_k|^2``; it stops when the labels do not
  change (strict convergence) or when the shift is ``<= tol``, and then
  labels the rows once more by the final centres.

The arithmetic is scikit-learn's, operation for operation where
scikit-learn runs its own loops (cumulative sums, means, shifts), in
NumPy's order for NumPy's reductions (pairwise sums; a column sum of a
C-ordered array row after row), and in
the order of NumPy's ``einsum`` and OpenBLAS's ``dgemm`` (two lanes; one
fused multiply-add after another) for the squared norms and dot products,
which matched them bit for bit on every input tried with up to 7 features.
Only the potentials of k-means++'s candidates are summed in another order
than BLAS's ``dgemv``: two candidates of equal potential (a tie within
rounding, as on a grid of integers with weights) may then be taken in
another order. An empty cluster takes the farthest row by NumPy's own
``argpartition``, as in scikit-learn.

Beyond :data:`MAX_FEATURES` or :data:`MAX_WORK` (rows x clusters x
features), for float32 data, or without Numba, :func:`runs_compiled` is
false and the caller uses scikit-learn: there its overhead matters less,
and its BLAS and OpenMP loops are faster on many rows.
"""

from __future__ import annotations

import warnings

import numpy as np

from . import compiled
from .compiled import jit

__all__ = ["kmeans_labels", "kmeans_plusplus", "runs_compiled", "MAX_FEATURES", "MAX_WORK"]

#: Most rows x clusters x features for the compiled path. At this size a
#: whole k-means still took 0.7-0.9x scikit-learn's time on 2 cores (26000
#: x 2 x 5, 8000 x 4 x 8, 4600 x 7 x 8: 3.6, 2.9 and 0.6 ms less); beyond it
#: scikit-learn's fixed 1 ms no longer matters and its threads do.
MAX_WORK = 1 << 18

#: Most features for the compiled path: up to 7 its sums equal NumPy's
#: ``einsum`` and OpenBLAS's products bit for bit (beyond, their SIMD orders differ).
MAX_FEATURES = 7

#: scikit-learn's ``KMeans.tol`` and ``max_iter``, as GaussianMixture uses them.
TOL = 1e-4
MAX_ITER = 300


def runs_compiled(X, n_clusters):
    """Whether :func:`kmeans_labels` and :func:`kmeans_plusplus` may run for X (else scikit-learn's should)."""
    return (compiled.AVAILABLE and isinstance(X, np.ndarray) and X.ndim == 2
            and X.dtype == np.float64 and 1 <= n_clusters <= X.shape[0] and X.shape[1] <= MAX_FEATURES
            and X.shape[0] * n_clusters * X.shape[1] <= MAX_WORK)


def kmeans_labels(X, n_clusters, random_state, sample_weight=None):
    """Labels of ``KMeans(n_clusters, n_init=1, random_state=random_state).fit(X, w)``.

    For X where :func:`runs_compiled` holds. Warns as scikit-learn does
    (``ConvergenceWarning``) when fewer distinct labels than clusters remain.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Finite data.
    n_clusters : int
    random_state : numpy.random.RandomState
        Consumed as scikit-learn consumes it.
    sample_weight : ndarray of shape (n_samples,), optional
        Non-negative row weights with a positive sum.

    Returns
    -------
    labels : ndarray of int32, shape (n_samples,)
    """
    n, d = X.shape
    X = np.ascontiguousarray(X)  # scikit-learn's copy is C-ordered, and so are its sums
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    u, draws = _draws(n_clusters, random_state)
    Xc = np.empty((n, d))
    x_sq = np.empty(n)
    centers = np.empty((n_clusters, d))
    tol = _seed(X, w, u, draws, Xc, x_sq, centers)
    labels = np.empty(n, dtype=np.int32)
    labels_old = np.full(n, -1, dtype=np.int32)
    sums = np.empty((n_clusters, d))
    weights = np.empty(n_clusters)
    start, relocate = 0, False
    while True:
        start, relocate, distinct = _lloyd(Xc, w, tol, MAX_ITER, centers, labels, labels_old, sums,
                                           weights, start, relocate)
        if not relocate:
            break
        _relocate_empty(Xc, w, centers, sums, weights, labels)
    if distinct < n_clusters:
        from sklearn.exceptions import ConvergenceWarning

        warnings.warn(f"Number of distinct clusters ({distinct}) found smaller than n_clusters "
                      f"({n_clusters}). Possibly due to duplicate points in X.",
                      ConvergenceWarning, stacklevel=2)
    return labels


def kmeans_plusplus(X, n_clusters, random_state, sample_weight=None):
    """Row indices of ``sklearn.cluster.kmeans_plusplus(X, n_clusters, ...)[1]``, for X where :func:`runs_compiled` holds.

    On X as given (not centred), from the same draws of ``random_state``.
    """
    n = X.shape[0]
    X = np.ascontiguousarray(X)
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    u, draws = _draws(n_clusters, random_state)
    x_sq = np.empty(n)
    _squared_norms(X, x_sq)
    seeds = np.empty(n_clusters, dtype=np.int64)
    _plusplus(X, w, x_sq, _choice(w, u), draws, seeds)
    return seeds


def _draws(n_clusters, random_state):
    """k-means++'s draws: ``choice(n, p=w / sum(w))``'s one ``random_sample``, then ``n_local_trials`` uniforms a further seed."""
    u = random_state.random_sample()
    return u, random_state.uniform(size=(n_clusters - 1, 2 + int(np.log(n_clusters))))


def _relocate_empty(X, w, centers_old, sums, weights, labels):
    """scikit-learn's ``_relocate_empty_clusters_dense``, with NumPy's ``argpartition`` for its order.

    Each empty cluster takes one of the rows farthest from their centres;
    the row's weighted values leave its own cluster's sums.
    """
    empty = np.flatnonzero(weights == 0)
    distances = ((X - centers_old[labels]) ** 2).sum(axis=1)
    if distances.max() == 0:  # more clusters than distinct rows: nothing to move
        return
    far = np.argpartition(distances, -empty.size)[:-empty.size - 1:-1]
    for new, row in zip(empty, far):
        old = labels[row]
        sums[old] -= X[row] * w[row]
        sums[new] = X[row] * w[row]
        weights[new] = w[row]
        weights[old] -= w[row]


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
def _plusplus(X, w, x_sq, first, draws, seeds):
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
        best_row = -1
        for t in range(n_trials):
            value = draws[c - 1, t] * pot
            row = min(np.searchsorted(cum, value), n - 1)  # side='left', clipped as scikit-learn
            trial_pot = 0.0
            for i in range(n):
                trial[i] = min(closest[i], _sqdist(X, x_sq, row, i))
                trial_pot += trial[i] * w[i]
            if trial_pot < best_pot:  # the first least potential, as argmin
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
def _squared_norms(X, out):
    """``np.einsum("ij,ij->i", X, X)`` into ``out``."""
    for i in range(X.shape[0]):
        out[i] = _squared_norm(X, i)


@jit(fastmath=False)
def _choice(w, u):
    """``choice(n, p=w / sum(w))`` given its one ``random_sample`` u: the cumulative p normalised, searched on the right."""
    p = w / _pairwise_sum(w)
    cdf = np.cumsum(p)
    cdf = cdf / cdf[-1]
    for i in range(cdf.shape[0]):
        if cdf[i] > u:
            return i
    return cdf.shape[0]


@jit(fastmath=False)
def _seed(X, w, u, draws, Xc, x_sq, centers):
    """scikit-learn's k-means set-up and k-means++: X centred into ``Xc``, its squared norms, the seeds' rows; returns ``tol``.

    ``tol`` is ``np.mean(np.var(X, axis=0)) * TOL`` on X before it is centred, in NumPy's order.
    """
    n, d = X.shape
    mean = _column_sums(X) / n
    for i in range(n):
        for j in range(d):
            Xc[i, j] = X[i, j] - mean[j]
    variances = _column_sums(Xc * Xc) / n
    tol = _pairwise_sum(variances) / d * TOL
    _squared_norms(Xc, x_sq)
    seeds = np.empty(centers.shape[0], dtype=np.int64)
    _plusplus(Xc, w, x_sq, _choice(w, u), draws, seeds)
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
def _lloyd(X, w, tol, max_iter, centers, labels, labels_old, sums, weights, start, resume):
    """Lloyd's iterations from ``start``; returns ``(next, relocate, distinct labels)``.

    With ``relocate`` true, iteration ``next`` has labelled the rows and
    summed them but left a cluster empty: the caller moves a row into it
    (:func:`_relocate_empty`) and calls again with ``resume`` true, which
    goes on from there. Otherwise ``labels`` are final.
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
    seen = np.zeros(K, dtype=np.bool_)
    for i in range(labels.shape[0]):
        seen[labels[i]] = True
    return np.count_nonzero(seen)
