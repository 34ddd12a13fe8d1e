"""What the compiled kernels prepare from one pass's parameters, once per pass.

A :class:`Plan` holds the float64 host arrays the Numba kernels read: the
exact means, the log-normalisers, the pass's centre, the precision factors
(or diagonals) and, for a shared factor, the whitened offsets of the means
from the centre. ``engine.passes`` asks the kernel to prepare it before the
chunks of a pass share it across threads.
"""

from __future__ import annotations

import numpy as np

#: The row kernel's shared whitening (in float64) is trusted while
#: ``eps * |b_k|^2`` stays below this, for components within 6700 standard
#: deviations of the mixture's mean; further ones are whitened on their own.
#: Rounding ``y`` and ``b_k`` costs about ``2 eps |x - c| ||U|| |y - b_k|``
#: in a squared distance: ``2 eps |b_k| |y - b_k|`` for a well-conditioned
#: factor (at 1e8 standard deviations, 3e-8 measured), up to cond(U) times
#: more for a nearly singular covariance, as on the GEMM route.
ROW_SHARED_CANCEL_LIMIT = 1e-8

_EPS = float(np.finfo(np.float64).eps)

#: The E-step geometries of the row kernel (``Plan.geometry``), and each
#: precision structure's.
DIAGONAL, FACTORS, SHARED, ISOTROPIC = 0, 1, 2, 3
GEOMETRY_OF = {"diag": DIAGONAL, "spherical": ISOTROPIC, "full": FACTORS, "shared": SHARED}


class Plan:
    """What the kernels need from one pass's parameters (built once per pass).

    ``structure`` names the precision structure (a key of
    ``structures.STRUCTURES``). The arrays are float64 on the host:
    ``means`` (K, d) the exact means, ``log_norm`` (K,), ``centre`` (d,) the
    mixture's mean, and either ``U`` (K, d, d) upper-triangular precision
    factors (a shared factor repeated) or ``pdiag`` (K, d) diagonal
    precisions.
    """

    def __init__(self, eparams):
        host = eparams.host
        means = np.ascontiguousarray(host.means, dtype=np.float64)
        K, d = means.shape
        self.means = means
        self.log_norm = np.asarray(host.log_norm, dtype=np.float64)
        # The centre of the shared and diagonal BLAS routes and of pooled
        # sums: fixed for the pass (the updater's, the mixture's mean).
        self.centre = np.asarray(host.centre, dtype=np.float64)
        self.structure = eparams.structure
        if eparams.precision_diag is None:  # full or shared factors
            U = np.asarray(host.prec_chol, dtype=np.float64)
            if U.shape != (K, d, d):  # a shared factor, repeated per component
                # np.repeat, not broadcast_to and a copy: 3 us less a pass.
                U = np.repeat(U.reshape(1, d, d), K, axis=0)
            self.U = np.ascontiguousarray(U)
            self.pdiag = np.zeros((K, d))
        else:
            self.U = np.zeros((K, 1, 1))
            self.pdiag = np.ascontiguousarray(np.asarray(eparams.precision_diag_host, dtype=np.float64))
        self._U_as = {}
        if self.structure == "shared":
            # The row kernel whitens once about the centre; see the row kernel.
            self.b = (means - self.centre) @ self.U[0]
            self.direct = _EPS * (self.b * self.b).sum(axis=1) > ROW_SHARED_CANCEL_LIMIT
        else:
            self.b = np.zeros((K, d))
            self.direct = np.ones(K, dtype=bool)
        #: What ``the row kernel`` reads: means, U, pdiag, log_norm, kind, centre, b, direct.
        self.geometry = (self.means, self.U, self.pdiag, self.log_norm, GEOMETRY_OF[self.structure],
                         self.centre, self.b, self.direct)

    def U_as(self, dtype):
        """The factors ``U`` (K, d, d) in ``dtype``."""
        key = np.dtype(dtype)
        if key not in self._U_as:
            self._U_as[key] = np.ascontiguousarray(self.U, dtype=dtype)
        return self._U_as[key]


def plan_of(eparams):
    """The cached :class:`Plan` of ``eparams``."""
    if eparams.plan is None:
        eparams.plan = Plan(eparams)
    return eparams.plan
