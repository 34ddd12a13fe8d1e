"""Updaters: the mathematics between two passes over the data (see ``updaters.base``)."""

from .base import MixtureParams, Update, Updater
from .labels import FixedLabels
from .map import MaximumAPosteriori
from .ml import MaximumLikelihood
from .noise import NoiseComponent

__all__ = ["MixtureParams", "Update", "Updater", "MaximumLikelihood", "MaximumAPosteriori", "NoiseComponent",
           "FixedLabels"]
