r"""NumPy kernels that beat the array-API reference path, behind its signatures.

The reference functions (``_estep.weighted_log_prob``, ``_stats.accumulate``)
stay the definition; tests compare these kernels against them on random
inputs and edge shapes. A kernel is used only where it is both faster and
as accurate:

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


def accumulate_numpy(X, resp, sample_weight, kind):
    """``_stats.accumulate`` for NumPy arrays; returns (nk, means, scatter) in float64."""
    X64 = np.asarray(X, dtype=np.float64)
    wr = np.asarray(resp, dtype=np.float64)
    if sample_weight is not None:
        wr = wr * np.asarray(sample_weight, dtype=np.float64)[:, None]
    centre = X64.mean(axis=0)
    z = X64 - centre
    nk = wr.sum(axis=0)
    safe = np.where(nk > 0, nk, 1.0)
    a = wr.T @ z  # (K, d)
    mean_z = a / safe[:, None]
    if kind == "full":
        scatter = np.empty((wr.shape[1], z.shape[1], z.shape[1]))
        for k in range(wr.shape[1]):  # one (d, n) x (n, d) product per component
            scatter[k] = (z * wr[:, k, None]).T @ z
        raw = np.trace(scatter, axis1=1, axis2=2)
        scatter -= mean_z[:, :, None] * a[:, None, :]
        # Exactly symmetric, as the centred products are.
        scatter = 0.5 * (scatter + np.swapaxes(scatter, 1, 2))
        spread = np.trace(scatter, axis1=1, axis2=2)
    else:
        raw_d = wr.T @ (z * z)
        scatter = raw_d - mean_z * a
        # What is left below the rounding of the raw moment is zero: a
        # component on identical rows must show a variance of exactly 0.
        scatter[scatter <= 64 * np.finfo(np.float64).eps * raw_d] = 0.0
        raw, spread = raw_d.sum(axis=1), scatter.sum(axis=1)
    # Where a narrow component sits far from the chunk's mean, the one-pass
    # moments lost more than half their digits: redo those components with
    # the exact two-pass form (centred on their own mean).
    lossy = np.flatnonzero(raw > 1e8 * np.maximum(spread, np.finfo(np.float64).tiny))
    for k in lossy:
        # The mean straight from the rows, as the reference forms it, so that
        # identical rows give exactly zero.
        diff = X64 - (wr[:, k] @ X64) / safe[k]
        weighted = diff * wr[:, k, None]
        scatter[k] = weighted.T @ diff if kind == "full" else np.sum(weighted * diff, axis=0)
    return nk, mean_z + centre, scatter


def sq_distances_diagonal(X, means, precision_diag):
    """Squared Mahalanobis distances (n, K) for diagonal precisions, float64."""
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
