"""Ellipsoidal models: ``Sigma_k = lambda_k D_k A_k D_k^T``.

Volume ``lambda_k`` (a scalar), shape ``A_k`` (diagonal, determinant 1) and
orientation ``D_k`` (orthogonal), each Equal across components or Variable:
mclust's EEE (scikit-learn's ``tied``), VEE, EVE, VVE, EEV, VEV, EVV and VVV
(scikit-learn's ``full``). VEE, EVE, VVE and VEV have no closed form and
iterate (see ``_iterative``). Notation: ``W_k = S_k`` the centred scatter of component ``k``,
``n = sum_k n_k``.
"""

from __future__ import annotations

import numpy as np

from ..exceptions import ILL_DEFINED, DegenerateCovarianceError
from . import sweeps
from .base import CovarianceModel, empty_components, per_component_denominator
from .eigen import stacked_symmetric_eigen
from .iterative import (
    common_orientation,
    volumes_and_common_matrix,
    volumes_and_common_shape,
)


def _m_step_eee(stats, previous=None):
    r"""M-step of EEE: one covariance shared by all components.

    .. math::

        \Sigma = \frac{\sum_k W_k}{n}

    Celeux & Govaert (1995), model [lambda C]; as scikit-learn's ``tied``.
    """
    denom = per_component_denominator(stats.nk).sum()
    return stats.scatter.sum(axis=0) / denom


def _m_step_vee(stats, previous=None):
    r"""M-step of VEE: variable volume, equal shape and orientation.

    Alternate, from the previous volumes, until the objective settles:

    .. math::

        C = \frac{\sum_k W_k / \lambda_k}{\big|\sum_k W_k / \lambda_k\big|^{1/d}},
        \qquad
        \lambda_k = \frac{\operatorname{tr}(W_k C^{-1})}{d\, n_k},
        \qquad
        \Sigma_k = \lambda_k C

    Celeux & Govaert (1995), model [lambda_k C]; see
    ``iterative.volumes_and_common_matrix``.
    """
    n_features = stats.means.shape[1]
    W = stats.scatter
    if previous is not None:
        volume = np.exp(np.linalg.slogdet(previous)[1] / n_features)
    else:
        volume = np.trace(W, axis1=1, axis2=2) / (n_features * per_component_denominator(stats.nk))
    volume, C = volumes_and_common_matrix(W, stats.nk, ~empty_components(stats.nk), "VEE", volume)
    return volume[:, None, None] * C


def _m_step_eve(stats, previous=None):
    r"""M-step of EVE: equal volume and orientation, variable shape.

    For the common orientation ``D``, with ``B_k = diag(D^T W_k D)``,

    .. math::

        A_k = \frac{B_k}{|B_k|^{1/d}}, \qquad
        \lambda = \frac{\sum_k |B_k|^{1/d}}{n}, \qquad
        \Sigma_k = \lambda D A_k D^T,

    and ``D`` improves by exact pairwise rotations (Flury & Gautschi, 1986),
    alternating with the update above until the objective settles; see
    ``iterative.common_orientation``.
    """
    active = ~empty_components(stats.nk)
    # The eigenvalues lambda B_k / |B_k|^(1/d), an empty component's the
    # common volume in every direction (inner.equal_volume_eigenvalues). At
    # the optimal lambda and A_k the trace term is d n, a constant, and
    # sum_k n_k log|Sigma_k| = n d log lambda: D minimises sum_k |B_k|^(1/d)
    # (sweeps._profile), as a function of B_ka B_kb alone
    # log sum_k c_k (B_ka B_kb)^(1/d).
    return common_orientation(stats, previous, active, sweeps.ROOT_SUM, "EVE")


def _m_step_vve(stats, previous=None):
    r"""M-step of VVE: variable volume and shape, equal orientation.

    For the common orientation ``D``,

    .. math::

        \lambda_k A_k = \frac{\operatorname{diag}(D^T W_k D)}{n_k}, \qquad
        \Sigma_k = D (\lambda_k A_k) D^T,

    and ``D`` improves by exact pairwise rotations (Flury & Gautschi, 1986),
    alternating with the update above until the objective settles; see
    ``iterative.common_orientation``.
    """
    active = ~empty_components(stats.nk)
    weight = per_component_denominator(stats.nk)[active]
    # The eigenvalues B_k / n_k, an empty component's a unit sphere (it is
    # free in volume and shape): sweeps._eigenvalues. At the optimal
    # eigenvalues the trace term is d n_k, a constant: D minimises
    # sum_k n_k sum_j log B_kj (sweeps._profile), as a function of
    # B_ka B_kb alone sum_k n_k log(B_ka B_kb).
    return common_orientation(stats, previous, active, sweeps.WEIGHTED_LOG, "VVE", pair_weight=weight)


def _m_step_eev(stats, previous=None):
    r"""M-step of EEV: equal volume and shape, variable orientation.

    With the eigen-decompositions ``W_k = L_k Omega_k L_k^T`` (eigenvalues in
    the same order for every k),

    .. math::

        \lambda A = \frac{\sum_k \Omega_k}{n}, \qquad
        \Sigma_k = L_k (\lambda A) L_k^T

    Celeux & Govaert (1995), model [lambda D_k A D_k^T], closed form.
    """
    eigval, eigvec = stacked_symmetric_eigen(stats.scatter)  # ascending, same order for all k
    volume_shape = eigval.sum(axis=0) / per_component_denominator(stats.nk).sum()
    cov = np.einsum("kij,j,klj->kil", eigvec, volume_shape, eigvec)
    return cov


