r"""Full covariances on the BLAS route: one component at a time, triangular products.

Where d is too large for the row kernel (``rows``), each component ``k`` of
a chunk, with mean ``mu_k`` and upper-triangular precision factor ``U_k``
(``Sigma_k^{-1} = U_k U_k^T``), costs a pass over the rows and a level-3
BLAS call for each half of the iteration (the E-step's on tiles of
:data:`TILE_ROWS` rows that stay in cache). The E-step:

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

from .blas import CompiledBlasKernel
from ...compiled import jit, on_load
from .vectorised import finish_statistics


def _fortran_blas(name):
    """SciPy's BLAS routine ``name`` as a ctypes function of 11 pointers.

    Compiled code calls it without the GIL, which SciPy's Python wrappers of
    TRMM hold: through them two threads whitened no faster than one.
    """
    from numba.extending import get_cython_function_address

    address = get_cython_function_address("scipy.linalg.cython_blas", name)
    return ctypes.CFUNCTYPE(None, *([ctypes.c_void_p] * 11))(address)


_DTRMM = _STRMM = None


@on_load
def _blas_addresses():
    """SciPy's TRMM routines, read when Numba loads (it finds their addresses)."""
    global _DTRMM, _STRMM
    _DTRMM, _STRMM = _fortran_blas("dtrmm"), _fortran_blas("strmm")


#: Rows per tile of :func:`_whitened_sq`: the tile's ``x^T`` and ``z^T``
#: (512 KiB at d=64 in float64) stay in the L2 cache while every component
#: passes over them. 256, 512 and 1024 timed alike; a whole 5000-row chunk
#: at once was 1.27x slower (float64, d=64, K=16, one thread).
TILE_ROWS = 512


@jit(inline="always")
def transpose_rows(X, t0, m, xt):
    """``xt[j * m + i] = X[t0 + i, j]`` for ``i < m``: rows ``t0:t0+m`` of X, feature-major.

    Eight rows at a time, so that the writes of one feature are contiguous.
    """
    d = X.shape[1]
    i0 = 0
    while i0 + 8 <= m:
        for j in range(d):
            for l in range(8):
                xt[j * m + i0 + l] = X[t0 + i0 + l, j]
        i0 += 8
    for i in range(i0, m):
        for j in range(d):
            xt[j * m + i] = X[t0 + i, j]


@jit()
def _whitened_sq(trmm, X, means, U, out, xt, zt, acc, flags, one):
    """``out[i, k] = ||(x_i - mu_k) U_k||^2`` (float64) via ``trmm``, BLAS's TRMM in zt's dtype.

    ``trmm`` is an argument, not a global, so that Numba reads its address
    when called, not when compiling: the compiled function is then cached
    (with the address built in, every process compiled it again, 0.83 s on
    a first fit at d=20).

    A tile of ``m`` rows is held feature-major: ``zt`` is the column-major
    (m, d) matrix ``z`` with ``ld = m``. The C-ordered upper ``U_k`` reads as
    the column-major lower ``U_k^T``, so TRMM with ``flags`` = "RLTN"
    (``B := B op(A)``, ``op(A) = (U_k^T)^T``) puts ``z U_k`` in place. Each
    row's squared norm is then a sum over features in feature order: the
    loop over the tile's rows is innermost and vectorises, and every row's
    sum has the same fixed order. (Row-major ``z``, whitened by the left-side
    TRMM, needs a sum along each row: scalar code, 20% of the time at d=64.)
    """
    n, d = X.shape
    K = means.shape[0]
    rows = acc.shape[0]
    dims = np.empty(4, np.int32)  # m, n, lda, ldb of the BLAS call
    for t0 in range(0, n, rows):
        m = min(rows, n - t0)
        dims[0], dims[1], dims[2], dims[3] = m, d, d, m
        transpose_rows(X, t0, m, xt)
        for k in range(K):
            for j in range(d):
                mu = means[k, j]
                xj = xt[j * m:(j + 1) * m]
                zj = zt[j * m:(j + 1) * m]
                for i in range(m):
                    zj[i] = xj[i] - mu  # in float64, rounded once to zt's dtype
            args = (flags[0:].ctypes, flags[1:].ctypes, flags[2:].ctypes, flags[3:].ctypes,
                    dims[0:].ctypes, dims[1:].ctypes, one.ctypes, U[k].ctypes,
                    dims[2:].ctypes, zt.ctypes, dims[3:].ctypes)
            trmm(*args)
            for i in range(m):
                acc[i] = 0.0
            for j in range(d):
                yj = zt[j * m:(j + 1) * m]
                for i in range(m):
                    v = np.float64(yj[i])
                    acc[i] += v * v
            col = out[t0:t0 + m, k]
            for i in range(m):
                col[i] = acc[i]


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


_FLAGS = np.frombuffer(b"RLTN", dtype=np.uint8)


def sq_distances(X, plan):
    """``||(x_i - mu_k) U_k||^2`` (n, K), float64, one TRMM per component and tile."""
    n, d = X.shape
    out = np.empty((n, plan.means.shape[0]))
    rows = max(1, min(n, TILE_ROWS))
    xt = np.empty(rows * d, dtype=X.dtype)
    zt = np.empty(rows * d, dtype=X.dtype)
    trmm = _DTRMM if X.dtype == np.float64 else _STRMM
    _whitened_sq(trmm, X, plan.means, plan.U_as(X.dtype), out, xt, zt, np.empty(rows), _FLAGS.copy(),
                 np.ones(1, X.dtype))
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


class TriangularKernel(CompiledBlasKernel):
    """Full covariances past the row kernel's d: TRMM and SYRK per component."""

    name = "numba-triangular"
    structures = ("full",)

    def bytes_per_row(self, n_components, n_features, itemsize):
        # One component at a time: two (n, K) float64 arrays and one (n, d)
        # buffer in the chunk's dtype.
        return 8 * 2 * n_components + itemsize * n_features

    def log_prob64(self, X, plan):
        wlp = sq_distances(X, plan)
        wlp *= -0.5  # in place: the route's budget counts two (n, K) arrays
        wlp += plan.log_norm
        return wlp

    def statistics_from(self, X, wr, plan, scatter):
        if scatter != "full":
            return super().statistics_from(X, wr, plan, scatter)
        nk, a, raw = statistics(X, wr, plan)
        return finish_statistics(nk, a, raw, plan.means, X, scatter, lambda: wr)


KERNEL = TriangularKernel()
