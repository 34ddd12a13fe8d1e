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
  is bounded by ``eps (|mu_k - c| / sigma_k)^2`` — 1e-12 for a component a
  hundred standard deviations from the chunk's mean.
* the diagonal and spherical E-step in float64: with ``p_k`` the precision
  diagonal and ``z = x - c``,

  .. math::

      \lVert (x - \mu_k) \circ \sqrt{p_k} \rVert^2
      = (z \circ z)\, p_k - 2\, z\, (p_k \circ m_k) + \textstyle\sum_j p_{kj} m_{kj}^2,
      \quad m_k = \mu_k - c ,

  three small matrix products. float32 data keep the exact reference path,
  where that expansion would cost digits.
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
        scatter -= mean_z[:, :, None] * a[:, None, :]
        # Exactly symmetric, as the centred products are.
        scatter = 0.5 * (scatter + np.swapaxes(scatter, 1, 2))
    else:
        raw = wr.T @ (z * z)
        scatter = raw - mean_z * a
        # What is left below the rounding of the raw moment is zero: a
        # component on identical rows must show a variance of exactly 0.
        scatter[scatter <= 64 * np.finfo(np.float64).eps * raw] = 0.0
    return nk, mean_z + centre, scatter


def sq_distances_diagonal(X, means, precision_diag):
    """Squared Mahalanobis distances (n, K) for diagonal precisions, float64."""
    centre = X.mean(axis=0)
    z = X - centre
    m = means - centre
    pm = precision_diag * m
    sq = (z * z) @ precision_diag.T - 2.0 * (z @ pm.T) + np.sum(pm * m, axis=1)
    return np.maximum(sq, 0.0)
