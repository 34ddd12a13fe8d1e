r"""The compiled BLAS routes (Numba + BLAS), for d past the row kernel's limits.

Each chunk's log-densities come from level-3 products, then one compiled
log-sum-exp over the rows gives ``w_i r_ik`` and ``log p(x_i)``
(``primitives.density_and_resp``), and the statistics follow from them.

* **A shared factor** (:class:`SharedKernel`) whitens the chunk once about
  the pass's centre ``c`` (the mixture's mean, fixed for the pass, so an
  outlying row cannot move it): ``Y = (X - c) U``, with
  ``||(x - \mu_k) U||^2 = ||y - b_k||^2`` and ``b_k = (\mu_k - c) U``.
  Float32 chunks whiten in float32; where ``b_k`` is so large that
  ``y - b_k`` would cancel more than the float32 result can carry (a
  component far from the centre), that component's distances take the
  exact per-component arithmetic.
* **Diagonal precisions** (:class:`DiagonalKernel`) use the expansion of
  ``vectorised.sq_distances_diagonal`` about the centre, in float64.

Their statistics are ``vectorised.accumulate_numpy`` about the same centre.
Full covariances take ``triangular`` (TRMM and SYRK per component).
"""

from __future__ import annotations

import numpy as np

from ..stats import SuffStats
from ...compiled import jit
from .plan import plan_of
from .primitives import density_and_resp, weights_or_ones
from .base import CompiledKernel
from .vectorised import VectorisedKernel, accumulate_numpy, sq_distances_diagonal

#: float32 whitening is trusted while ``eps * |b_k|^2`` stays below this.
F32_CANCEL_LIMIT = 2e-4

#: Rows per tile of :func:`_wlp_shared`: a tile of whitened rows (256 KiB at
#: d=128 in float64) stays in L2 while every component passes over it.
SHARED_TILE_ROWS = 256


@jit()
def _wlp_shared(Yt, b, log_norm, wlp, acc):
    """``wlp[i, k] = log_norm_k - ||y_i - b_k||^2 / 2`` from the whitened rows held feature-major.

    ``Yt`` (d, n) holds ``y_i`` in column i. Each squared distance is a sum
    over features in feature order, with the loop over a tile's rows
    innermost, so it vectorises and every row's sum has the same fixed
    order. (Summed along row-major rows, it was scalar code: at d=128,
    K=64, 12 of a chunk's 19 ms.) ``acc`` holds a tile's sums.
    """
    d, n = Yt.shape
    K = b.shape[0]
    rows = acc.shape[0]
    for t0 in range(0, n, rows):
        m = min(rows, n - t0)
        for k in range(K):
            for i in range(m):
                acc[i] = 0.0
            j = 0
            while j + 4 <= d:  # four features per pass: a quarter of the loads and stores of acc
                b0, b1, b2, b3 = b[k, j], b[k, j + 1], b[k, j + 2], b[k, j + 3]
                y0, y1 = Yt[j, t0:t0 + m], Yt[j + 1, t0:t0 + m]
                y2, y3 = Yt[j + 2, t0:t0 + m], Yt[j + 3, t0:t0 + m]
                for i in range(m):
                    t0_, t1_ = np.float64(y0[i]) - b0, np.float64(y1[i]) - b1
                    t2_, t3_ = np.float64(y2[i]) - b2, np.float64(y3[i]) - b3
                    acc[i] += (t0_ * t0_ + t1_ * t1_) + (t2_ * t2_ + t3_ * t3_)
                j += 4
            while j < d:
                bj = b[k, j]
                yj = Yt[j, t0:t0 + m]
                for i in range(m):
                    t = np.float64(yj[i]) - bj
                    acc[i] += t * t
                j += 1
            col = wlp[t0:t0 + m, k]
            for i in range(m):
                col[i] = log_norm[k] - 0.5 * acc[i]


class CompiledBlasKernel(CompiledKernel, VectorisedKernel):
    """Log-densities by products, then one compiled log-sum-exp; the statistics from ``w_i r_ik``."""

    threaded = True

    def log_prob64(self, X, plan):
        """``log_norm_k - ||(x_i - mu_k) U_k||^2 / 2`` (n, K) in float64 for a contiguous chunk."""
        raise NotImplementedError

    def prepare(self, eparams):
        return plan_of(eparams)

    def weighted_log_prob(self, X, eparams):
        X = np.ascontiguousarray(X)
        return self.log_prob64(X, plan_of(eparams)).astype(X.dtype, copy=False)

    def e_step(self, X, eparams, with_resp=True):
        X = np.ascontiguousarray(X)
        resp, log_prob, _ = density_and_resp(self.log_prob64(X, plan_of(eparams)))
        return log_prob.astype(X.dtype, copy=False), resp.astype(X.dtype, copy=False) if with_resp else None

    def statistics(self, X, sample_weight, eparams, scatter):
        plan = plan_of(eparams)
        X = np.ascontiguousarray(X)
        w = weights_or_ones(sample_weight, X.shape[0])
        weight = float(X.shape[0]) if sample_weight is None else float(w.sum())
        wr, _, loglik = density_and_resp(self.log_prob64(X, plan), w)
        return self.statistics_from(X, wr, plan, scatter), loglik, weight

    def statistics_from(self, X, wr, plan, scatter):
        """``SuffStats`` of the chunk from ``w_i r_ik``, about the pass's centre."""
        return SuffStats(*accumulate_numpy(X, wr, None, scatter, centre=plan.centre))


class SharedKernel(CompiledBlasKernel):
    """One shared precision factor past the row kernel's d: one whitening product per chunk."""

    name = "numba-shared-blas"
    structures = ("shared",)

    def log_prob64(self, X, plan):
        c = plan.centre.astype(X.dtype)
        b = (plan.means - c.astype(np.float64)) @ plan.U[0]
        # U^T (X - c)^T: the whitened rows feature-major, as _wlp_shared reads them.
        Yt = plan.U_as(X.dtype)[0].T @ (X - c).T
        wlp = np.empty((X.shape[0], plan.means.shape[0]))
        _wlp_shared(Yt, b, plan.log_norm, wlp, np.empty(max(1, min(X.shape[0], SHARED_TILE_ROWS))))
        eps = np.finfo(X.dtype).eps
        if eps > np.finfo(np.float64).eps:
            far = np.flatnonzero(eps * np.sum(b * b, axis=1) > F32_CANCEL_LIMIT)
            for k in far:  # whitened far from the centre: exact arithmetic
                mean32 = plan.means[k].astype(X.dtype)
                y = (X - mean32) - (plan.means[k] - mean32.astype(np.float64)).astype(X.dtype)
                y = y @ plan.U_as(X.dtype)[0]
                wlp[:, k] = plan.log_norm[k] - 0.5 * np.einsum("ij,ij->i", y, y, dtype=np.float64)
        return wlp


class DiagonalKernel(CompiledBlasKernel):
    """Diagonal and spherical precisions past the row kernel's d K: three products per chunk."""

    name = "numba-diagonal-blas"
    structures = ("diag", "spherical")

    def log_prob64(self, X, plan):
        X64 = np.asarray(X, dtype=np.float64)
        return plan.log_norm - 0.5 * sq_distances_diagonal(X64, plan.means, plan.pdiag, plan.centre)


SHARED = SharedKernel()
DIAGONAL = DiagonalKernel()
