r"""The NumPy kernel: matrix products where they beat the reference, same results.

The reference (``estep.weighted_log_prob_reference``,
``stats.accumulate_reference``) stays the definition; tests compare this
kernel against it on random inputs and edge shapes. It runs NumPy chunks
where Numba is missing (``GAUSSMIX_NO_NUMBA=1``), and its statistics serve
the compiled kernels' BLAS routes and every start. Each product is used only
where it is both faster and as accurate:

* ``accumulate`` (any float data; statistics are float64): the chunk is
  centred on its own mean ``c`` once, and each component's moments of
  ``z = x - c`` come from matrix products,

  .. math::

      a_k = \sum_i w_i r_{ik} z_i, \qquad
      S_k = \sum_i w_i r_{ik} z_i z_i^T - a_k a_k^T / n_k ,

  instead of forming the (K, n, d) differences. In float64 the cancellation
  costs ``eps (|mu_k - c| / sigma_k)^2`` — 1e-12 for a component a hundred
  standard deviations from the chunk's mean. A component that lost more
  than half of its digits (a narrow one far away) is recomputed exactly,
  centred on its own mean.
* the diagonal and spherical E-step in float64: with ``p_k`` the precision
  diagonal and ``z = x - c``,

  .. math::

      \lVert (x - \mu_k) \circ \sqrt{p_k} \rVert^2
      = (z \circ z)\, p_k - 2\, z\, (p_k \circ m_k) + \textstyle\sum_j p_{kj} m_{kj}^2,
      \quad m_k = \mu_k - c ,

  three small matrix products.
* every other NumPy E-step (float32, full and shared precisions): the
  reference arithmetic, ``(x - c_k) - (mu_k - c_k)`` then the whitening,
  one component at a time on (n, d) arrays that stay in cache, instead of
  one (K, n, d) block; 2.5-8x faster on 3000-row float32 chunks.
"""

from __future__ import annotations

import numpy as np

from ..chunks import component_groups
from ..stats import SuffStats
from ... import compiled
from . import primitives
from .base import Kernel


def accumulate_numpy(X, resp, sample_weight, kind, centre=None):
    """``stats.accumulate_reference`` for NumPy arrays; returns (nk, means, scatter) in float64.

    ``centre`` is the origin of the one-pass moments: by default the chunk's
    mean; the compiled E-step passes the mixture's mean, which no outlying
    row can move.
    """
    X64 = np.asarray(X, dtype=np.float64)
    wr = np.asarray(resp, dtype=np.float64)
    if sample_weight is not None:
        wr = wr * np.asarray(sample_weight, dtype=np.float64)[:, None]
    keep = wr.any(axis=1)
    if not keep.all():
        # Rows of zero weight add nothing, but 0 * inf would (a huge row's
        # square overflows), so they are left out of the products.
        X64, wr = X64[keep], wr[keep]
    if centre is None:
        centre = X64.mean(axis=0) if X64.shape[0] else np.zeros(X64.shape[1])
    z = X64 - centre
    nk = wr.sum(axis=0)
    raw = scatter_sums(z, wr, kind)
    nk, means, scatter, lossy = moments_from_sums(nk, wr.T @ z, raw, centre, kind)
    recompute_exact(means, scatter, X64, wr, lossy, kind)
    return nk, means, scatter


def scatter_sums(z, wr, kind):
    """``sum_i wr_ik z_i z_i^T`` (K, d*d), its diagonal (K, d), or its sum over k (1, d*d).

    The full sums take one (G d, n) x (n, d) product per group of G
    components (``_chunks.component_groups`` bounds the weighted copy); the
    pooled sum one (d, n) x (n, d) product.
    """
    n, K = wr.shape
    d = z.shape[1]
    if kind == "diag":
        return wr.T @ (z * z)
    if kind == "pooled":
        return ((z * wr.sum(axis=1)[:, None]).T @ z).reshape(1, d * d)
    raw = np.empty((K, d * d))
    for k0, k1 in component_groups(n, K, d):
        weighted = (wr[:, k0:k1, None] * z[:, None, :]).reshape(n, (k1 - k0) * d)
        raw[k0:k1] = (weighted.T @ z).reshape(k1 - k0, d * d)
    return raw


_TINY = np.finfo(np.float64).tiny
_MOMENTS = {"full": primitives.MOMENTS_FULL, "diag": primitives.MOMENTS_DIAG,
            "pooled": primitives.MOMENTS_POOLED}


