"""The estimators: scikit-learn's plumbing over the engine (``base``) and its subclasses."""

from .base import BaseMixture
from .gaussian import GaussianMixture
from .persistence import load_model

__all__ = ["BaseMixture", "GaussianMixture", "load_model"]
