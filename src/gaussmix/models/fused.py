r"""The M-steps of the 14 models compiled, for stretches of ordinary iterations (``engine.stretch``).

:func:`m_step_closed_form`, :func:`m_step_eigen` and
:func:`m_step_orientation` compute, from a fit's float64 statistics, what each
model's ``covariance_m_step`` (``models.diagonal``, ``spherical``,
``ellipsoidal``) and ``updaters.ml`` compute, in the same order of
operations where it matters, with ``d_k = n_k + 10 eps`` the denominators,
``D = sum_k d_k``, and ``reg_covar`` times each denominator added to each
scatter's diagonal first (``models.base.regularise``); for example

.. math::

    \text{VVV: } \Sigma_k = \frac{W_k + r d_k I}{d_k}, \qquad
    \text{EEE: } \Sigma = \frac{\sum_k W_k + r D I}{D}, \qquad
    \text{VII: } \lambda_k = \frac{\operatorname{tr} W_k + d\, r d_k}{d\, d_k}.

The iterative models call the same compiled inner loops as their Python
M-steps (``inner``, ``sweeps``), from the previous covariances, with every
component active. Where a Python M-step would raise or warn (a scatter
that is not positive, an inner loop that does not settle), this returns
False, and the stretch hands the iteration back to the general path, which
raises or warns. Tests hold both to the same fits (``tests/test_stretch.py``).
"""

from __future__ import annotations

import math

import numpy as np

from ..compiled import jit
from ..structures import upper_inverse_factors
from .eigen import symmetric_eigen
from .inner import alternate_volumes_and_common_matrix, alternate_volumes_and_shape
from .iterative import CREEP_SWEEPS, INNER_MAX_ITER, INNER_TOL, PAIR_ANGLES, PAIR_REFINEMENTS, PAIR_ZOOM
from .sweeps import ROOT_SUM, WEIGHTED_LOG, best_start, orientation_descent

#: The M-steps compiled here, one code each.
(M_VVV, M_EEE, M_VVI, M_EEI, M_VII, M_EII, M_EVI, M_VEI, M_EEV, M_EVV, M_VEE, M_EVE, M_VVE,
 M_VEV) = range(14)

#: The families of :func:`m_step_closed_form`, :func:`m_step_eigen` and
#: :func:`m_step_orientation`.
CLOSED_FORM, EIGEN, ORIENTATION = range(3)

#: mclust's code of each model the stretch takes: its M-step's family and code.
M_STEPS = {"VVV": (CLOSED_FORM, M_VVV), "EEE": (CLOSED_FORM, M_EEE), "VVI": (CLOSED_FORM, M_VVI),
           "EEI": (CLOSED_FORM, M_EEI), "VII": (CLOSED_FORM, M_VII), "EII": (CLOSED_FORM, M_EII),
           "E": (CLOSED_FORM, M_EII), "V": (CLOSED_FORM, M_VII), "EVI": (CLOSED_FORM, M_EVI),
           "VEI": (EIGEN, M_VEI), "EEV": (EIGEN, M_EEV), "EVV": (EIGEN, M_EVV), "VEE": (EIGEN, M_VEE),
           "VEV": (EIGEN, M_VEV), "EVE": (ORIENTATION, M_EVE), "VVE": (ORIENTATION, M_VVE)}

#: scikit-learn's 10 eps (``models.base.per_component_denominator``).
_TEN_EPS = 10.0 * float(np.finfo(np.float64).eps)


@jit()
def _regularise(scatter, denom, total, reg_covar, pooled):
    """``models.base.regularise``: ``reg_covar`` times each denominator added to each scatter's diagonal (a copy)."""
    S = scatter.copy()
    if reg_covar != 0:
        diagonal = S.shape[2] == 1  # variances (K, d, 1); at d = 1 both layouts agree
        for g in range(S.shape[0]):
            extra = reg_covar * (total if pooled else denom[g])
            for j in range(S.shape[1]):
                if diagonal:
                    S[g, j, 0] += extra
                else:
                    S[g, j, j] += extra
    return S


@jit()
def _own(S, denom, total, cov):
    """VVV and VVI: each component its own ``W_k / d_k`` (a matrix, or its diagonal)."""
    for k in range(cov.shape[0]):
        cov[k] = S[k] / denom[k]
    return True


@jit()
def _eee(S, denom, total, cov):
    for k in range(cov.shape[0]):
        cov[k] = S[0] / total
    return True


@jit()
def _eei(S, denom, total, cov):
    K, d = cov.shape[0], cov.shape[1]
    for j in range(d):
        s = 0.0
        for k in range(K):
            s += S[k, j, 0]
        for k in range(K):
            cov[k, j, 0] = s / total
    return True


