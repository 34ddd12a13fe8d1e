"""Spherical models: each component's covariance is ``lambda_k I``.

mclust's EII (equal volume) and VII (variable volume; scikit-learn's
``spherical``), and their one-dimensional versions E and V (equal and
variable variance), which mclust names apart.
"""

from __future__ import annotations

import numpy as np

from .base import CovarianceModel, per_component_denominator


def _m_step_vii(stats, previous=None):
    r"""M-step of VII: one variance per component.

    .. math::

        \lambda_k = \frac{\operatorname{tr} S_k}{d\, n_k}

    Celeux & Govaert (1995), model [lambda_k I]; as scikit-learn's
    ``spherical``.
    """
    n_features = stats.means.shape[1]
    denom = per_component_denominator(stats.nk)
    return stats.scatter.sum(axis=1) / (n_features * denom)


def _m_step_eii(stats, previous=None):
    r"""M-step of EII: one variance for every component and feature.

    .. math::

        \lambda = \frac{\sum_k \operatorname{tr} S_k}{d \sum_k n_k}

    Celeux & Govaert (1995), model [lambda I].
    """
    n_components, n_features = stats.means.shape
    denom = per_component_denominator(stats.nk).sum()
    value = stats.scatter.sum() / (n_features * denom)
    return np.full(n_components, value)


EII = CovarianceModel(
    code="EII",
    description="spherical, equal volume",
    structure="spherical",
    scatter="diag",
    covariance_m_step=_m_step_eii,
    n_covariance_parameters=lambda n_components, n_features: 1,
    coupling="pooled",
)

VII = CovarianceModel(
    code="VII",
    description="spherical, variable volume",
    structure="spherical",
    scatter="diag",
    covariance_m_step=_m_step_vii,
    n_covariance_parameters=lambda n_components, n_features: n_components,
    sklearn_name="spherical",
    coupling="independent",
)

E = CovarianceModel(
    code="E",
    description="univariate, equal variance",
    structure="spherical",
    scatter="diag",
    covariance_m_step=_m_step_eii,
    n_covariance_parameters=lambda n_components, n_features: 1,
    univariate=True,
    coupling="pooled",
)

V = CovarianceModel(
    code="V",
    description="univariate, variable variance",
    structure="spherical",
    scatter="diag",
    covariance_m_step=_m_step_vii,
    n_covariance_parameters=lambda n_components, n_features: n_components,
    univariate=True,
    coupling="independent",
)

#: This family's models, in mclust's order.
MODELS = (EII, VII, E, V)
