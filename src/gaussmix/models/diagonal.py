"""Diagonal models: axis-aligned components, ``Sigma_k = lambda_k A_k``.

mclust's VVI (variable volume and shape); scikit-learn's ``diag``.
"""

from __future__ import annotations

from . import register
from ._base import CovarianceModel, per_component_denominator


def _m_step_vvi(stats, reg_covar):
    """M-step of VVI: one variance per component and feature.

    .. math::

        \\sigma^2_{kj} = \\frac{(S_k)_{jj}}{n_k} + \\text{reg\\_covar}

    Celeux & Govaert (1995), model [lambda_k B_k]; as scikit-learn's ``diag``.
    """
    denom = per_component_denominator(stats.nk)
    return stats.scatter / denom[:, None] + reg_covar


VVI = register(
    CovarianceModel(
        code="VVI",
        description="diagonal, variable volume and shape",
        structure="diag",
        scatter="diag",
        covariance_m_step=_m_step_vvi,
        n_covariance_parameters=lambda n_components, n_features: n_components * n_features,
        sklearn_name="diag",
    )
)
