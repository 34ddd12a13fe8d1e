"""The registry of covariance models, keyed by mclust code.

scikit-learn's names are aliases: ``full`` = VVV, ``tied`` = EEE,
``diag`` = VVI, ``spherical`` = VII.
"""

from __future__ import annotations

from .base import CovarianceModel

_REGISTRY: dict[str, CovarianceModel] = {}
_SKLEARN_ALIASES: dict[str, str] = {}


def register(model):
    """Add a model to the registry (``gaussmix.models`` registers the 14 of mclust and E, V)."""
    if model.code in _REGISTRY:
        raise ValueError(f"covariance model {model.code!r} is registered twice")
    _REGISTRY[model.code] = model
    if model.sklearn_name is not None:
        _SKLEARN_ALIASES[model.sklearn_name] = model.code
    return model


def get_model(name):
    """Look up a model by mclust code or scikit-learn name.

    Returns
    -------
    model : CovarianceModel
    is_sklearn_name : bool
        True when ``name`` is one of scikit-learn's names, whose fitted
        attributes keep scikit-learn's shapes.
    """
    if isinstance(name, str):
        if name in _SKLEARN_ALIASES:
            return _REGISTRY[_SKLEARN_ALIASES[name]], True
        if name in _REGISTRY:
            return _REGISTRY[name], False
    raise ValueError(
        f"covariance_type={name!r} is not a known covariance model; choose one of "
        f"{sorted(_SKLEARN_ALIASES)} (scikit-learn's names) or the mclust codes "
        f"{list(_REGISTRY)}."
    )


def available_models(n_features=None):
    """The registered mclust codes, in mclust's order.

    With ``n_features=1``, mclust's univariate models (E, V); with more
    features, the multivariate ones; with None, all.
    """
    if n_features is None:
        return list(_REGISTRY)
    univariate = n_features == 1
    return [code for code, m in _REGISTRY.items() if m.univariate == univariate]


def sklearn_names():
    """scikit-learn's covariance names that the registry knows."""
    return list(_SKLEARN_ALIASES)