@jit()
def _vii_eii(S, denom, total, cov, equal):
    K, d = cov.shape[0], cov.shape[1]
    grand = 0.0
    for k in range(K):
        s = 0.0
        for j in range(d):
            s += S[k, j, 0]
        grand += s
        for j in range(d):
            cov[k, j, 0] = s / (d * denom[k])
    if equal:
        for k in range(K):
            for j in range(d):
                cov[k, j, 0] = grand / (d * total)
    return True


@jit()
def _evi(S, denom, total, cov):
    K, d = cov.shape[0], cov.shape[1]
    root_det = np.empty(K)
    volume = 0.0
    for k in range(K):
        s = 0.0
        for j in range(d):
            s += np.log(S[k, j, 0])
        root_det[k] = np.exp(s / d)
        if not root_det[k] > 0.0:
            return False
        volume += root_det[k]
    volume /= total
    for k in range(K):
        for j in range(d):
            cov[k, j, 0] = volume * (S[k, j, 0] / root_det[k])
    return True


@jit()
def _vei(S, denom, total, cov, previous):
    K, d = cov.shape[0], cov.shape[1]
    volume = np.empty(K)
    for k in range(K):
        s = 0.0
        for j in range(d):
            s += np.log(previous[k, j, 0])
        volume[k] = np.exp(s / d)
    values = np.ascontiguousarray(S[:, :, 0])
    shape, status, _ = alternate_volumes_and_shape(values, denom, np.ones(K, dtype=np.bool_), volume,
                                                   INNER_TOL, INNER_MAX_ITER, np.empty(0))
    for k in range(K):
        for j in range(d):
            cov[k, j, 0] = volume[k] * shape[j]
    return status == 0


@jit()
def _previous_volumes(previous):
    """``|Sigma_k|^(1/d)`` of the previous covariances, from their log-determinants."""
    K, d = previous.shape[0], previous.shape[1]
    volume = np.empty(K)
    for k in range(K):
        volume[k] = np.exp(np.linalg.slogdet(previous[k])[1] / d)
    return volume


@jit()
def _eigen_rotate(L, values, cov, k):
    """``cov_k = L diag(values) L^T``."""
    d = L.shape[0]
    for i in range(d):
        for m in range(d):
            s = 0.0
            for j in range(d):
                s += L[i, j] * values[j] * L[m, j]
            cov[k, i, m] = s


@jit()
def _eev_vev(S, denom, total, cov, previous, variable):
    K, d = cov.shape[0], cov.shape[1]
    omega = np.empty((K, d))
    L = np.empty((K, d, d))
    for k in range(K):
        w, v = symmetric_eigen(S[k])  # ascending, the same order for every k
        omega[k] = w
        L[k] = v
    if variable:  # VEV: variable volumes, one shape
        volume = _previous_volumes(previous)
        shape, status, _ = alternate_volumes_and_shape(omega, denom, np.ones(K, dtype=np.bool_), volume,
                                                       INNER_TOL, INNER_MAX_ITER, np.empty(0))
        for k in range(K):
            _eigen_rotate(L[k], volume[k] * shape, cov, k)
        return status == 0
    volume_shape = np.zeros(d)
    for k in range(K):
        volume_shape += omega[k]
    volume_shape /= total
    for k in range(K):
        _eigen_rotate(L[k], volume_shape, cov, k)
    return True


@jit()
def _evv(S, denom, total, cov):
    K, d = cov.shape[0], cov.shape[1]
    root_det = np.empty(K)
    volume = 0.0
    for k in range(K):
        sign, logdet = np.linalg.slogdet(S[k])
        if not sign > 0:
            return False
        root_det[k] = np.exp(logdet / d)
        volume += root_det[k]
    volume /= total
    for k in range(K):
        cov[k] = volume * (S[k] / root_det[k])
    return True


@jit()
def _vee(S, nk, denom, cov, previous):
    K = cov.shape[0]
    volume = _previous_volumes(previous)
    C, status, _ = alternate_volumes_and_common_matrix(S, nk, denom, np.ones(K, dtype=np.bool_), volume,
                                                       INNER_TOL, INNER_MAX_ITER, np.empty(0))
    for k in range(K):
        cov[k] = volume[k] * C
    return status == 0


