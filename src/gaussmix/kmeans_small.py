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
  change (strict convergence), or when the shift is ``<= tol`` or after
  ``max_iter`` iterations, and then labels the rows once more by the
  final centres.

The labels are scikit-learn's except at ties within rounding, where
scikit-learn's own answer follows its BLAS and, beyond 256 rows, its
number of OpenMP threads (it sums chunks of 256 rows in per-thread
buffers). Here the order of every sum is fixed: scikit-learn's own loops
operation for operation (cumulative sums, means, shifts), NumPy's
reductions in NumPy's order (pairwise sums; a column sum of a C-ordered
array row after row), the squared norms in ``einsum``'s (two lanes), and
Lloyd's products as OpenBLAS's Haswell ``dgemm`` kernel takes them (one
fused multiply-add after another). So they are scikit-learn's even where
iris's rows, measured to 0.1 cm, tie between two centres to within
rounding. k-means++'s products and potentials are summed in another order
than NumPy's ``matmul`` takes them (BLAS's ``gemv`` path): they differ in
the last bits, which moves a seed only where two candidates' potentials
tie. Against ``KMeans`` on a 2-core AMD EPYC (OpenBLAS 0.3.30-0.3.31,
Haswell kernels): iris 360 of 360 starts (K=1..9), 600 of 600 random
inputs of up to 600 rows (a third rounded to 0.1, half weighted), 299 of
300 integer grids with empty clusters and duplicates; of 5,000 grids of
257-1,500 rows 4 differed, each by scikit-learn's order of its threads'
sums (on one thread it gave ours). An empty cluster takes the farthest
row by NumPy's own ``argpartition``, as in scikit-learn.

Beyond :data:`MAX_FEATURES` or :data:`MAX_WORK` (rows x clusters x
features), for float32 data, or without Numba, :func:`runs_compiled` is
false and ``init`` runs another copy of the same k-means: scikit-learn's
own, whose overhead matters less there and whose BLAS and OpenMP loops are
faster on many rows, or, for small data without Numba, ``seeding``'s on
NumPy (which spares the import of sklearn.cluster).
"""

from __future__ import annotations

import warnings

import numpy as np

from . import compiled, kmeans_loops as loops

__all__ = ["kmeans_labels", "kmeans_plusplus", "runs_compiled", "MAX_FEATURES", "MAX_WORK"]

#: Most rows x clusters x features for the compiled path. At this size a
#: whole k-means still took 0.7-0.9x scikit-learn's time on 2 cores (26000
#: rows, 2 features, 5 clusters; 8000, 4, 8; 4600, 7, 8: 3.6, 2.9 and 0.6 ms
#: less); beyond it scikit-learn's fixed 1 ms no longer matters and its
#: threads do.
MAX_WORK = 1 << 18

#: Most features for the compiled path: up to 7, ``einsum``'s squared norms
#: take two lanes, as here; beyond, their order changes.
MAX_FEATURES = 7

#: scikit-learn's ``KMeans.tol`` and ``max_iter``, as GaussianMixture uses them.
TOL = 1e-4
MAX_ITER = 300


def runs_compiled(X, n_clusters):
    """Whether :func:`kmeans_labels` and :func:`kmeans_plusplus` may run for X.

    Parameters
    ----------
    X : array
        The rows a start runs on.
    n_clusters : int
        Number of clusters K.

    Returns
    -------
    bool
        True for a float64 NumPy array of at most :data:`MAX_FEATURES`
        features, at least K rows and at most :data:`MAX_WORK` rows x K x
        features, with Numba in use; otherwise ``init`` runs another copy
        of the same k-means (see the module docstring).
    """
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
        Number of clusters K.
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
    tol = loops.seed(X, w, u, draws, Xc, x_sq, centers, TOL)
    labels = np.empty(n, dtype=np.int32)
    labels_old = np.full(n, -1, dtype=np.int32)
    sums = np.empty((n_clusters, d))
    weights = np.empty(n_clusters)
    start, relocate = 0, False
    while True:
        start, relocate, distinct = loops.lloyd(Xc, w, tol, MAX_ITER, centers, labels, labels_old,
                                                sums, weights, start, relocate)
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
    """Row indices of ``sklearn.cluster.kmeans_plusplus(X, n_clusters, ...)[1]``.

    For X where :func:`runs_compiled` holds; on X as given (not centred),
    from the same draws of ``random_state``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Finite data.
    n_clusters : int
        Number of seeds K.
    random_state : numpy.random.RandomState
        Consumed as scikit-learn consumes it.
    sample_weight : ndarray of shape (n_samples,), optional
        Non-negative row weights with a positive sum.

    Returns
    -------
    indices : ndarray of int64, shape (n_clusters,)
    """
    n = X.shape[0]
    X = np.ascontiguousarray(X)
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    u, draws = _draws(n_clusters, random_state)
    x_sq = np.empty(n)
    loops.squared_norms(X, x_sq)
    seeds = np.empty(n_clusters, dtype=np.int64)
    loops.plusplus(X, w, x_sq, loops.choice(w, u), draws, seeds)
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
