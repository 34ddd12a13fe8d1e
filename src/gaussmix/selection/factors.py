r"""The triangular factors of mclust's near-singularity test, compiled: every component in one call.

``selection.singular`` tests each cell of a selection twice (its start and
its fit) on the diagonal of a triangular factor per component: a Cholesky
factor of the covariance, and for three models the ``R`` of a QR
decomposition of the component's weighted rows. On the 100-1000 rows of
the usual data sets NumPy spent 35 us (Cholesky) and 200 us (a stacked
QR) a call in its array calls around a few microseconds of arithmetic.

Both write, per component, mclust's value

.. math::

    \frac{\min_j |U_{jj}|}{1 + \max_j |U_{jj}|},

0 where the factor does not exist (a covariance not positive definite, or
NaN).
"""

from __future__ import annotations

import numpy as np

from ..compiled import jit


@jit(inline="always")
def _rcond(lo, hi):
    """``lo / (1 + hi)``, 0 where that is NaN (infinite factors), as NumPy's path gives."""
    value = lo / (1.0 + hi)
    return value if value == value else 0.0


@jit()
def cholesky_rcond_stack(cov, out):
    """``out[k]``: the value of the lower Cholesky factor of ``cov[k]`` (K, d, d), read from its lower triangle.

    The factor is LAPACK's unblocked one (``dpotf2``): column by column,
    ``L_jj = sqrt(a_jj - sum_q L_jq^2)``. A pivot that is not positive
    (or NaN) gives 0, where NumPy raises.
    """
    K, d, _ = cov.shape
    L = np.empty((d, d))
    for k in range(K):
        lo, hi = np.inf, 0.0
        for j in range(d):
            pivot = cov[k, j, j]
            for q in range(j):
                pivot -= L[j, q] * L[j, q]
            if not pivot > 0.0:
                lo = 0.0
                break
            ljj = np.sqrt(pivot)
            L[j, j] = ljj
            lo, hi = min(lo, ljj), max(hi, ljj)
            for i in range(j + 1, d):
                t = cov[k, i, j]
                for q in range(j):
                    t -= L[i, q] * L[j, q]
                L[i, j] = t / ljj
        out[k] = _rcond(lo, hi)  # 0 after a pivot that is not positive


@jit()
def scatter_rcond_rows(X, wr, nk, out):
    """``out[k]``: the value of ``R`` of the rows ``sqrt(wr_ik / nk_k) (x_i - x̄_k)``, for each ``nk_k > 0``.

    ``R`` by Householder reflections (LAPACK's ``dgeqr2``): ``|R_jj|`` is the
    norm of what is left of column j below row j, taken as ``dnrm2`` takes
    it (scaled by its largest value, so that no square overflows). Other
    components keep their value of ``out``. Fewer rows than features give 0.
    """
    n, d = X.shape
    K = wr.shape[1]
    A = np.empty((n, d))
    mean = np.empty(d)
    for k in range(K):
        if not nk[k] > 0.0:
            continue
        if n < d:  # R is short: exactly singular
            out[k] = 0.0
            continue
        for j in range(d):
            s = 0.0
            for i in range(n):
                s += wr[i, k] * X[i, j]
            mean[j] = s / nk[k]
        for i in range(n):
            scale = np.sqrt(wr[i, k] / nk[k])
            for j in range(d):
                A[i, j] = scale * (X[i, j] - mean[j])
        lo, hi = np.inf, 0.0
        for j in range(d):
            biggest = 0.0
            for i in range(j, n):
                biggest = max(biggest, abs(A[i, j]))
            norm = 0.0
            if biggest > 0.0:
                for i in range(j, n):
                    t = A[i, j] / biggest
                    norm += t * t
                norm = biggest * np.sqrt(norm)
            lo, hi = min(lo, norm), max(hi, norm)
            if norm == 0.0 or not norm < np.inf:
                continue  # nothing to reflect (or nothing finite)
            # v = a - alpha e_1, alpha = -sign(a_jj) ||a||: no cancellation in v_1.
            alpha = -norm if A[j, j] > 0.0 else norm
            A[j, j] -= alpha
            vv = 0.0
            for i in range(j, n):
                vv += A[i, j] * A[i, j]
            for c in range(j + 1, d):
                dot = 0.0
                for i in range(j, n):
                    dot += A[i, j] * A[i, c]
                f = 2.0 * dot / vv
                for i in range(j, n):
                    A[i, c] -= f * A[i, j]
        out[k] = _rcond(lo, hi)
