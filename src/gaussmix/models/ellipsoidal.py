"""Ellipsoidal models: full covariance matrices ``Sigma_k = lambda_k D_k A_k D_k^T``.

mclust's VVV (everything variable; scikit-learn's ``full``) and EEE (one
matrix shared by all components; scikit-learn's ``tied``).
"""

from __future__ import annotations

from . import register
from ._base import CovarianceModel, add_to_diagonal, per_component_denominator


def _m_step_vvv(stats, reg_covar):
    """M-step of VVV: each component its own covariance.

    .. math::

        \\Sigma_k = \\frac{S_k}{n_k} + \\text{reg\\_covar}\\, I,
        \\qquad S_k = \\sum_i w_i r_{ik} (x_i - \\mu_k)(x_i - \\mu_k)^T

    Celeux & Govaert (1995), model [lambda_k C_k]; as scikit-learn's ``full``.
    """
    denom = per_component_denominator(stats.nk)
    return add_to_diagonal(stats.scatter / denom[:, None, None], reg_covar)


def _m_step_eee(stats, reg_covar):
    """M-step of EEE: one covariance shared by all components.

    .. math::

        \\Sigma = \\frac{\\sum_k S_k}{\\sum_k n_k} + \\text{reg\\_covar}\\, I

    Celeux & Govaert (1995), model [lambda C]; as scikit-learn's ``tied``.
    """
    denom = per_component_denominator(stats.nk).sum()
    return add_to_diagonal(stats.scatter.sum(axis=0) / denom, reg_covar)


def _n_full(n_features):
    return n_features * (n_features + 1) // 2


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
