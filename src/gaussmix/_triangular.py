r"""Full covariances on the BLAS route: one component at a time, triangular products.

Where d is too large for the row kernel of ``_fast``, each component ``k`` of
a chunk, with mean ``mu_k`` and upper-triangular precision factor ``U_k``
(``Sigma_k^{-1} = U_k U_k^T``), costs one pass over an (n, d) block and one
level-3 BLAS call for each half of the iteration. The E-step:

.. math::

    z_{ik} = x_i - \mu_k, \qquad
    y_{ik} = z_{ik} U_k \;\;(\text{TRMM}), \qquad
    \log \pi_k \mathcal N(x_i \mid \mu_k, \Sigma_k) = \ell_k - \tfrac12 \lVert y_{ik} \rVert^2 ,

with ``l_k = log pi_k + log det U_k - d/2 log 2 pi``; then, with ``w_i r_ik``
from the log-sum-exp over components, the statistics:

.. math::

    n_k = \sum_i w_i r_{ik}, \qquad
    a_k = \sum_i w_i r_{ik} z_{ik}, \qquad
    R_k = V_k^T V_k,\;\; V_k = \big[\sqrt{w_i r_{ik}}\, z_{ik}\big]_i \;\;(\text{SYRK}),

    \bar x_k = \mu_k + a_k / n_k, \qquad S_k = R_k - a_k a_k^T / n_k .

TRMM skips the zero triangle of ``U_k`` and SYRK forms one triangle of the
symmetric ``R_k``, so each does half the arithmetic of the general product it
replaces (the stacked GEMMs this route used before, and scikit-learn's).
Centring on each component's own mean, rather than once on the mixture's,
costs a pass over the block per component (a few percent of the products at
d=64) and buys accuracy: the whitening cancels nothing, so float32 needs no
exact fallback for a component far from the others, and the moments cancel
only by ``eps (|xbar_k - mu_k| / sigma_k)^2``, nothing once EM has settled.

``z`` is formed in float64 and rounded once to the chunk's dtype; the
products run in that dtype (float32 at twice the float64 rate, with each
chunk's sums then added in float64).
"""

from __future__ import annotations

import ctypes

import numpy as np

from ._numba import AVAILABLE, jit


def _fortran_blas(name):
    """SciPy's BLAS routine ``name`` as a ctypes function of 11 pointers.

    Compiled code calls it without the GIL, which SciPy's Python wrappers of
    TRMM hold: through them two threads whitened no faster than one.
    """
    from numba.extending import get_cython_function_address

    address = get_cython_function_address("scipy.linalg.cython_blas", name)
    return ctypes.CFUNCTYPE(None, *([ctypes.c_void_p] * 11))(address)


if AVAILABLE:
    _DTRMM, _STRMM = _fortran_blas("dtrmm"), _fortran_blas("strmm")


@jit(inline="always")
def sq_dist(v, b):
    """``sum_j (v_j - b_j)^2`` in float64, as eight partial sums in a fixed order.

    A single running sum is one dependent add after another (4 cycles
    each); eight independent ones vectorise, and their order does not
    depend on the data's alignment, so results are reproducible.
    """
    d = v.shape[0]
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    j = 0
    while j + 8 <= d:
        t0, t1 = np.float64(v[j]) - b[j], np.float64(v[j + 1]) - b[j + 1]
        t2, t3 = np.float64(v[j + 2]) - b[j + 2], np.float64(v[j + 3]) - b[j + 3]
        t4, t5 = np.float64(v[j + 4]) - b[j + 4], np.float64(v[j + 5]) - b[j + 5]
        t6, t7 = np.float64(v[j + 6]) - b[j + 6], np.float64(v[j + 7]) - b[j + 7]
        s0 += t0 * t0
        s1 += t1 * t1
        s2 += t2 * t2
        s3 += t3 * t3
        s4 += t4 * t4
        s5 += t5 * t5
        s6 += t6 * t6
        s7 += t7 * t7
        j += 8
    while j < d:
        t0 = np.float64(v[j]) - b[j]
        s0 += t0 * t0
        j += 1
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))


@jit(cache=False)  # the BLAS addresses are fixed per process, not cacheable
def _whitened_sq(X, means, U, out, buf, flags, dims, one):
    """``out[i, k] = ||(x_i - mu_k) U_k||^2`` (float64) via TRMM in buf's dtype.

    BLAS reads ``buf`` (n, d) as the column-major ``z^T`` (d, n) and the
    C-ordered upper ``U_k`` as the column-major lower ``U_k^T``; TRMM with
    ``flags`` = "LLNN" puts ``U_k^T z^T = (z U_k)^T`` in place, so row i of
    buf is ``y_ik``. ``dims`` = (d, n, d, d): m, n, lda, ldb.
    """
    n, d = X.shape
    K = means.shape[0]
    zero = np.zeros(d)
    for k in range(K):
        for i in range(n):
            for j in range(d):
                buf[i, j] = X[i, j] - means[k, j]
        args = (flags[0:].ctypes, flags[1:].ctypes, flags[2:].ctypes, flags[3:].ctypes,
                dims[0:].ctypes, dims[1:].ctypes, one.ctypes, U[k].ctypes,
                dims[2:].ctypes, buf.ctypes, dims[3:].ctypes)
        if buf.itemsize == 8:
            _DTRMM(*args)
        else:
            _STRMM(*args)
        for i in range(n):
            out[i, k] = sq_dist(buf[i], zero)


@jit()
def _centre_weighted(X, mean, wr, out, a):
    """``out[i] = sqrt(wr_i) (x_i - mean)`` (out's dtype); ``a += sum_i wr_i (x_i - mean)`` (float64)."""
    n, d = X.shape
    for i in range(n):
        s = np.sqrt(wr[i])
        for j in range(d):
            z = X[i, j] - mean[j]
            out[i, j] = z * s
            a[j] += wr[i] * z


_FLAGS = np.frombuffer(b"LLNN", dtype=np.uint8)


def sq_distances(X, plan):
    """``||(x_i - mu_k) U_k||^2`` (n, K), float64, one TRMM per component."""
    n, d = X.shape
    out = np.empty((n, plan.means.shape[0]))
    buf = np.empty((n, d), dtype=X.dtype)
    dims = np.array([d, n, d, d], dtype=np.int32)
    _whitened_sq(X, plan.means, plan.U_as(X.dtype), out, buf, _FLAGS.copy(), dims, np.ones(1, X.dtype))
    return out


def statistics(X, wr, plan):
    """``(nk, a, R)`` about each component's mean, from ``wr = w_i r_ik`` (n, K).

    ``R`` (K, d*d) holds the raw scatters, flattened.
    """
    n, d = X.shape
    K = wr.shape[1]
    nk = wr.sum(axis=0)
    a = np.zeros((K, d))
    raw = np.empty((K, d * d))
    buf = np.empty((n, d), dtype=X.dtype)
    for k in range(K):
        # wr's column read in place: a transposed copy would be one more
        # (n, K) array in the chunk's memory budget.
        _centre_weighted(X, plan.means[k], wr[:, k], buf, a[k])
        # NumPy hands A^T A of one buffer to SYRK (faster here than SciPy's
        # own SYRK in float32, measured) and mirrors the triangle.
        raw[k] = (buf.T @ buf).reshape(-1)
    return nk, a, raw
