"""Diagonal models: axis-aligned components, ``Sigma_k = lambda_k B_k``.

``B_k`` is diagonal with determinant 1 (the shape), ``lambda_k`` the volume.
mclust's EEI (both equal), VEI (variable volume, equal shape), EVI (equal
volume, variable shape) and VVI (both variable; scikit-learn's ``diag``). Notation: ``W_k = diag(S_k)`` and
``n = sum_k n_k``.
"""

from __future__ import annotations

import numpy as np

from ..exceptions import ILL_DEFINED, DegenerateCovarianceError
from .base import CovarianceModel, empty_components, per_component_denominator
from .iterative import volumes_and_common_shape


def _m_step_eei(stats, previous=None):
    r"""M-step of EEI: one diagonal covariance shared by all components.

    .. math::

        \Sigma = \lambda B = \frac{\operatorname{diag}\big(\sum_k S_k\big)}{n}

    Celeux & Govaert (1995), model [lambda B].
    """
    n_components = stats.means.shape[0]
    denom = per_component_denominator(stats.nk).sum()
    values = stats.scatter.sum(axis=0) / denom
    return np.tile(values, (n_components, 1))


def _m_step_vei(stats, previous=None):
    r"""M-step of VEI: variable volume, one diagonal shape for all components.

    Alternate, from the previous volumes, until the objective settles:

    .. math::

        B = \frac{\sum_k W_k / \lambda_k}{\big|\sum_k W_k / \lambda_k\big|^{1/d}},
        \qquad
        \lambda_k = \frac{\operatorname{tr}(W_k B^{-1})}{d\, n_k},
        \qquad
        \Sigma_k = \lambda_k B

    Celeux & Govaert (1995), model [lambda_k B], section 4; see
    ``_iterative.volumes_and_common_shape``.
    """
    active = ~empty_components(stats.nk)
    volume = None if previous is None else np.exp(np.log(previous).mean(axis=1))
    volume, shape = volumes_and_common_shape(
        stats.scatter, per_component_denominator(stats.nk), active, "VEI", volume
    )
    return volume[:, None] * shape


def _m_step_evi(stats, previous=None):
    r"""M-step of EVI: equal volume, each component its own diagonal shape.

    .. math::

        B_k = \frac{W_k}{|W_k|^{1/d}}, \qquad
        \lambda = \frac{\sum_k |W_k|^{1/d}}{n}, \qquad
        \Sigma_k = \lambda B_k

    Celeux & Govaert (1995), model [lambda B_k], where ``|W_k|`` is the
    product of the diagonal scatter of component ``k``.
    """
    n_features = stats.means.shape[1]
    W = stats.scatter
    empty = empty_components(stats.nk)
    with np.errstate(divide="ignore"):
        root_det = np.exp(np.log(W).sum(axis=1) / n_features)  # |W_k|^(1/d)
    if np.any(root_det[~empty] <= 0):
        raise DegenerateCovarianceError(
            f"{ILL_DEFINED} Model EVI needs every component to spread along every feature, but a "
            "component has zero variance in some feature; use a model with "
            "variable volume (VVI), fewer components, or remove constant features."
        )
    shape = np.where(empty[:, None], 1.0, W / np.where(empty, 1.0, root_det)[:, None])
    volume = root_det[~empty].sum() / per_component_denominator(stats.nk).sum()
    return volume * shape


def _m_step_vvi(stats, previous=None):
    r"""M-step of VVI: one variance per component and feature.

    .. math::

        \sigma^2_{kj} = \frac{(S_k)_{jj}}{n_k}

    Celeux & Govaert (1995), model [lambda_k B_k]; as scikit-learn's ``diag``.
    """
    denom = per_component_denominator(stats.nk)
    return stats.scatter / denom[:, None]


EEI = CovarianceModel(
    code="EEI",
    description="diagonal, equal volume and shape",
    structure="diag",
    scatter="diag",
    covariance_m_step=_m_step_eei,
    n_covariance_parameters=lambda n_components, n_features: n_features,
    coupling="pooled",
)

VEI = CovarianceModel(
    code="VEI",
    description="diagonal, variable volume, equal shape",
    structure="diag",
    scatter="diag",
    covariance_m_step=_m_step_vei,
    n_covariance_parameters=lambda n_components, n_features: n_components
    + n_features
    - 1,
    iterative=True,
)

EVI = CovarianceModel(
    code="EVI",
    description="diagonal, equal volume, variable shape",
    structure="diag",
    scatter="diag",
    covariance_m_step=_m_step_evi,
    n_covariance_parameters=lambda n_components, n_features: 1
    + n_components * (n_features - 1),
)

VVI = CovarianceModel(
    code="VVI",
    description="diagonal, variable volume and shape",
    structure="diag",
    scatter="diag",
    covariance_m_step=_m_step_vvi,
    n_covariance_parameters=lambda n_components, n_features: n_components * n_features,
    sklearn_name="diag",
    coupling="independent",
)

#: This family's models, in mclust's order.
MODELS = (EEI, VEI, EVI, VVI)
