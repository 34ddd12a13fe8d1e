"""The covariance models: a registry keyed by mclust code.

Each family module (``spherical``, ``diagonal``, ``ellipsoidal``) defines its
models and lists them in ``MODELS``; they are registered here, in mclust's
order. Adding a model on an existing structure touches one family module.
scikit-learn's names are aliases: ``full`` = VVV, ``tied`` = EEE,
``diag`` = VVI, ``spherical`` = VII.
"""

from __future__ import annotations

from . import diagonal, ellipsoidal, spherical
from .base import CovarianceModel
from .registry import available_models, get_model, register, sklearn_names

for _family in (spherical, diagonal, ellipsoidal):
    for _model in _family.MODELS:
        register(_model)
del _family, _model

__all__ = ["CovarianceModel", "register", "get_model", "available_models", "sklearn_names"]
