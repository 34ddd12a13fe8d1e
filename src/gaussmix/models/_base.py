"""What a covariance model is: a code, a structure, an M-step and a count."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np


@dataclass(frozen=True)
class CovarianceModel:
    """One covariance model of a Gaussian mixture.

    Attributes
    ----------
    code : str
        mclust's code, for example ``"VVV"``.
    description : str
        One line: volume, shape and orientation of the components.
    structure : str
        How the covariances are stored and used by the E-step: ``"full"``,
        ``"shared"``, ``"diag"`` or ``"spherical"`` (see ``_structures``).
    scatter : str
        Which statistics the M-step needs: ``"full"`` or ``"diag"`` scatter.
    covariance_m_step : callable
        ``(stats, reg_covar) -> covariances`` in the layout of ``structure``,
        from float64 :class:`~gaussmix._stats.SuffStats` on the host.
    n_covariance_parameters : callable
        ``(n_components, n_features) -> int``, counted as mclust counts.
    sklearn_name : str or None
        scikit-learn's name for the same model, if it has one.
    """

    code: str
    description: str
    structure: str
    scatter: str
    covariance_m_step: Callable = field(repr=False)
    n_covariance_parameters: Callable = field(repr=False)
    sklearn_name: Optional[str] = None

    def n_parameters(self, n_components, n_features):
        """Free parameters: covariances + means + (K - 1) mixing weights."""
        return (
            self.n_covariance_parameters(n_components, n_features)
            + n_components * n_features
            + n_components
            - 1
        )


def add_to_diagonal(cov, value):
    """Return ``cov + value * I`` for one (d, d) or a stack (K, d, d) of matrices."""
    cov = np.array(cov, dtype=np.float64, copy=True)
    idx = np.arange(cov.shape[-1])
    cov[..., idx, idx] += value
    return cov


def empty_components(nk):
    """Components whose total weight is numerically zero, as a bool mask."""
    nk = np.asarray(nk)
    return nk <= 10.0 * np.finfo(np.float64).eps * max(float(nk.sum()), 1.0)


def per_component_denominator(nk):
    """nk plus scikit-learn's 10 eps, so that an empty component divides by > 0."""
    return nk + 10.0 * np.finfo(np.float64).eps
