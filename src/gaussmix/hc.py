r"""mclust's model-based hierarchical agglomeration, the default start of ``select``.

Starting from one cluster per row, the pair of clusters whose merge costs
the least classification likelihood is merged, until one cluster is left;
cutting the tree at K clusters gives the starting partition for every model
with K components (Banfield & Raftery, 1993; Fraley, 1998). This follows
mclust's ``hc`` as of version 6 (read in its R and Fortran sources and
written anew here):

* The data are transformed as mclust's default ``hcUse = "SVD"`` does:
  standardised (``ddof=1``), then ``Z = U D^{1/2}`` from the thin SVD
  ``X = U D V^T``. EM itself runs on the original data.
* ``VVV`` (the default; used when n > d): the cost of a cluster is

  .. math::

      t_k = n_k \log\Big(|W_k / n_k|\,[n_k > p] + \beta\,
                         \frac{\operatorname{tr} W_k + \alpha}{n_k}\Big),

  with ``alpha = tr(W_total) / (n p)`` and ``beta = 1``, a singleton costs
  ``log(alpha beta)``, and a merge costs ``t_{i∪j} - t_i - t_j``. (As in
  mclust, a pair of singletons uses the trace term alone.)
* ``EII`` (used when n <= d): Ward's criterion,
  ``n_i n_j / (n_i + n_j) ||m_i - m_j||^2``.
* One-dimensional data use mclust's quantile classes (``qclass``) instead.
* Above 2000 rows, the tree is grown on a random subset of 2000 rows.

Ties go to the last pair in mclust's scan order, with mclust's slot
bookkeeping, so that tied merges (duplicated rows) happen in mclust's order.

One deliberate difference: mclust 6.0 to 6.1.3's ``hcvvv`` (src/mclust.f)
stores row 1 of a merged cluster's Cholesky factor in every one of the
cluster's storage slots (``call dcopy( p, r(1,1), p, x(l,1), n)``, where
row ``k`` belongs in slot ``k``), so the factor it reads back for a merged
cluster, and the determinants of later merge costs, are wrong. We compute
the criterion exactly. With that one line corrected, mclust's trees equal
ours at every K=1..9 on the six data sets of ``benchmarks/small``; as
released, they differ on wreath at K=3 and K=2, where the determinant
weighs most (``tests/fixtures/mclust_hc``).
"""

from __future__ import annotations

import numpy as np

from . import agglomeration
from .randomness import check_random_state

#: mclust.options("subset"): larger data grow the tree on a subset this big.
SUBSET_SIZE = 2000


def svd_transform(X):
    """mclust's ``hcUse = "SVD"``: standardise, then ``U D^{1/2}``."""
    X = np.asarray(X, dtype=np.float64)
    sd = X.std(axis=0, ddof=1)
    keep = np.isfinite(sd) & (sd > 0)  # mclust drops the columns that become NaN
    Z = (X[:, keep] - X[:, keep].mean(axis=0)) / sd[keep]
    U, d, _ = np.linalg.svd(Z, full_matrices=False)
    # A zero singular value makes mclust stop; its direction carries nothing.
    positive = d > d.max() * 1e-12 if d.size else d > 0
    return U[:, positive] * np.sqrt(d[positive])


class _VVV:
    """mclust's hcVVV costs (the merge loop: ``agglomeration``)."""

    code = agglomeration.VVV

    def __init__(self, Z):
        n, p = Z.shape
        self.p = p
        centred = Z - Z.mean(axis=0)
        self.alpha = max(float(np.sum(centred * centred)) / (n * p), np.finfo(float).eps)
        self.beta = 1.0

    def singleton_term(self):
        return np.log(self.alpha * self.beta)

    def initial(self, Z):
        sq = np.sum(Z * Z, axis=1)
        dist2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * Z @ Z.T, 0.0)
        with np.errstate(divide="ignore"):
            pair = 2.0 * np.log(self.beta * (dist2 / 2.0 + self.alpha) / 2.0)
        return pair - 2.0 * self.singleton_term(), np.full(Z.shape[0], self.singleton_term())


class _EII:
    """Ward's criterion, mclust's hcEII: merge cost ``n_i n_j / (n_i + n_j) |m_i - m_j|^2``."""

    code = agglomeration.EII
    alpha = beta = 0.0

    def initial(self, Z):
        sq = np.sum(Z * Z, axis=1)
        return np.maximum(sq[:, None] + sq[None, :] - 2.0 * Z @ Z.T, 0.0) / 2.0, np.zeros(Z.shape[0])


