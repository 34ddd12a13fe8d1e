r"""The symmetric eigen-decomposition of a small matrix, compiled: cyclic Jacobi rotations below six features.

The M-steps of EEV and VEV decompose every component's scatter, and the
start of EVE's and VVE's orientation decomposes K + 2 candidates, every
iteration (``fused``, ``sweeps``). Numba's ``np.linalg.eigh`` calls
LAPACK's ``dsyevd``: a copy to Fortran order, a workspace query and its
allocation, then the call. On a 3 x 3 matrix that took 2.4 us, four times
the arithmetic of the rotations below (0.6 us); those M-steps spent most of
their time there (EEV at K=5 on 145 rows: 17 us an M-step, against 1.8 for
VVV). At six features the two cost the same, and above it LAPACK's
reduction to a tridiagonal matrix wins: there, and for a matrix that is not
finite, :func:`symmetric_eigen` is ``np.linalg.eigh``.

The rotations are the cyclic Jacobi method (Golub and Van Loan, *Matrix
Computations*, 4th ed., algorithm 8.5.3): each sweep zeroes every
off-diagonal pair ``(p, q)`` in turn with the rotation whose tangent
``t`` solves :math:`t^2 + 2 \tau t - 1 = 0`, the root of smaller size,

.. math::

    \tau = \frac{a_{qq} - a_{pp}}{2 a_{pq}}, \qquad
    t = \frac{\operatorname{sign} \tau}{|\tau| + \sqrt{1 + \tau^2}}, \qquad
    c = \frac{1}{\sqrt{1 + t^2}}, \quad s = t c,

each applied to the entries it changes in Rutishauser's form (the pivots
``a_pp - t a_pq`` and ``a_qq + t a_pq``). A pair is left alone once
``|a_pq| <= eps / 2 sqrt(|a_pp a_qq|)``, and the sweeps stop when none is
turned: the test against the pair's own pivots, not the whole matrix, keeps
small eigenvalues accurate to a few ``eps`` of themselves on graded
matrices (Demmel and Veselic, 1992). Convergence is quadratic: three to
five sweeps at d = 3.
The eigenvalues agree with LAPACK's to a few ``eps`` of the largest
(LAPACK's own error bound), and come out in LAPACK's ascending order, so
that callers that pair eigenvalues across components by rank (EEV, VEV)
see the same pairing. The eigenvectors' signs may differ from LAPACK's;
every caller uses them in ``L diag(s) L^T`` or as an orientation whose
profile does not depend on the columns' signs.
"""

from __future__ import annotations

import math

import numpy as np

from .. import compiled
from ..compiled import jit

#: The most features decomposed by rotations; LAPACK above (see the module docstring).
JACOBI_MAX_FEATURES = 5

#: Sweeps before the rotations give up for LAPACK (they settle in a handful).
MAX_SWEEPS = 30

_EPS = float(np.finfo(np.float64).eps)
_QUARTER_EPS_SQUARED = 0.25 * _EPS * _EPS


@jit()
def jacobi_eigen(A, values, vectors):
    """Cyclic Jacobi rotations of the symmetric ``A`` (read only): ``A = V diag(w) V^T`` into ``values``, ``vectors``.

    Reads ``A``'s lower triangle, as ``np.linalg.eigh`` does (a matrix
    made symmetric may differ from its transpose in the last bit). The
    eigenvalues ascend. Returns False, with the outputs undefined, where
    ``A`` is not finite or :data:`MAX_SWEEPS` sweeps did not settle it.
    """
    d = A.shape[0]
    a = np.empty((d, d))
    largest = 0.0
    for i in range(d):
        for j in range(d):
            v = A[i, j] if i >= j else A[j, i]
            if not (abs(v) < math.inf):
                return False
            a[i, j] = v
            largest = max(largest, abs(v))
            vectors[i, j] = 1.0 if i == j else 0.0
    # Scaled by a power of two (exact) to a largest entry in [0.5, 1): the
    # products below neither underflow nor overflow.
    exponent = math.frexp(largest)[1] if largest > 0.0 else 0
    for i in range(d):
        for j in range(d):
            a[i, j] = math.ldexp(a[i, j], -exponent)
    done = False
    for _ in range(MAX_SWEEPS):
        turned = False
        for p in range(d - 1):
            for q in range(p + 1, d):
                apq = a[p, q]
                # Negligible against its own pivots, not the whole matrix:
                # so small eigenvalues keep their relative accuracy.
                if apq * apq <= _QUARTER_EPS_SQUARED * abs(a[p, p] * a[q, q]):
                    continue
                turned = True
                tau = (a[q, q] - a[p, p]) / (2.0 * apq)
                # 1 / (|tau| + sqrt(1 + tau^2)), without overflow for large |tau|.
                t = 1.0 / (abs(tau) + math.hypot(1.0, tau))
                if tau < 0.0:
                    t = -t
                c = 1.0 / math.sqrt(1.0 + t * t)
                s = t * c
                h = s / (1.0 + c)
                # A <- J^T A J with J the rotation in the (p, q) plane, on
                # the entries it changes: the pivot by t (the quadratic's
                # root), then rows and columns p and q as c x - s y = x - s (y + h x)
                # with h = s / (1 + c), which loses less to rounding; V <- V J.
                a[p, p] -= t * apq
                a[q, q] += t * apq
                a[p, q] = a[q, p] = 0.0
                for m in range(d):
                    if m != p and m != q:
                        amp, amq = a[m, p], a[m, q]
                        a[m, p] = a[p, m] = amp - s * (amq + h * amp)
                        a[m, q] = a[q, m] = amq + s * (amp - h * amq)
                for m in range(d):
                    vmp, vmq = vectors[m, p], vectors[m, q]
                    vectors[m, p] = vmp - s * (vmq + h * vmp)
                    vectors[m, q] = vmq + s * (vmp - h * vmq)
        if not turned:
            done = True
            break
    if not done:
        return False
    for i in range(d):
        values[i] = math.ldexp(a[i, i], exponent)
    # Ascending, as LAPACK gives them, the vectors along (an insertion sort of d values).
    for i in range(1, d):
        j = i
        while j > 0 and values[j - 1] > values[j]:
            values[j - 1], values[j] = values[j], values[j - 1]
            for m in range(d):
                vectors[m, j - 1], vectors[m, j] = vectors[m, j], vectors[m, j - 1]
            j -= 1
    return True


