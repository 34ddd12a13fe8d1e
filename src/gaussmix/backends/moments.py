"""The data's moments in one chunked pass: each column's, or the whole data's as one Gaussian.

For the priors' defaults (``conjugate``), the columns' standardisation of
the command line, and wherever a pass over any source must give a count,
a mean and a scatter without holding the rows.
"""

from __future__ import annotations

import numpy as np
from array_api_compat import array_namespace, device

from ..engine.passes import accumulate
from ..engine.stats import SuffStats, reduce_stats


def source_moments(source):
    """``(n, mean, scatter)`` of every row, weighted, in one pass (float64).

    The K=1 case of the sufficient statistics, merged chunk by chunk; the
    covariance (ddof=1) is ``scatter / (n - 1)``. Where values are missing
    (NaN, marginalised), see :func:`_moments_with_holes`.
    """
    if source.marginalizes:
        return _moments_with_holes(source)
    total = reduce_stats(accumulate(X, _ones_column(X), w, kind="full")
                         for X, w in source.iter_chunks()).to_numpy()
    return float(total.nk[0]), total.means[0], total.scatter[0]


def _ones_column(X):
    """A column of ones beside the rows ``X``, in their namespace and on their device."""
    if isinstance(X, np.ndarray):
        return np.ones((X.shape[0], 1))
    xp = array_namespace(X)
    return xp.ones((X.shape[0], 1), dtype=xp.float64, device=device(X))


def _moments_with_holes(source):
    """``(n, mean, scatter)`` of rows with missing values: one EM step of a single Gaussian.

    From the columns' observed means and variances (a diagonal start), each
    hole's conditional mean is its column's mean and its conditional
    variance the column's variance: the statistics are those of the rows so
    filled, plus those variances on the diagonal. The mean is then the
    observed values' mean, and the covariance is positive definite, its
    off-diagonal terms shrunk where values are missing. Rows with nothing
    observed do not count.
    """
    columns = _column_totals(source)
    if np.any(columns.nk <= 0):
        raise ValueError("every column needs an observed value; drop the columns that have none.")
    mean, variance = columns.means[:, 0], columns.scatter[:, 0] / columns.nk
    hole_weight = np.zeros(mean.shape[0])

    def filled(X, w):
        nonlocal hole_weight
        holes = np.isnan(X)
        weight = (~holes.all(axis=1)) * (1.0 if w is None else np.asarray(w, dtype=np.float64))
        hole_weight += weight @ holes
        return accumulate(np.where(holes, mean, X), np.ones((X.shape[0], 1)), weight, kind="full")

    total = reduce_stats(filled(X, w) for X, w in source.iter_chunks()).to_numpy()
    return float(total.nk[0]), total.means[0], total.scatter[0] + np.diag(hole_weight * variance)


class DataMoments:
    """The data's weighted count, mean and covariance, from one chunked pass, read only if needed.

    The pass keeps memory bounded (``np.cov`` on a whole array copies it:
    128 MiB at 1e6 x 16), and its merged statistics agree with NumPy's
    formulas to rounding. Weights count as repeated rows; variances and
    covariances divide by ``n - 1``, as ``np.cov`` and R's ``var`` do. With
    missing values, see ``source_moments``.
    """

    def __init__(self, source):
        self.source = source
        self.n_features = source.n_features
        self._pass = None

    def _one_pass(self):
        if self._pass is None:
            self._pass = source_moments(self.source)
        return self._pass

    def n_rows(self):
        """The total weight (the number of rows, unweighted)."""
        return self._one_pass()[0]

    def mean(self):
        return self._one_pass()[1]

    def covariance(self):
        n, _, scatter = self._one_pass()
        return scatter / (n - 1.0)

    def variances(self):
        n, _, scatter = self._one_pass()
        return np.diag(scatter) / (n - 1.0)


def column_moments(source):
    """Weighted mean and standard deviation (ddof=1) of each column, in one pass.

    The K=1 case of the sufficient statistics, merged chunk by chunk.
    """
    total = _column_totals(source)
    if np.any(total.nk <= 1):
        raise ValueError("need at least 2 observed values in each column to standardise the columns.")
    return total.means[:, 0], np.sqrt(total.scatter[:, 0] / (total.nk - 1.0))


def _column_totals(source):
    """Each column's statistics over its observed values, merged over the chunks (one pass)."""
    return reduce_stats(_column_statistics(X, w) for X, w in source.iter_chunks())


def _column_statistics(X, w):
    """Each column's statistics over its observed (not NaN) values, as K = d one-dimensional sets.

    Treating column j as component j of a 1-D mixture whose responsibility
    is 1 where x_j is observed lets ``stats.merge`` combine the chunks.
    """
    observed = ~np.isnan(X)
    values = np.where(observed, X, 0.0).astype(np.float64)
    weight = observed * (1.0 if w is None else np.asarray(w, dtype=np.float64)[:, None])
    n = weight.sum(axis=0)
    means = (weight * values).sum(axis=0) / np.where(n > 0, n, 1.0)
    scatter = (weight * (values - means) ** 2).sum(axis=0)
    return SuffStats(n, means[:, None], scatter[:, None])
