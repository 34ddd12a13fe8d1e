"""A MAP M-step, and the registry that picks one for a model and a prior.

A :class:`MapMStep` turns statistics into the means and covariances of an
M-step in two parts: ``augment`` builds prior-augmented statistics
``(m_k, mu_hat_k, B_k)``, and ``covariances`` turns them into the model's
covariances (by default the model's own maximum-likelihood M-step, which
``conjugate.exact`` shows is then the exact MAP). mclust's M-steps
(``conjugate.mclust``) are registered by model code (``conjugate/__init__``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from ..models.base import regularise
from .exact import augmented_statistics

_MCLUST: dict[str, "MapMStep"] = {}


def _model_covariances(model, augmented, prior, reg_covar, previous):
    return model.covariance_m_step(regularise(augmented, reg_covar), previous=previous)


@dataclass(frozen=True)
class MapMStep:
    """The MAP M-step of one model.

    Attributes
    ----------
    augment : callable
        ``(stats, prior, model) -> SuffStats`` of ``(m_k, mu_hat_k, B_k)``.
    covariances : callable
        ``(model, augmented, prior, reg_covar, previous) -> covariances`` in
        the model's structure's layout.
    scale_in_objective : bool
        Whether the log-prior the update maximises has the scale's term
        (mclust's EII leaves it out).
    """

    augment: Callable = augmented_statistics
    covariances: Callable = _model_covariances
    scale_in_objective: bool = True
    model: Optional[object] = None

    def augmented(self, stats, prior):
        return self.augment(stats, prior, self.model)

    def means_and_covariances(self, stats, prior, reg_covar, previous):
        augmented = self.augment(stats, prior, self.model)
        return augmented.means, self.covariances(self.model, augmented, prior, reg_covar, previous)


def register_mclust(code, m_step):
    """Register mclust's M-step for the model ``code``."""
    if code in _MCLUST:
        raise ValueError(f"mclust's MAP M-step for {code!r} is registered twice")
    _MCLUST[code] = m_step
    return m_step


def mclust_codes():
    """The models whose MAP M-step mclust defines (it refuses the others)."""
    return list(_MCLUST)


def map_m_step(model, prior):
    """The M-step for ``model`` under ``prior``: mclust's where asked and defined, else exact."""
    # With one component mclust's routines (mvn*p) are the exact MAP.
    if prior.method == "mclust" and model.code in mclust_codes() and prior.n_components > 1:
        template = _MCLUST[model.code]
    else:
        template = MapMStep()
    return MapMStep(template.augment, template.covariances, template.scale_in_objective, model)
