"""Ellipsoidal models: ``Sigma_k = lambda_k D_k A_k D_k^T``.

Volume ``lambda_k`` (a scalar), shape ``A_k`` (diagonal, determinant 1) and
orientation ``D_k`` (orthogonal), each Equal across components or Variable:
mclust's EEE (scikit-learn's ``tied``), EEV, EVV and VVV (scikit-learn's
``full``). Notation: ``W_k = S_k`` the centred scatter of component ``k``,
``n = sum_k n_k``.
"""

from __future__ import annotations

import numpy as np

from .._structures import DegenerateCovarianceError
from . import register
from ._base import CovarianceModel, add_to_diagonal, empty_components, per_component_denominator


def _m_step_eee(stats, reg_covar):
    """M-step of EEE: one covariance shared by all components.

    .. math::

        \\Sigma = \\frac{\\sum_k W_k}{n} + \\text{reg\\_covar}\\, I

    Celeux & Govaert (1995), model [lambda C]; as scikit-learn's ``tied``.
    """
    denom = per_component_denominator(stats.nk).sum()
    return add_to_diagonal(stats.scatter.sum(axis=0) / denom, reg_covar)


def _m_step_eev(stats, reg_covar):
    """M-step of EEV: equal volume and shape, variable orientation.

    With the eigen-decompositions ``W_k = L_k Omega_k L_k^T`` (eigenvalues in
    the same order for every k),

    .. math::

        \\lambda A = \\frac{\\sum_k \\Omega_k}{n}, \\qquad
        \\Sigma_k = L_k (\\lambda A) L_k^T + \\text{reg\\_covar}\\, I

    Celeux & Govaert (1995), model [lambda D_k A D_k^T], closed form.
    """
    eigval, eigvec = np.linalg.eigh(stats.scatter)  # ascending, same order for all k
    volume_shape = eigval.sum(axis=0) / per_component_denominator(stats.nk).sum()
    cov = np.einsum("kij,j,klj->kil", eigvec, volume_shape, eigvec)
    return add_to_diagonal(cov, reg_covar)


def _m_step_evv(stats, reg_covar):
    """M-step of EVV: equal volume, variable shape and orientation.

    .. math::

        C_k = \\frac{W_k}{|W_k|^{1/d}}, \\qquad
        \\lambda = \\frac{\\sum_k |W_k|^{1/d}}{n}, \\qquad
        \\Sigma_k = \\lambda C_k + \\text{reg\\_covar}\\, I

    Celeux & Govaert (1995), model [lambda C_k], closed form.
    """
    n_components, n_features = stats.means.shape
    empty = empty_components(stats.nk)
    sign, logdet = np.linalg.slogdet(stats.scatter)
    if np.any(sign[~empty] <= 0):
        raise DegenerateCovarianceError(
            "model EVV needs every component's scatter to be non-singular, but a "
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
    return add_to_diagonal(volume * shape, reg_covar)


def _m_step_vvv(stats, reg_covar):
    """M-step of VVV: each component its own covariance.

    .. math::

        \\Sigma_k = \\frac{W_k}{n_k} + \\text{reg\\_covar}\\, I,
        \\qquad W_k = \\sum_i w_i r_{ik} (x_i - \\mu_k)(x_i - \\mu_k)^T

    Celeux & Govaert (1995), model [lambda_k C_k]; as scikit-learn's ``full``.
    """
    denom = per_component_denominator(stats.nk)
    return add_to_diagonal(stats.scatter / denom[:, None, None], reg_covar)


def _n_full(n_features):
    return n_features * (n_features + 1) // 2


def _n_orientation(n_features):
    return n_features * (n_features - 1) // 2


EEE = register(
    CovarianceModel(
        code="EEE",
        description="ellipsoidal, equal volume, shape and orientation",
        structure="shared",
        scatter="full",
        covariance_m_step=_m_step_eee,
        n_covariance_parameters=lambda n_components, n_features: _n_full(n_features),
        sklearn_name="tied",
    )
)

EEV = register(
    CovarianceModel(
        code="EEV",
        description="ellipsoidal, equal volume and shape, variable orientation",
        structure="full",
        scatter="full",
        covariance_m_step=_m_step_eev,
        n_covariance_parameters=lambda n_components, n_features: n_features
        + n_components * _n_orientation(n_features),
    )
)

EVV = register(
    CovarianceModel(
        code="EVV",
        description="ellipsoidal, equal volume, variable shape and orientation",
        structure="full",
        scatter="full",
        covariance_m_step=_m_step_evv,
        n_covariance_parameters=lambda n_components, n_features: n_components
        * _n_full(n_features)
        - (n_components - 1),
    )
)

VVV = register(
    CovarianceModel(
        code="VVV",
        description="ellipsoidal, variable volume, shape and orientation",
        structure="full",
        scatter="full",
        covariance_m_step=_m_step_vvv,
        n_covariance_parameters=lambda n_components, n_features: n_components
        * _n_full(n_features),
        sklearn_name="full",
    )
)
