"""Figures of Gaussian mixtures, with matplotlib (``pip install 'gaussmix[plot]'``).

Every function draws on a given ``ax`` (or makes a new figure without
pyplot, so no display is needed) and returns the figure. Nothing in the rest
of gaussmix imports this package at import time: ``plotting.base`` holds
what every figure shares, ``plotting.mixtures`` the figures of one fitted
mixture, ``plotting.inference`` those of a classifier and of the bootstrap
test.
"""

from .base import NOISE_COLOR, save_figure
from .inference import marginal_log_density, plot_bootstrap_lrt, plot_classifier
from .mixtures import (elongated_clusters, plot_clusters, plot_criterion, plot_density, plot_imputation,
                       plot_kmeans_vs_gmm, plot_loglik, plot_outliers, plot_pairs, plot_uncertainty)

__all__ = [
    "NOISE_COLOR", "save_figure", "marginal_log_density", "plot_bootstrap_lrt", "plot_classifier",
    "elongated_clusters", "plot_clusters", "plot_criterion", "plot_density", "plot_imputation",
    "plot_kmeans_vs_gmm", "plot_loglik", "plot_outliers", "plot_pairs", "plot_uncertainty",
]