@jit()
def _common_orientation(S, nk, denom, total, cov, previous, kind):
    """EVE (``ROOT_SUM``) and VVE (``WEIGHTED_LOG``): ``iterative.common_orientation`` with every component active."""
    K, d = cov.shape[0], cov.shape[1]
    for k in range(K):
        for i in range(d):
            for j in range(d):
                if not np.isfinite(S[k, i, j]):
                    return False
    weight = denom.copy() if kind == WEIGHTED_LOG else np.ones(K)
    D = best_start(S, np.ascontiguousarray(previous[0]), kind, weight)
    result, status, _ = orientation_descent(D, S, S, kind, nk, denom, np.ones(K, dtype=np.bool_), total, weight,
                                            PAIR_ANGLES, PAIR_ZOOM, PAIR_REFINEMENTS, CREEP_SWEEPS, INNER_TOL,
                                            INNER_MAX_ITER, np.empty(0))
    D, s = result
    for k in range(K):
        _eigen_rotate(D, s[k], cov, k)
    return status == 0


@jit()
def _prepare(nk, scatter, reg_covar, pooled):
    """The denominators ``d_k``, their sum and the regularised scatter."""
    denom = nk + _TEN_EPS
    total = 0.0
    for k in range(nk.shape[0]):
        total += denom[k]
    return denom, total, _regularise(scatter, denom, total, reg_covar, pooled)


@jit()
def _factorise(cov, U, pc, matrix, pooled):
    """The precision factors of new covariances: ``U`` (matrices; a shared one once, repeated) or ``pc``.

    ``matrix`` says which: at d = 1 both layouts are (K, 1, 1), so the
    model, not the shape, decides.
    """
    K = cov.shape[0]
    if matrix:
        if pooled:
            if not upper_inverse_factors(cov[:1], U):
                return False
            for k in range(1, K):
                U[k] = U[0]
            return True
        return upper_inverse_factors(cov, U)
    for k in range(K):
        for j in range(cov.shape[1]):
            v = cov[k, j, 0]
            if not (v > 0.0 and v < np.inf):
                return False
            pc[k, j] = 1.0 / math.sqrt(v)
    return True


# Three families of M-steps, each its own compiled function with one
# signature: Numba compiles every function a compiled function can reach,
# so a fit compiles (once, then caches) only its own family's (the eigen-
# decompositions and the orientation sweeps took 40 s to compile).

@jit()
def m_step_closed_form(nk, scatter, m_step, reg_covar, previous, cov, U, pc):
    """The M-step ``m_step`` (VVV, EEE, VVI, EEI, VII, EII, EVI) into ``cov`` and ``U`` or ``pc``; False if it fails.

    ``previous`` are the covariances entering (the iterative models start
    from them, as ``models`` do); the other families take the same arguments.
    """
    pooled = m_step == M_EEE
    denom, total, S = _prepare(nk, scatter, reg_covar, pooled)
    if m_step == M_VVV or m_step == M_VVI:
        ok = _own(S, denom, total, cov)
    elif m_step == M_EEE:
        ok = _eee(S, denom, total, cov)
    elif m_step == M_EEI:
        ok = _eei(S, denom, total, cov)
    elif m_step == M_VII or m_step == M_EII:
        ok = _vii_eii(S, denom, total, cov, m_step == M_EII)
    else:
        ok = _evi(S, denom, total, cov)
    return ok and _factorise(cov, U, pc, pooled or m_step == M_VVV, pooled)


@jit()
def m_step_eigen(nk, scatter, m_step, reg_covar, previous, cov, U, pc):
    """The M-step ``m_step`` of VEI, EEV, VEV, EVV or VEE (determinants, eigen-decompositions, alternations)."""
    denom, total, S = _prepare(nk, scatter, reg_covar, False)
    if m_step == M_VEI:
        ok = _vei(S, denom, total, cov, previous)
    elif m_step == M_EEV or m_step == M_VEV:
        ok = _eev_vev(S, denom, total, cov, previous, m_step == M_VEV)
    elif m_step == M_EVV:
        ok = _evv(S, denom, total, cov)
    else:
        ok = _vee(S, nk, denom, cov, previous)
    return ok and _factorise(cov, U, pc, m_step != M_VEI, False)


@jit()
def m_step_orientation(nk, scatter, m_step, reg_covar, previous, cov, U, pc):
    """The M-step ``m_step`` of EVE or VVE (a common orientation by pairwise rotations)."""
    denom, total, S = _prepare(nk, scatter, reg_covar, False)
    kind = ROOT_SUM if m_step == M_EVE else WEIGHTED_LOG
    return _common_orientation(S, nk, denom, total, cov, previous, kind) and _factorise(cov, U, pc, True, False)


#: The M-step of each family, by its index (``CLOSED_FORM``, ``EIGEN``, ``ORIENTATION``).
M_STEP_FAMILIES = (m_step_closed_form, m_step_eigen, m_step_orientation)

__all__ = ["M_STEPS", "M_STEP_FAMILIES", "CLOSED_FORM", "EIGEN", "ORIENTATION", "m_step_closed_form",
           "m_step_eigen", "m_step_orientation"]
