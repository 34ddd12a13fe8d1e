"""The estimators: scikit-learn's plumbing over the engine (``base``) and its subclasses."""

from .base import BaseMixture
from .bayesian import BayesianGaussianMixture
from .gaussian import GaussianMixture

#: ``gaussmix.load``: read a model file (``GaussianMixture.load``).
load_model = GaussianMixture.load

__all__ = ["BaseMixture", "BayesianGaussianMixture", "GaussianMixture", "load_model"]