@jit()
def symmetric_eigen(A):
    """``np.linalg.eigh(A)`` for a symmetric ``A``: ``(values, vectors)``, the values ascending.

    By :func:`jacobi_eigen` up to :data:`JACOBI_MAX_FEATURES` features,
    else (or where it fails) by LAPACK, which under Numba raises
    ``LinAlgError`` on a matrix that is not finite.
    """
    d = A.shape[0]
    if d <= JACOBI_MAX_FEATURES:
        # In Fortran order, as LAPACK's: one array type from either branch
        # (Numba would otherwise type both as of any layout).
        values, vectors = np.empty(d), np.empty((d, d)).T
        if jacobi_eigen(A, values, vectors):
            return values, vectors
    return np.linalg.eigh(A)


@jit()
def _each_symmetric_eigen(S):
    K, d = S.shape[0], S.shape[1]
    values, vectors = np.empty((K, d)), np.empty((K, d, d))
    for k in range(K):
        w, v = symmetric_eigen(np.ascontiguousarray(S[k]))
        values[k] = w
        vectors[k] = v
    return values, vectors


@jit()
def symmetric_extremes(S, low, high):
    """The least and the largest eigenvalue of each symmetric ``S[k]`` (K, d, d) into ``low`` and ``high``.

    By :func:`jacobi_eigen`, so up to :data:`JACOBI_MAX_FEATURES` features
    and on finite matrices; False otherwise (the outputs then undefined),
    for LAPACK's ``eigvalsh``. For ``Structure.collapsed``, which runs once a
    fit (the last update's, for its warning): ``eigvalsh`` on a small stack
    and its call took 45 us a cell of ``select`` on 145 rows, in place.
    """
    K, d = S.shape[0], S.shape[1]
    if d == 0 or d > JACOBI_MAX_FEATURES:
        return False
    values, vectors = np.empty(d), np.empty((d, d)).T  # the layouts symmetric_eigen passes
    for k in range(K):
        if not jacobi_eigen(np.ascontiguousarray(S[k]), values, vectors):
            return False
        low[k], high[k] = values[0], values[d - 1]
    return True


def extreme_eigenvalues(S):
    """``(least, largest)`` eigenvalues of each symmetric ``S[k]`` (K, d, d): Jacobi's where it can, else ``eigvalsh``'s.

    :func:`symmetric_extremes` (compiled) up to :data:`JACOBI_MAX_FEATURES`
    features on finite matrices, LAPACK's otherwise. For the collapse test
    (``Structure.collapsed``) and a start's precisions (``starts``).
    """
    S = np.ascontiguousarray(S, dtype=np.float64)
    if compiled.AVAILABLE:
        low, high = np.empty(len(S)), np.empty(len(S))
        if symmetric_extremes(S, low, high):
            return low, high
    values = np.linalg.eigvalsh(S)
    return values[:, 0], values[:, -1]


@jit(fastmath=False)  # no fused multiply-add: the verdicts of the NumPy formula, bit for bit
def nearly_symmetric(S, rtol, atol):
    """Whether every ``S[k]`` (K, d, d) is symmetric to ``np.allclose``'s test: ``|a - a.T| <= atol + rtol |a.T|``.

    For finite values: the test of a start's precision matrices
    (``starts.check_precisions_init``), six NumPy calls otherwise.
    """
    K, d = S.shape[0], S.shape[1]
    for k in range(K):
        for i in range(d):
            for j in range(d):
                if not abs(S[k, i, j] - S[k, j, i]) <= atol + rtol * abs(S[k, j, i]):
                    return False
    return True


def stacked_symmetric_eigen(S):
    """``np.linalg.eigh`` of a stack ``S`` (K, d, d), by :func:`symmetric_eigen` where the compiled M-steps use it.

    The Python M-steps of EEV and VEV decompose as the compiled ones
    (``fused``) do, so that the two paths agree to rounding: where two
    eigenvalues of a component's scatter nearly tie, its eigenvectors are
    ill-conditioned, and two algorithms' answers differ far beyond it (EEV
    on 12 rows: log-likelihoods 2e-5 apart after one iteration). Without
    Numba, or with values that are not finite, it is NumPy's ``eigh``.
    """
    S = np.asarray(S, dtype=np.float64)
    if not compiled.AVAILABLE or S.shape[-1] > JACOBI_MAX_FEATURES or not np.isfinite(S).all():
        return np.linalg.eigh(S)
    return _each_symmetric_eigen(np.ascontiguousarray(S))


__all__ = ["JACOBI_MAX_FEATURES", "MAX_SWEEPS", "jacobi_eigen", "stacked_symmetric_eigen", "symmetric_eigen",
           "symmetric_extremes", "nearly_symmetric", "extreme_eigenvalues"]