def agglomerate(Z, n_clusters, criterion):
    """Merge clusters of the rows of Z; return {K: labels} for K in n_clusters.

    The merges come from ``agglomeration.merge_sequence``; here they are
    replayed on the clusters' rows, slot by slot, as mclust keeps them.
    """
    n = Z.shape[0]
    wanted = set(k for k in n_clusters if k <= n)
    cost, terms = criterion.initial(Z)
    cost = np.array(cost, dtype=np.float64)
    np.fill_diagonal(cost, np.inf)
    stop_at = min(wanted) if wanted else n
    merged_into, merged_from = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    n_merges = agglomeration.merge_sequence(
        np.ascontiguousarray(Z, dtype=np.float64), cost, np.array(terms, dtype=np.float64),
        criterion.code, float(criterion.alpha), float(criterion.beta), max(stop_at, 1),
        merged_into, merged_from)
    members = [[r] for r in range(n)]
    partitions = {n: _labels(members, n)} if n in wanted else {}
    size = n
    for i, j in zip(merged_into[:n_merges].tolist(), merged_from[:n_merges].tolist()):
        members[i] = members[i] + members[j]
        last = size - 1
        if j != last:
            members[j] = members[last]
        size -= 1
        if size in wanted:
            partitions[size] = _labels(members[:size], n)
    return partitions


def _labels(members, n):
    """Labels numbered by first appearance over the rows, as mclust's partconv."""
    labels = np.empty(n, dtype=np.intp)
    for k, rows in enumerate(members):
        labels[rows] = k
    _, first = np.unique(labels, return_index=True)
    order = np.argsort(np.argsort(first))
    return order[labels]


def quantile_classes(x, n_clusters):
    """mclust's ``qclass``: K classes of 1-D data between quantiles."""
    x = np.asarray(x, dtype=np.float64).ravel()
    eps = x.std(ddof=1) * np.sqrt(np.finfo(float).eps) if x.size > 1 else 0.0
    m = n_clusters
    while True:
        m += 1
        q = np.unique(np.quantile(x, np.linspace(0.0, 1.0, m)))
        if q.size >= n_clusters + 1 or m > x.size + n_clusters + 1:
            break
    if q.size < n_clusters + 1:
        raise ValueError(
            f"the data have fewer than {n_clusters} distinct values; reduce n_components."
        )
    if q.size > n_clusters + 1:
        drop = np.argsort(np.diff(q), kind="stable")[: q.size - n_clusters - 1]
        q = np.delete(q, drop)
    q[0], q[-1] = x.min() - eps, x.max() + eps
    return np.searchsorted(q, x, side="right") - 1


def tree_rows(n, random_state=None):
    """The rows of ``n`` the tree is grown on: all, or a sorted random :data:`SUBSET_SIZE` of them."""
    if n <= SUBSET_SIZE:
        return np.arange(n)
    return np.sort(check_random_state(random_state).choice(n, SUBSET_SIZE, replace=False))


def hc_partitions(X, n_clusters, random_state=None):
    """Starting partitions for each K in ``n_clusters``, as mclust makes them.

    Returns
    -------
    partitions : dict
        ``K -> (labels, rows)``: ``labels[m]`` is the class of row
        ``rows[m]`` of X. ``rows`` is every row, or the random subset the
        tree was grown on when X has more than 2000 rows.
    """
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    rows = tree_rows(n, random_state)
    data = X[rows]
    out = {}
    if d == 1:
        for K in n_clusters:
            out[K] = (quantile_classes(data[:, 0], K), rows)
        return out
    Z = svd_transform(data)
    if Z.shape[1] == 0:
        # Every feature is constant: the rows are one point, and any split is
        # as good as another (mclust stops here). Consecutive blocks.
        for K in n_clusters:
            out[K] = (np.arange(len(rows)) * min(K, len(rows)) // len(rows), rows)
        return out
    criterion = _VVV(Z) if n > d else _EII()
    partitions = agglomerate(Z, [K for K in n_clusters if K > 1], criterion)
    for K in n_clusters:
        labels = np.zeros(len(rows), dtype=np.intp) if K == 1 else partitions[K]
        out[K] = (labels, rows)
    return out
