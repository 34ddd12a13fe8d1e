r"""Shared machinery of the M-steps that have no closed form.

VEI, VEE, EVE, VVE and VEV are fitted by alternating updates (Celeux &
Govaert, 1995) and, for a common orientation, by exact pairwise rotations
(Flury & Gautschi, 1986). Each inner update lowers

.. math::

    L(\Sigma) = \sum_k n_k \log|\Sigma_k| + \operatorname{tr}(\Sigma_k^{-1} W_k),

minus twice the covariance part of the EM objective, so the M-step is
monotone; iterations stop when ``L`` changes by less than ``sqrt(eps)``
relative, mclust's inner tolerance.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ..exceptions import ILL_DEFINED, DegenerateCovarianceError

#: mclust's tolerance for the inner iterations of an M-step.
INNER_TOL = math.sqrt(np.finfo(np.float64).eps)
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


def converged(old, new, tol=None):
    tol = INNER_TOL if tol is None else tol
    return abs(old - new) <= tol * (1.0 + abs(new))


def require_positive(values, code):
    if np.any(values <= 0) or not np.all(np.isfinite(values)):
        raise DegenerateCovarianceError(
            f"{ILL_DEFINED} Model {code} needs every component to spread in every direction, but a "
            f"component's scatter is singular; use a model with variable volume and "
            f"shape (VVV, VVI), fewer components, or remove duplicated or constant "
            f"features."
        )


def minimise(update, state, objective_of, trace=None):
    """Repeat ``state = update(state)`` until ``objective_of(state)`` settles.

    ``trace``, a list, receives every value of the objective (for tests).
    """
    current = objective_of(state)
    if trace is not None:
        trace.append(current)
    for _ in range(INNER_MAX_ITER):
        state = update(state)
        new = objective_of(state)
        if trace is not None:
            trace.append(new)
        if converged(current, new):
            break
        current = new
    else:
        warnings.warn(
            f"an iterative M-step stopped after {INNER_MAX_ITER} inner iterations "
            f"without settling; its result still improves on the previous parameters.",
            ConvergenceWarning,
            stacklevel=2,
        )
    return state


def volumes_and_common_shape(values, nk, active, code, volume=None):
    r"""Variable volumes ``lambda_k`` and one shape ``A`` for scatters ``diag(values_k)``.

    In a basis where component ``k``'s scatter is ``diag(values_k)`` (the
    features for VEI, each ``W_k``'s own eigenvectors for VEV), alternate

    .. math::

        A = \frac{\sum_k \omega_k / \lambda_k}{\big|\sum_k \omega_k / \lambda_k\big|^{1/d}},
        \qquad
        \lambda_k = \frac{\sum_j \omega_{kj} / A_j}{d\, n_k},

    each the exact minimiser of ``sum_k n_k d log(lambda_k) + sum_kj
    omega_kj / (lambda_k A_j)`` given the other (Celeux & Govaert, 1995).
    Returns ``(volume, shape)`` of shapes (K,) and (d,).
    """
    n_features = values.shape[1]

    def shape(volume):
        M = (values[active] / volume[active, None]).sum(axis=0)
        require_positive(M, code)
        return M / np.exp(np.log(M).mean())

    def update(volume):
        volume = (values / shape(volume)).sum(axis=1) / (n_features * nk)
        require_positive(volume[active], code)
        return np.where(active, volume, 1.0)

    def objective_of(volume):
        A = shape(volume)
        v = volume[active]
        return float(
            np.sum(nk[active] * n_features * np.log(v))
            + np.sum(values[active] / (v[:, None] * A))
        )

    if volume is None:
        volume = values.sum(axis=1) / (n_features * nk)
    volume = minimise(update, np.where(active, volume, 1.0), objective_of)
    return volume, shape(volume)


def common_orientation(stats, previous, active, eigenvalues_given_orientation, code):
    r"""Covariances ``D diag(s_k) D^T`` sharing one orientation ``D``.

    ``eigenvalues_given_orientation(B)`` maps ``B_k = diag(D^T W_k D)``,
    shape (K, d), to the optimal eigenvalues ``s_k`` for that ``D`` (this is
    where EVE and VVE differ). For fixed ``s_k``, ``D`` minimises
    ``f(D) = sum_k tr(D^T W_k D diag(1/s_k))``; it improves by Jacobi sweeps
    that rotate each pair of columns ``(a, b)`` by the angle that minimises
    ``f`` exactly. With ``M_k = D^T W_k D``,

    .. math::

        f(\theta) = \tfrac{P+Q}{2} + \tfrac{P-Q}{2}\cos 2\theta + R \sin 2\theta,
        \quad P = \sum_k \frac{M_{k,aa}}{s_{ka}} + \frac{M_{k,bb}}{s_{kb}},\;
        Q = \sum_k \frac{M_{k,aa}}{s_{kb}} + \frac{M_{k,bb}}{s_{ka}},\;
        R = \sum_k M_{k,ab}\Big(\frac{1}{s_{ka}} - \frac{1}{s_{kb}}\Big),

    so ``2 theta = atan2(-R, (Q - P) / 2)``: the pairwise rotations of Flury
    and Gautschi's common-principal-components algorithm (1986), with the
    eigenvalues held at the model's estimate. Sweeps and eigenvalue updates
    alternate; each lowers ``f``, so the step is monotone. (Browne &
    McNicholas (2014) use majorise-minimise steps for the same problem; they
    converged thousands of times more slowly here.)
    """
    W = stats.scatter
    if previous is not None:
        _, D = np.linalg.eigh(previous[0])
    else:
        _, D = np.linalg.eigh(W[active].sum(axis=0))
    Wa = W[active]

    def eigenvalues(D):
        B = np.einsum("ji,kjl,li->ki", D, W, D)  # diag(D^T W_k D)
        s = eigenvalues_given_orientation(B)  # also sets the empty components'
        require_positive(s, code)
        return s

    def update(state):
        D, s = state
        D = _jacobi_sweep(D.copy(), Wa, 1.0 / s[active])
        return D, eigenvalues(D)

    def covariances(state):
        D, s = state
        return np.einsum("ij,kj,lj->kil", D, s, D)

    state = minimise(
        update, (D, eigenvalues(D)), lambda state: objective(covariances(state), stats, active)
    )
    return covariances(state)


def _jacobi_sweep(D, W, inv_s):
    """One sweep of exact pairwise rotations of the columns of D (see above)."""
    M = np.einsum("ji,kjl,lm->kim", D, W, D)
    p = D.shape[1]
    for a in range(p - 1):
        for b in range(a + 1, p):
            ia, ib = inv_s[:, a], inv_s[:, b]
            Maa, Mbb, Mab = M[:, a, a], M[:, b, b], M[:, a, b]
            P = np.sum(Maa * ia + Mbb * ib)
            Q = np.sum(Maa * ib + Mbb * ia)
            R = np.sum(Mab * (ia - ib))
            theta = 0.5 * np.arctan2(-R, 0.5 * (Q - P))
            c, s = np.cos(theta), np.sin(theta)
            if abs(s) < 1e-15:
                continue
            G = np.array([[c, -s], [s, c]])
            idx = [a, b]
            D[:, idx] = D[:, idx] @ G
            M[:, idx, :] = np.einsum("ji,kjl->kil", G, M[:, idx, :])
            M[:, :, idx] = M[:, :, idx] @ G
    return D