def moments_from_sums(nk, a, raw, origin, kind):
    r"""Centred statistics from sums about ``origin``, and the components to redo.

    With ``z = x - origin``, ``a_k = sum_i w_i r_ik z_i`` and ``raw`` the sums
    of ``w_i r_ik z z^T`` (flattened (K, d*d), or diagonal (K, d), or summed
    over k (1, d*d) for ``"pooled"``): ``mean_k = origin + a_k / n_k`` (0
    where ``n_k`` is 0) and ``S_k = raw_k - a_k a_k^T / n_k`` (pooled:
    ``W = raw - sum_k a_k a_k^T / n_k``).

    Returns ``(nk, means, scatter, lossy)``; ``lossy`` lists the components
    whose moments lost more than half their digits to the cancellation (a
    narrow component far from ``origin``), for :func:`recompute_exact`.
    Compiled where Numba is (``primitives.moments_about_origin``): its dozen NumPy
    calls took 11 us, a seventh of an EM iteration on iris.
    """
    if compiled.AVAILABLE:
        means, scatter, lossy = primitives.moments_about_origin(
            nk, np.ascontiguousarray(a), np.ascontiguousarray(raw),
            np.ascontiguousarray(origin if origin.shape == a.shape else np.broadcast_to(origin, a.shape)),
            _MOMENTS[kind], _TINY)
        if kind != "diag":
            scatter = scatter.reshape(-1, a.shape[1], a.shape[1])
        return nk, means, scatter, np.flatnonzero(lossy)
    K, d = a.shape
    safe = np.where(nk > 0, nk, 1.0)
    shift = a / safe[:, None]
    if kind != "diag":
        raw = raw.reshape(-1, d, d)
        if kind == "pooled":
            scatter = raw - (shift.T @ a)[None]
        else:
            scatter = raw - shift[:, :, None] * a[:, None, :]
        # Exactly symmetric, as the centred products are.
        scatter = 0.5 * (scatter + np.swapaxes(scatter, 1, 2))
        spread = np.trace(scatter, axis1=1, axis2=2)
        total = np.trace(raw, axis1=1, axis2=2)
    else:
        scatter = raw - shift * a
        # What is left below the rounding of the raw moment is zero: a
        # component on identical rows must show a variance of exactly 0.
        scatter[scatter <= 64 * np.finfo(np.float64).eps * raw] = 0.0
        spread, total = scatter.sum(axis=1), raw.sum(axis=1)
    means = np.where((nk > 0)[:, None], origin + shift, 0.0)
    lossy = np.flatnonzero(total > 1e8 * np.maximum(spread, _TINY))
    if kind == "pooled" and lossy.size:
        lossy = np.arange(K)  # the sum is redone from every component
    return nk, means, scatter, lossy


def recompute_exact(means, scatter, X64, wr, components, kind):
    """Two-pass mean and scatter of ``components``, centred on their own mean (in place).

    The mean comes straight from the rows, as the reference forms it, so
    that identical rows give exactly zero. A pooled scatter is redone as the
    sum over ``components`` (all of them).
    """
    if kind == "pooled" and len(components):
        scatter[0] = 0.0
    for k in components:
        nk = wr[:, k].sum()
        means[k] = (wr[:, k] @ X64) / (nk if nk > 0 else 1.0)
        diff = X64 - means[k]
        weighted = diff * wr[:, k, None]
        if kind == "diag":
            scatter[k] = np.sum(weighted * diff, axis=0)
        elif kind == "full":
            scatter[k] = weighted.T @ diff
        else:
            scatter[0] += weighted.T @ diff


def finish_statistics(nk, a, raw, origin, X, scatter, weighted_resp):
    """Statistics from the sums about ``origin``; lossy components redone exactly.

    ``weighted_resp()`` gives ``w_i r_ik``, asked for only when a component
    must be redone (:func:`moments_from_sums`, :func:`recompute_exact`).
    """
    nk, means, S, lossy = moments_from_sums(nk, a, raw, origin, scatter)
    if lossy.size:
        recompute_exact(means, S, np.asarray(X, dtype=np.float64), weighted_resp(), lossy, scatter)
    return SuffStats(nk, means, S)


def sq_distances_diagonal(X, means, precision_diag, centre=None):
    """Squared Mahalanobis distances (n, K) for diagonal precisions, float64.

    The expansion is taken about ``centre`` (by default the chunk's mean).
    """
    if centre is None:
        centre = X.mean(axis=0)
    z = X - centre
    m = means - centre
    pm = precision_diag * m
    sq = (z * z) @ precision_diag.T - 2.0 * (z @ pm.T) + np.sum(pm * m, axis=1)
    return np.maximum(sq, 0.0)


def sq_distances_by_component(X, means, means_residual, prec_chol, matrix, precision_diag):
    """Squared Mahalanobis distances (n, K), one component at a time, exact arithmetic.

    ``matrix``: precision factors are (K, d, d) or shared (d, d) matrices;
    otherwise ``precision_diag`` (K, d) holds the diagonal precisions.
    """
    n_components = means.shape[0]
    out = np.empty((X.shape[0], n_components), dtype=X.dtype)
    for k in range(n_components):
        y = X - means[k]
        y -= means_residual[k]
        if matrix:
            y = y @ (prec_chol if prec_chol.ndim == 2 else prec_chol[k])
            np.square(y, out=y)
            out[:, k] = y.sum(axis=1)
        else:
            np.square(y, out=y)
            out[:, k] = y @ precision_diag[k]
    return out


class VectorisedKernel(Kernel):
    """NumPy chunks without a compiler: the products above, serial."""

    name = "numpy"

    def weighted_log_prob(self, X, eparams):
        precision = eparams.precision_diag  # computed once per pass, not per chunk
        if precision is not None and X.dtype == np.float64:
            # float64: means_residual is zero, means are the exact means.
            sq = sq_distances_diagonal(X, eparams.means, precision)
        else:
            sq = sq_distances_by_component(
                X, eparams.means, eparams.means_residual, eparams.prec_chol,
                precision is None, precision,
            )
        return -0.5 * sq + eparams.log_norm

    def accumulate(self, X, resp, sample_weight, kind):
        return SuffStats(*accumulate_numpy(X, resp, sample_weight, kind))


KERNEL = VectorisedKernel()
