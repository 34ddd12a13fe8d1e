"""Conjugate priors: MAP EM for every covariance model.

``prior`` holds :class:`ConjugatePrior` and mclust's defaults, ``exact`` the
exact MAP M-step and log-prior of any model, ``mclust`` mclust's own M-steps
(with their departures from the exact MAP), registered by model code.
"""

from __future__ import annotations

from . import mclust
from .exact import log_prior
from .mstep import MapMStep, map_m_step, mclust_codes, register_mclust
from .prior import METHODS, ConjugatePrior, ResolvedPrior, as_prior, resolve

for _code, _step in mclust.M_STEPS.items():
    register_mclust(_code, _step)

__all__ = ["METHODS", "ConjugatePrior", "ResolvedPrior", "MapMStep", "as_prior", "log_prior", "map_m_step", "mclust_codes", "resolve"]
