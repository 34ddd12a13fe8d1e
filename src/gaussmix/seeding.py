"""Starts of EM that run on any array-API namespace and match scikit-learn.

``kmeans_plusplus``, ``kmeans_labels`` and ``choice_rows`` take X (and row
weights or probabilities) in any namespace that ``array_api_compat`` knows
(NumPy, torch on CPU or CUDA, array_api_strict, ...) and compute on X's own
device.  The randomness comes from a host ``numpy.random.RandomState``,
consumed draw for draw as scikit-learn 1.9 and NumPy consume it, so that the
result equals scikit-learn's NumPy result from the same ``random_state``.

Only arrays of K or ``n_local_trials`` elements (and scalars) cross to the
host; X is never converted to NumPy.  Distances are computed over chunks of
rows so that memory stays at about ``chunk x K`` beyond O(n) vectors.

Numerics follow scikit-learn: squared distances ``-2 c.x + |c|^2 + |x|^2``
clipped at 0, in float64 for k-means++ (float32 X upcast chunk by chunk, as
``_euclidean_distances_upcast`` does) and in X's dtype for Lloyd.  Sums are
reduced in another order than BLAS/OpenMP, so a draw or a label can differ
only at a tie within rounding (float32 is likelier to meet one); 1,000+
random float64 and float32 configurations gave identical results.
"""

import math

import numpy as np
from array_api_compat import array_namespace, device

from .namespaces import to_host
from .randomness import check_random_state

__all__ = ["kmeans_plusplus", "kmeans_labels", "choice_rows"]

#: Elements per distance chunk (rows x max(K, d)): a few MiB, bounded in n.
_CHUNK_ELEMENTS = 1 << 20


def _weights(xp, X, sample_weight):
    # scikit-learn's _check_sample_weight casts the weights to X's dtype.
    if sample_weight is None:
        return xp.ones(X.shape[0], dtype=X.dtype, device=device(X))
    w = xp.asarray(sample_weight, device=device(X))
    return xp.astype(w, X.dtype)


def _row_norms_sq(xp, A):
    """Squared row norms as scikit-learn's ``row_norms``: ``einsum`` for NumPy (its order of sums)."""
    if isinstance(A, np.ndarray):
        return np.einsum("ij,ij->i", A, A)
    return xp.sum(A * A, axis=1)


