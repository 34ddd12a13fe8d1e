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
from . import inner, sweeps
from .base import per_component_denominator

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
    try:
        trace = np.trace(np.linalg.solve(cov[active], W), axis1=1, axis2=2)
    except np.linalg.LinAlgError:
        # Eigenvalues positive but below rounding of the largest: singular.
        raise DegenerateCovarianceError(
            f"{ILL_DEFINED} A covariance became singular within the M-step's inner iterations (a "
            f"component collapsed onto a point or a line); increase reg_covar, use fewer components "
            f"or a model with variable shapes (VVV), or scale the data."
        ) from None
    return float(np.sum(stats.nk[active] * logdet + trace))


def require_positive(values, code):
    values = np.asarray(values)
    # min and max, not any/all: two reductions, called in every inner step (NaN fails too).
    if values.size and not (values.min() > 0 and values.max() < np.inf):
        raise DegenerateCovarianceError(
            f"{ILL_DEFINED} Model {code} needs every component to spread in every direction, but a "
            f"component's scatter is singular; use a model with variable volume and "
            f"shape (VVV, VVI), fewer components, or remove duplicated or constant "
            f"features."
        )


def _warn_unsettled():
    warnings.warn(
        f"an iterative M-step stopped after {INNER_MAX_ITER} inner iterations "
        f"without settling; its result still improves on the previous parameters.",
        ConvergenceWarning,
        stacklevel=3,
    )


def volumes_and_common_shape(values, nk, active, code, volume=None, trace=None):
    r"""Variable volumes ``lambda_k`` and one shape ``A`` for scatters ``diag(values_k)``.

    In a basis where component ``k``'s scatter is ``diag(values_k)`` (the
    features for VEI, each ``W_k``'s own eigenvectors for VEV), alternate

    .. math::

        A = \frac{\sum_k \omega_k / \lambda_k}{\big|\sum_k \omega_k / \lambda_k\big|^{1/d}},
        \qquad
        \lambda_k = \frac{\sum_j \omega_{kj} / A_j}{d\, n_k},

    each the exact minimiser of ``sum_k n_k d log(lambda_k) + sum_kj
    omega_kj / (lambda_k A_j)`` given the other (Celeux & Govaert, 1995),
    until it settles, as every inner loop here does (:func:`_settle`; compiled:
    ``inner.alternate_volumes_and_shape``). Returns ``(volume, shape)`` of
    shapes (K,) and (d,); ``trace``, a list, receives every value of the
    objective (for tests).
    """
    if volume is None:
        volume = values.sum(axis=1) / (values.shape[1] * nk)
    volume = np.ascontiguousarray(np.where(active, volume, 1.0), dtype=np.float64)
    shape = _settle(inner.alternate_volumes_and_shape, code, trace,
                    np.ascontiguousarray(values, dtype=np.float64), np.ascontiguousarray(nk, dtype=np.float64),
                    np.ascontiguousarray(active), volume)
    return volume, shape


def volumes_and_common_matrix(W, nk, active, code, volume, trace=None):
    r"""Variable volumes ``lambda_k`` and one matrix ``C`` (``|C| = 1``) for scatters ``W_k``.

    Alternates, from ``volume``,

    .. math::

        C = \frac{\sum_k W_k / \lambda_k}{\big|\sum_k W_k / \lambda_k\big|^{1/d}},
        \qquad
        \lambda_k = \frac{\operatorname{tr}(W_k C^{-1})}{d\, n_k},

    each the exact minimiser of ``sum_k n_k d log(lambda_k) + tr(C^-1 W_k) /
    lambda_k`` given the other (Celeux & Govaert, 1995), until it settles
    as every inner loop here does (:func:`_settle`; compiled:
    ``inner.alternate_volumes_and_common_matrix``; in NumPy each step's
    determinant and solves took VEE's M-step to a millisecond). ``nk`` are
    the components' weights (the divisor of ``lambda_k`` adds 10 eps,
    ``base.per_component_denominator``). Returns ``(volume, C)``; ``trace``,
    a list, receives every value of the objective (for tests).
    """
    volume = np.ascontiguousarray(np.where(active, volume, 1.0), dtype=np.float64)
    nk = np.ascontiguousarray(nk, dtype=np.float64)
    C = _settle(inner.alternate_volumes_and_common_matrix, code, trace,
                np.ascontiguousarray(W, dtype=np.float64), nk, per_component_denominator(nk),
                np.ascontiguousarray(active), volume)
    return volume, C


def _settle(alternation, code, trace, *args):
    """Run a compiled inner loop (``inner``'s alternations, ``sweeps.orientation_descent``) until it settles.

    Every inner loop stops once its objective ``L`` changes by at most
    ``INNER_TOL (1 + |L|)``, or after
    :data:`INNER_MAX_ITER` steps with a ``ConvergenceWarning``; a singular
    scatter raises ``DegenerateCovarianceError``. The objective's values go
    into ``trace`` (a list, or None). Returns the alternation's result.
    """
    history = np.empty(0 if trace is None else INNER_MAX_ITER + 1)
    result, status, n_values = alternation(*args, INNER_TOL, INNER_MAX_ITER, history)
    if trace is not None:
        trace.extend(history[:n_values].tolist())
    if status == 2:
        require_positive(np.array([-1.0]), code)
    if status == 1:
        _warn_unsettled()
    return result


