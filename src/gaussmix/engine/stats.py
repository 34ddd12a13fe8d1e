r"""Sufficient statistics of a Gaussian mixture: accumulate per chunk, merge.

For responsibilities ``r_ik``, sample weights ``w_i`` and rows ``x_i`` the
statistics of component ``k`` are

.. math::

    n_k = \sum_i w_i r_{ik}, \qquad
    \bar x_k = \frac{1}{n_k} \sum_i w_i r_{ik} x_i, \qquad
    S_k = \sum_i w_i r_{ik} (x_i - \bar x_k)(x_i - \bar x_k)^T

(``S_k`` full, or only its diagonal). Every covariance model's M-step is a
function of ``(n_k, x̄_k, S_k)``, so EM needs nothing else from the data. A
model whose covariance is shared needs only the pooled scatter
``W = sum_k S_k`` (kind ``"pooled"``, kept as shape (1, d, d)), which costs
one d x d product per row instead of K.

The scatter is *centred per chunk* and chunks are combined with the pairwise
update of Chan, Golub & LeVeque (1979),

.. math::

    n = n_a + n_b, \quad \delta = \bar x_b - \bar x_a, \quad
    \bar x = \bar x_a + \delta\, n_b / n, \quad
    S = S_a + S_b + \delta \delta^T n_a n_b / n,

never as ``E[xx^T] - E[x]E[x]^T`` on raw moments, which cancels
catastrophically in float32 or when the data sit far from the origin.
``merge`` is associative and commutative (up to rounding), so chunks may be
reduced in any order, on any machine.

Accumulation is in float64 whatever the data's dtype. The code is written
against the array API standard, so the same functions run on NumPy, PyTorch
or CuPy arrays. :func:`accumulate_reference` is the definition; the kernels
of ``engine.kernels`` compute the same statistics faster
(``engine.passes.accumulate`` picks one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from array_api_compat import array_namespace

from ..namespaces import to_host

#: The kinds of scatter a covariance model may need: every ``S_k``, their
#: diagonals, or only their sum ``W = sum_k S_k``.
SCATTER_KINDS = ("full", "diag", "pooled")


@dataclass
class SuffStats:
    r"""Weighted, centred sufficient statistics of K components.

    Attributes
    ----------
    nk : array of shape (n_components,)
        Total weight ``sum_i w_i r_ik`` of each component.
    means : array of shape (n_components, n_features)
        Weighted mean of each component (0 where ``nk`` is 0).
    scatter : array of shape (n_components, n_features, n_features), \
            (n_components, n_features) or (1, n_features, n_features)
        Centred weighted scatter ``S_k``, full or diagonal, or the pooled
        ``sum_k S_k``.
    """

    nk: Any
    means: Any
    scatter: Any

    def scaled(self, factor):
        """The statistics of the same rows with every weight multiplied by ``factor``."""
        return SuffStats(self.nk * factor, self.means, self.scatter * factor)

    def to_numpy(self):
        """Return a copy of these statistics as float64 NumPy arrays (host)."""
        return SuffStats(_to_numpy(self.nk), _to_numpy(self.means), _to_numpy(self.scatter))


def _to_numpy(a):
    return to_host(a, np.float64)


def accumulate_reference(X, resp, sample_weight=None, kind="full"):
    """Sufficient statistics of one chunk of rows (array API reference).

    Parameters
    ----------
    X : array of shape (n_rows, n_features)
        The chunk, any floating dtype, any array-API namespace.
    resp : array of shape (n_rows, n_components)
        Responsibilities of the rows (rows sum to 1, or zero rows for an
        initialisation that uses only some rows).
    sample_weight : array of shape (n_rows,), optional
        Non-negative weights; ``None`` means all ones.
    kind : {"full", "diag", "pooled"}
        Whether to form the full scatter matrices, only their diagonals, or
        only their sum.

    Returns
    -------
    SuffStats
        In float64, in the namespace of ``X``.
    """
    if kind not in SCATTER_KINDS:
        raise ValueError(f"kind must be one of {SCATTER_KINDS}, got {kind!r}")
    xp = array_namespace(X, resp)
    X64 = xp.astype(X, xp.float64)
    wr = xp.astype(resp, xp.float64)
    if sample_weight is not None:
        wr = wr * xp.expand_dims(xp.astype(sample_weight, xp.float64), axis=1)
    nk = xp.sum(wr, axis=0)
    sums = xp.matmul(xp.matrix_transpose(wr), X64)
    means = sums / xp.expand_dims(_safe(nk, xp), axis=1)
    # Centre on the chunk's own means so that the products below never
    # cancel: the diff is small even when X holds large values.
    diff = xp.expand_dims(X64, axis=0) - xp.expand_dims(means, axis=1)  # (K, n, d)
    wdiff = diff * xp.expand_dims(xp.matrix_transpose(wr), axis=2)
    if kind == "diag":
        scatter = xp.sum(wdiff * diff, axis=1)
    else:
        scatter = xp.matmul(xp.matrix_transpose(wdiff), diff)
        if kind == "pooled":
            scatter = xp.sum(scatter, axis=0, keepdims=True)
    return SuffStats(nk, means, scatter)


def _safe(nk, xp):
    """nk with zeros replaced by ones, so that 0 / nk gives 0, not NaN."""
    return xp.where(nk > 0, nk, xp.ones_like(nk))


def merge(a, b):
    """Combine the statistics of two disjoint sets of rows.

    ``merge(accumulate(A), accumulate(B))`` equals ``accumulate(A ∪ B)`` up
    to rounding; the operation is associative, so it can be used as a tree
    reduction.
    """
    xp = array_namespace(a.nk, b.nk)
    n = a.nk + b.nk
    n_safe = _safe(n, xp)
    frac_b = xp.expand_dims(b.nk / n_safe, axis=1)  # (K, 1)
    delta = b.means - a.means  # (K, d)
    means = a.means + delta * frac_b
    coef = a.nk * b.nk / n_safe  # (K,)
    if a.scatter.ndim == 3:
        outer = xp.expand_dims(delta, axis=2) * xp.expand_dims(delta, axis=1)
        extra = outer * xp.reshape(coef, (-1, 1, 1))
        if a.scatter.shape[0] != n.shape[0]:  # pooled: W = sum_k S_k
            extra = xp.sum(extra, axis=0, keepdims=True)
    else:
        extra = delta * delta * xp.expand_dims(coef, axis=1)
    return SuffStats(n, means, a.scatter + b.scatter + extra)


def reduce_stats(stats_iter):
    """Merge an iterable of statistics into one (left fold)."""
    total = None
    for s in stats_iter:
        total = s if total is None else merge(total, s)
    if total is None:
        raise ValueError("no statistics to reduce: the data had no rows")
    return total
