r"""Shared machinery of the M-steps that have no closed form.

VEI, VEE, EVE, VVE and VEV are fitted by alternating updates (Celeux &
Govaert, 1995) and, for a common orientation, by the majorise-minimise step of
Browne & McNicholas (2014). Each inner update lowers

.. math::

    L(\Sigma) = \sum_k n_k \log|\Sigma_k| + \operatorname{tr}(\Sigma_k^{-1} W_k),

minus twice the covariance part of the EM objective, so the M-step is
monotone; iterations stop when ``L`` changes by less than ``sqrt(eps)``
relative, mclust's inner tolerance.
"""

from __future__ import annotations

import math

import numpy as np

from .._structures import DegenerateCovarianceError

#: mclust's tolerance for the inner iterations of an M-step.
INNER_TOL = math.sqrt(np.finfo(np.float64).eps)
#: Majorise-minimise steps of the orientation each gain little, so a change
#: below sqrt(eps) comes long before convergence; they use this instead.
MM_TOL = 1e-12
#: A cap that well-posed problems never reach; mclust's is effectively none.
INNER_MAX_ITER = 10_000


def objective(cov, stats, active):
    """``L`` of the (K, d, d) covariances over the components in ``active``."""
    W = stats.scatter[active]
    if W.ndim == 2:  # diagonal scatter
        W = np.einsum("kj,ij->kij", W, np.eye(W.shape[1]))
    sign, logdet = np.linalg.slogdet(cov[active])
    trace = np.trace(np.linalg.solve(cov[active], W), axis1=1, axis2=2)
    return float(np.sum(stats.nk[active] * logdet + trace))


def converged(old, new, tol=INNER_TOL):
    return abs(old - new) <= tol * (1.0 + abs(new))


def require_positive(values, code):
    if np.any(values <= 0) or not np.all(np.isfinite(values)):
        raise DegenerateCovarianceError(
            f"model {code} needs every component to spread in every direction, but a "
            f"component's scatter is singular; use a model with variable volume and "
            f"shape (VVV, VVI), fewer components, or remove duplicated or constant "
            f"features."
        )


def minimise(update, state, covariances, stats, active, tol=INNER_TOL):
    """Repeat ``state = update(state)`` until ``L`` stops falling.

    ``covariances(state)`` gives the (K, d, d) matrices of a state.
    """
    current = objective(covariances(state), stats, active)
    for _ in range(INNER_MAX_ITER):
        state = update(state)
        new = objective(covariances(state), stats, active)
        if converged(current, new, tol):
            break
        current = new
    return state


def common_orientation(stats, previous, active, eigenvalues_given_orientation, code):
    r"""Covariances ``D diag(s_k) D^T`` sharing one orientation ``D``.

    ``eigenvalues_given_orientation(B)`` maps ``B_k = diag(D^T W_k D)``,
    shape (K, d), to the optimal eigenvalues ``s_k`` for that ``D`` (this is
    where EVE and VVE differ). ``D`` is then improved by one
    majorise-minimise step: with ``c_k = max eig(W_k) / min(s_k)``,

    .. math::

        F = \sum_k \big(c_k D - W_k D \operatorname{diag}(1/s_k)\big),
        \quad F = U \Sigma V^T, \quad D \leftarrow U V^T,

    which lowers ``sum_k tr(W_k D diag(1/s_k) D^T)`` (Browne & McNicholas,
    2014, with the bound of Kiers, 2002).
    """
    W = stats.scatter
    if previous is not None:
        _, D = np.linalg.eigh(previous[0])
    else:
        _, D = np.linalg.eigh(W[active].sum(axis=0))
    alpha = np.linalg.eigvalsh(W)[:, -1]

    def eigenvalues(D):
        B = np.einsum("ji,kjl,li->ki", D, W, D)  # diag(D^T W_k D)
        s = eigenvalues_given_orientation(B)
        require_positive(s[active], code)
        return np.where(active[:, None], s, 1.0)

    def update(state):
        D, s = state
        c = alpha / s.min(axis=1)
        F = np.zeros_like(D)
        for k in np.flatnonzero(active):
            F += c[k] * D - W[k] @ D / s[k]
        U, _, Vt = np.linalg.svd(F)
        D = U @ Vt
        return D, eigenvalues(D)

    def covariances(state):
        D, s = state
        return np.einsum("ij,kj,lj->kil", D, s, D)

    state = minimise(update, (D, eigenvalues(D)), covariances, stats, active, tol=MM_TOL)
    return covariances(state)