def common_orientation(stats, previous, active, pair_profile, code, pair_weight=None, trace=None):
    r"""Covariances ``D diag(s_k) D^T`` sharing one orientation ``D``.

    Given ``D``, the optimal eigenvalues ``s_k`` are a function of
    ``B_k = diag(D^T W_k D)`` (this is where EVE and VVE differ; compiled,
    ``sweeps._eigenvalues``), and the objective at those eigenvalues is,
    up to a constant and an increasing map, a profile of ``B`` alone
    (``sweeps._profile``): ``D`` then minimises that. ``pair_profile``
    names the model (VVE or EVE) by that profile as a
    function of ``B_ka B_kb`` alone, the other columns held, up to a
    constant: ``sweeps.WEIGHTED_LOG``, ``sum_k w_k log(B_ka B_kb)`` with
    ``w = pair_weight`` (VVE), or ``sweeps.ROOT_SUM``,
    ``log sum_k c_k (B_ka B_kb)^(1/d)`` with ``c_k`` the geometric mean of
    the other columns of ``B_k`` (EVE). It improves by sweeps of rotations of
    each pair of columns ``(a, b)``; with ``M_k = D^T W_k D`` and the angle
    ``phi = 2 theta``, a rotation changes only

    .. math::

        B_{ka} B_{kb} = P_k^2 - (Q_k \cos\phi + R_k \sin\phi)^2, \quad
        P_k = \tfrac{M_{k,aa} + M_{k,bb}}{2},\; Q_k = \tfrac{M_{k,aa} - M_{k,bb}}{2},\;
        R_k = M_{k,ab},

    a function of period pi in ``phi`` that both models' profiles depend on
    (through ``B_ka B_kb``, or ``B_ka`` and ``B_kb`` symmetrically). Where a
    component's 2 x 2 block is nearly singular (a component flat in some
    direction) the profile has a deep, narrow well at
    ``phi = atan2(R_k, Q_k)``, where ``B_ka B_kb`` is smallest; so each pair's
    angle is the best of a grid over the period and those points, refined
    four times around it (to about 1e-5 of a radian), and is taken only
    where it lowers the profile. These are the
    pairwise rotations of Flury and Gautschi's common-principal-components
    algorithm (1986), each minimising the profiled objective exactly.

    They cost five evaluations of the profile per pair, so sweeps start
    cheaper: each pair rotated by the angle that minimises
    ``f(D) = sum_k tr(D^T W_k D diag(1/s_k))`` with the eigenvalues ``s_k``
    held, in closed form, ``2 theta = atan2(-R', (Q' - P') / 2)`` with
    ``P' = sum_k M_k,aa / s_ka + M_k,bb / s_kb``,
    ``Q' = sum_k M_k,aa / s_kb + M_k,bb / s_ka`` and
    ``R' = sum_k M_k,ab (1/s_ka - 1/s_kb)``, then the eigenvalues updated.
    That alternation converges fast on most data, but on a component whose
    scatter is singular but for ``reg_covar`` (fewer rows than features) it
    crept by 1e-5 of the objective per sweep, 10 000 sweeps; once its gains
    stop shrinking (after :data:`CREEP_SWEEPS` sweeps, each of the last three
    gains over half the one before), the profiled sweeps take over.
    """
    W = np.ascontiguousarray(stats.scatter, dtype=np.float64)
    Wa = W[active]
    # The sweeps find a local minimum; the start decides which. A component
    # flat in some direction (few rows, a constant feature) makes the
    # deepest wells, and its own eigenvectors start in one, so the start is
    # the best (by the profile) of the previous orientation, the pooled
    # scatter's and each component's own. Never worse than the previous
    # orientation, so the M-step stays monotone (compiled:
    # sweeps.best_start).
    if not np.isfinite(Wa).all():
        require_positive(np.array([np.nan]), code)
    weight = np.ascontiguousarray(np.ones(Wa.shape[0]) if pair_weight is None else pair_weight,
                                  dtype=np.float64)
    Wa = np.ascontiguousarray(Wa)
    first = np.zeros((0, 0)) if previous is None else np.ascontiguousarray(previous[0], dtype=np.float64)
    D = sweeps.best_start(Wa, first, pair_profile, weight)

    # The descent itself is compiled (sweeps.orientation_descent): in
    # Python, its closures and small NumPy calls took 0.2 ms an M-step, a
    # third of select on iris; ``trace``, a list, receives every value of
    # the objective (for tests).
    n_total = per_component_denominator(stats.nk).sum()
    D, s = _settle(sweeps.orientation_descent, code, trace, D, W, Wa, pair_profile,
                   np.ascontiguousarray(stats.nk, dtype=np.float64),
                   np.ascontiguousarray(per_component_denominator(stats.nk), dtype=np.float64),
                   np.ascontiguousarray(active), float(n_total),
                   weight, PAIR_ANGLES, PAIR_ZOOM, PAIR_REFINEMENTS,
                   CREEP_SWEEPS)
    return np.einsum("ij,kj,lj->kil", D, s, D)


#: Sweeps of held eigenvalues before their progress is judged (the
#: profiled sweeps take over once the last three gains each exceed half the
#: one before).
CREEP_SWEEPS = 6


#: Grid points over the period of a pair's angle, and refinements of the grid.
PAIR_GRID = 24
PAIR_REFINEMENTS = 4
PAIR_ANGLES = np.linspace(-np.pi / 2, np.pi / 2, PAIR_GRID, endpoint=False)
PAIR_ZOOM = np.linspace(-1.0, 1.0, PAIR_GRID + 1)