def _m_step_vev(stats, previous=None):
    r"""M-step of VEV: variable volume and orientation, equal shape.

    With ``W_k = L_k Omega_k L_k^T`` (eigenvalues in the same order for
    every k), ``D_k = L_k`` and, alternating until the objective settles,

    .. math::

        A = \frac{\sum_k \Omega_k / \lambda_k}
                  {\big|\sum_k \Omega_k / \lambda_k\big|^{1/d}}, \qquad
        \lambda_k = \frac{\operatorname{tr}(\Omega_k A^{-1})}{d\, n_k}, \qquad
        \Sigma_k = \lambda_k L_k A L_k^T

    Celeux & Govaert (1995), model [lambda_k D_k A D_k^T].
    """
    omega, L = stacked_symmetric_eigen(stats.scatter)  # ascending, same order for all k
    active = ~empty_components(stats.nk)
    n_features = stats.means.shape[1]
    volume = None if previous is None else np.exp(np.linalg.slogdet(previous)[1] / n_features)
    volume, shape = volumes_and_common_shape(
        omega, per_component_denominator(stats.nk), active, "VEV", volume
    )
    return np.einsum("kij,kj,klj->kil", L, volume[:, None] * shape, L)


def _m_step_evv(stats, previous=None):
    r"""M-step of EVV: equal volume, variable shape and orientation.

    .. math::

        C_k = \frac{W_k}{|W_k|^{1/d}}, \qquad
        \lambda = \frac{\sum_k |W_k|^{1/d}}{n}, \qquad
        \Sigma_k = \lambda C_k

    Celeux & Govaert (1995), model [lambda C_k], closed form.
    """
    n_components, n_features = stats.means.shape
    empty = empty_components(stats.nk)
    sign, logdet = np.linalg.slogdet(stats.scatter)
    if np.any(sign[~empty] <= 0):
        raise DegenerateCovarianceError(
            f"{ILL_DEFINED} Model EVV needs every component's scatter to be non-singular, but a "
            "component lies in a lower-dimensional subspace; use VVV, fewer "
            "components, or remove duplicated or constant features."
        )
    root_det = np.where(empty, 0.0, np.exp(np.where(empty, 0.0, logdet) / n_features))
    shape = np.where(
        empty[:, None, None],
        np.eye(n_features),
        stats.scatter / np.where(empty, 1.0, root_det)[:, None, None],
    )
    volume = root_det.sum() / per_component_denominator(stats.nk).sum()
    return volume * shape


def _m_step_vvv(stats, previous=None):
    r"""M-step of VVV: each component its own covariance.

    .. math::

        \Sigma_k = \frac{W_k}{n_k},
        \qquad W_k = \sum_i w_i r_{ik} (x_i - \mu_k)(x_i - \mu_k)^T

    Celeux & Govaert (1995), model [lambda_k C_k]; as scikit-learn's ``full``.
    """
    denom = per_component_denominator(stats.nk)
    return stats.scatter / denom[:, None, None]


def _n_full(n_features):
    return n_features * (n_features + 1) // 2


def _n_orientation(n_features):
    return n_features * (n_features - 1) // 2


EEE = CovarianceModel(
    code="EEE",
    description="ellipsoidal, equal volume, shape and orientation",
    structure="shared",
    scatter="pooled",
    covariance_m_step=_m_step_eee,
    n_covariance_parameters=lambda n_components, n_features: _n_full(n_features),
    sklearn_name="tied",
    coupling="pooled",
)

VEE = CovarianceModel(
    code="VEE",
    description="ellipsoidal, variable volume, equal shape and orientation",
    structure="full",
    scatter="full",
    covariance_m_step=_m_step_vee,
    n_covariance_parameters=lambda n_components, n_features: n_components
    + _n_full(n_features)
    - 1,
    iterative=True,
)

EVE = CovarianceModel(
    code="EVE",
    description="ellipsoidal, equal volume and orientation, variable shape",
    structure="full",
    scatter="full",
    covariance_m_step=_m_step_eve,
    n_covariance_parameters=lambda n_components, n_features: 1
    + n_components * (n_features - 1)
    + _n_orientation(n_features),
    iterative=True,
)

VVE = CovarianceModel(
    code="VVE",
    description="ellipsoidal, variable volume and shape, equal orientation",
    structure="full",
    scatter="full",
    covariance_m_step=_m_step_vve,
    n_covariance_parameters=lambda n_components, n_features: n_components * n_features
    + _n_orientation(n_features),
    iterative=True,
)

EEV = CovarianceModel(
    code="EEV",
    description="ellipsoidal, equal volume and shape, variable orientation",
    structure="full",
    scatter="full",
    covariance_m_step=_m_step_eev,
    n_covariance_parameters=lambda n_components, n_features: n_features
    + n_components * _n_orientation(n_features),
)

VEV = CovarianceModel(
    code="VEV",
    description="ellipsoidal, variable volume and orientation, equal shape",
    structure="full",
    scatter="full",
    covariance_m_step=_m_step_vev,
    n_covariance_parameters=lambda n_components, n_features: n_components
    + n_features
    - 1
    + n_components * _n_orientation(n_features),
    iterative=True,
)

EVV = CovarianceModel(
    code="EVV",
    description="ellipsoidal, equal volume, variable shape and orientation",
    structure="full",
    scatter="full",
    covariance_m_step=_m_step_evv,
    n_covariance_parameters=lambda n_components, n_features: n_components
    * _n_full(n_features)
    - (n_components - 1),
)

VVV = CovarianceModel(
    code="VVV",
    description="ellipsoidal, variable volume, shape and orientation",
    structure="full",
    scatter="full",
    covariance_m_step=_m_step_vvv,
    n_covariance_parameters=lambda n_components, n_features: n_components
    * _n_full(n_features),
    sklearn_name="full",
    coupling="independent",
)

#: This family's models, in mclust's order.
MODELS = (EEE, VEE, EVE, VVE, EEV, VEV, EVV, VVV)