def _chunks(n, width):
    """Row slices of about ``_CHUNK_ELEMENTS / width`` rows covering ``range(n)``.

    Stops never pass n: array_api_strict refuses out-of-bounds slices.
    """
    step = max(1, _CHUNK_ELEMENTS // max(width, 1))
    return [slice(start, min(start + step, n)) for start in range(0, n, step)]


def _sqdist_upcast(xp, C, X, x_sq):
    """Squared distances (len(C), n) as scikit-learn's ``_euclidean_distances``.

    float64 X uses the given row norms; float32 X is upcast to float64 one
    chunk of rows at a time (norms recomputed from the upcast chunk), and the
    result is cast back to float32, as scikit-learn does.
    """
    f64 = xp.float64
    C64 = xp.astype(C, f64)
    c_sq = _row_norms_sq(xp, C64)[:, None]
    out = []
    for rows in _chunks(X.shape[0], max(C.shape[0], X.shape[1])):
        Xc = xp.astype(X[rows, :], f64)
        xx = _row_norms_sq(xp, Xc) if x_sq is None else x_sq[rows]
        # Same order of additions as scikit-learn: (-2 c.x + |c|^2) + |x|^2.
        d = -2 * (C64 @ xp.matrix_transpose(Xc)) + c_sq + xx[None, :]
        out.append(xp.maximum(d, xp.asarray(0.0, dtype=f64, device=device(X))))
    d = xp.concat(out, axis=1) if len(out) > 1 else out[0]
    return xp.astype(d, X.dtype)


def _plusplus(xp, X, n_clusters, rs, w):
    """k-means++ on X (already centred by the caller if it wants), host indices."""
    n = X.shape[0]
    dev = device(X)
    if n_clusters < 1 or n_clusters > n:
        raise ValueError(f"n_clusters={n_clusters} must be in [1, n_samples={n}]")
    # float32 norms are not used by scikit-learn (recomputed on upcast chunks).
    x_sq = _row_norms_sq(xp, X) if X.dtype == xp.float64 else None
    n_local_trials = 2 + int(np.log(n_clusters))

    # First centre: random_state.choice(n, p=w / w.sum()) draws one
    # random_sample() and searches the normalised cdf with side='right'.
    if bool(xp.any(w < 0)) or not float(xp.sum(w)) > 0:
        raise ValueError("sample_weight must be non-negative with a positive sum")
    cdf = xp.cumulative_sum(xp.astype(w / xp.sum(w), xp.float64))  # p as double
    cdf = cdf / cdf[-1]
    u = xp.asarray([rs.random_sample()], dtype=xp.float64, device=dev)
    first = int(xp.searchsorted(cdf, u, side="right")[0])
    indices = [first]

    closest = _sqdist_upcast(xp, X[first:first + 1, :], X, x_sq)[0, :]
    current_pot = xp.sum(closest * w)
    for _ in range(1, n_clusters):
        # uniform(size=T) * current_pot: float64 draws times the potential
        # (NumPy promotes a float32 potential to float64 here).
        draws = rs.uniform(size=n_local_trials)
        pot = xp.astype(current_pot, xp.float64)
        rand_vals = xp.asarray(draws, dtype=xp.float64, device=dev) * pot
        cum = xp.astype(xp.cumulative_sum(w * closest), xp.float64)
        cand = xp.searchsorted(cum, rand_vals)  # side='left' as np.searchsorted
        # Rounding can put a draw past the last cumulative value: clip.
        cand = xp.clip(cand, max=n - 1)
        dist = _sqdist_upcast(xp, xp.take(X, cand, axis=0), X, x_sq)
        dist = xp.minimum(closest[None, :], dist)
        pots = dist @ w
        best = int(xp.argmin(pots))  # first minimum, as np.argmin
        current_pot = pots[best]
        closest = dist[best, :]
        indices.append(int(to_host(cand)[best]))
    return np.asarray(indices, dtype=np.intp)


def kmeans_plusplus(X, n_clusters, random_state, sample_weight=None):
    """Row indices of the k-means++ seeds, as ``sklearn.cluster.kmeans_plusplus``.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
        Data in any array-API namespace; stays on its device.
    n_clusters : int
        Number of seeds K.
    random_state : int, RandomState or None
        Host generator, consumed exactly as scikit-learn consumes it.
    sample_weight : array of shape (n_samples,), optional
        Row weights in X's namespace (default all ones).

    Returns
    -------
    indices : numpy.ndarray of shape (n_clusters,)
        Equal to ``sklearn.cluster.kmeans_plusplus(X, n_clusters,
        random_state=rs, sample_weight=w)[1]`` for the NumPy copy of X.
    """
    xp = array_namespace(X)
    return _plusplus(xp, X, n_clusters, check_random_state(random_state), _weights(xp, X, sample_weight))


def _assign(xp, X, w, centers, update=True):
    """Labels of every row, and the weighted sums and weights per centre.

    Distances are ``|c|^2 - 2 x.c`` (the |x|^2 term does not change the
    argmin), as scikit-learn's ``_update_chunk_dense``, chunk by chunk.
    """
    K = centers.shape[0]
    c_sq = _row_norms_sq(xp, centers)[None, :]
    ks = xp.arange(K, device=device(X))[None, :]
    labels, sums, weights = [], 0, 0
    for rows in _chunks(X.shape[0], max(K, X.shape[1])):
        chunk = X[rows, :]
        lab = xp.argmin(-2 * (chunk @ xp.matrix_transpose(centers)) + c_sq, axis=1)
        labels.append(lab)
        if update:
            onehot = xp.astype(lab[:, None] == ks, X.dtype) * w[rows, None]
            sums = sums + xp.matrix_transpose(onehot) @ chunk
            weights = weights + xp.sum(onehot, axis=0)
    labels = xp.concat(labels) if len(labels) > 1 else labels[0]
    return labels, sums, weights


def _relocate_empty(xp, X, w, centers_old, labels, sums, weights):
    """Move empty clusters to the rows farthest from their centre.

    As scikit-learn's ``_relocate_empty_clusters_dense``: the i-th empty
    cluster takes the i-th farthest row (ties: lowest index first, where
    scikit-learn's argpartition leaves the order unspecified); the row's
    weight leaves its own cluster, and its label is not changed.
    """
    empty = np.flatnonzero(to_host(weights) == 0)
    if empty.size == 0:
        return sums, weights
    far = []
    for rows in _chunks(X.shape[0], X.shape[1]):
        diff = X[rows, :] - xp.take(centers_old, labels[rows], axis=0)
        far.append(xp.sum(diff * diff, axis=1))
    dist = xp.concat(far) if len(far) > 1 else far[0]
    if float(xp.max(dist)) == 0:
        # More clusters than distinct rows: relocating is pointless.
        return sums, weights
    order = xp.argsort(dist, descending=True, stable=True)[:empty.size]
    far_rows = to_host(order)
    own = to_host(xp.take(labels, order))
    sums = xp.asarray(sums, copy=True)
    weights = xp.asarray(weights, copy=True)
    for new, row, old in zip(empty, far_rows, own):
        row, old, new = int(row), int(old), int(new)
        wx = X[row, :] * w[row]
        sums[old, :] = sums[old, :] - wx
        sums[new, :] = wx
        weights[new] = w[row]
        weights[old] = weights[old] - w[row]
    return sums, weights


def kmeans_labels(X, n_clusters, random_state, sample_weight=None, max_iter=300):
    """Labels of one k-means++ / Lloyd run, as ``KMeans(n_init=1).fit(X).labels_``.

    Follows scikit-learn 1.9's dense Lloyd: X is centred on its mean first,
    k-means++ seeds from the same stream, ``tol = 1e-4 * mean(var(X,
    axis=0))``; it stops when the labels do not change (strict convergence)
    or when the total squared centre shift is ``<= tol``, and in the latter
    case assigns the labels once more to the final centres.  Empty clusters
    are relocated to the farthest rows (see ``_relocate_empty``).

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
        Data in any array-API namespace; stays on its device.
    n_clusters : int
        Number of clusters K.
    random_state : int, RandomState or None
        Host generator, consumed exactly as scikit-learn consumes it.
    sample_weight : array of shape (n_samples,), optional
        Row weights in X's namespace (default all ones).
    max_iter : int, default=300
        Most Lloyd iterations.

    Returns
    -------
    labels : array of shape (n_samples,)
        Integer labels in X's namespace and on X's device (index dtype of
        the namespace, where scikit-learn gives int32).
    """
    xp = array_namespace(X)
    rs = check_random_state(random_state)
    w = _weights(xp, X, sample_weight)
    tol = 1e-4 * float(xp.mean(xp.var(X, axis=0)))
    # scikit-learn centres X (one copy) for more accurate distances; the
    # seeds and Lloyd iterations then see the same rounding as there.
    X = X - xp.mean(X, axis=0)
    seeds = _plusplus(xp, X, n_clusters, rs, w)
    centers = xp.take(X, xp.asarray(seeds, device=device(X)), axis=0)

    labels_old = None
    strict = False
    for _ in range(max_iter):
        labels, sums, weights = _assign(xp, X, w, centers)
        sums, weights = _relocate_empty(xp, X, w, centers, labels, sums, weights)
        # scikit-learn multiplies by 1/weight; a cluster still empty (all
        # rows on their centres) takes the heaviest cluster's mean, where
        # scikit-learn copies that centre scaled or not by loop order.
        filled = weights > 0
        alpha = xp.where(filled, 1.0 / xp.where(filled, weights, 1.0), 0.0)
        new = sums * alpha[:, None]
        heaviest = new[int(xp.argmax(weights)), :]
        new = xp.where(filled[:, None], new, heaviest[None, :])
        shift = xp.sqrt(xp.sum((new - centers) ** 2, axis=1))
        centers = new
        if labels_old is not None and bool(xp.all(labels == labels_old)):
            strict = True
            break
        if float(xp.sum(shift ** 2)) <= tol:
            break
        labels_old = labels
    if not strict:
        # Labels that match the final centres, as scikit-learn reruns the E-step.
        labels, _, _ = _assign(xp, X, w, centers, update=False)
    return labels


def choice_rows(n, size, random_state, p=None):
    """``random_state.choice(n, size=size, replace=False, p=p)`` with p on device.

    Parameters
    ----------
    n : int
        Number of rows to choose from.
    size : int
        Number of distinct rows to choose.
    random_state : int, RandomState or None
        Host generator, consumed exactly as NumPy consumes it.
    p : array of shape (n,), optional
        Row probabilities in any array-API namespace; stays on its device.

    Returns
    -------
    indices : numpy.ndarray of shape (size,)
        The chosen rows, int64, equal to NumPy's result.
    """
    rs = check_random_state(random_state)
    if size > n:
        raise ValueError("Cannot take a larger sample than population when replace is False")
    if p is None:
        # NumPy's own rule without p: a host permutation, nothing on device.
        return rs.permutation(n)[:size]
    xp = array_namespace(p)
    # NumPy's tolerance on sum(p) follows p's own precision.
    atol = math.sqrt(np.finfo(np.float32 if p.dtype == xp.float32 else np.float64).eps)
    p = xp.astype(p, xp.float64, copy=True)  # NumPy zeroes a double copy of p
    if p.shape != (n,):
        raise ValueError("p must be 1-dimensional and of length n")
    if bool(xp.any(p < 0)):
        raise ValueError("probabilities are not non-negative")
    if abs(float(xp.sum(p)) - 1.0) > atol:
        raise ValueError("probabilities do not sum to 1")
    if int(xp.count_nonzero(p > 0)) < size:
        raise ValueError("Fewer non-zero entries in p than size")
    found = []
    while len(found) < size:
        x = rs.random_sample(size - len(found))
        cdf = xp.cumulative_sum(p)
        cdf = cdf / cdf[-1]
        new = to_host(xp.searchsorted(cdf, xp.asarray(x, device=device(p)), side="right"))
        # Keep the first occurrence of each index, in draw order.
        _, first = np.unique(new, return_index=True)
        new = new[np.sort(first)]
        found.extend(int(i) for i in new)
        for i in new:  # found rows have probability 0 from now on
            p[int(i)] = 0.0
    return np.asarray(found, dtype=np.int64)
