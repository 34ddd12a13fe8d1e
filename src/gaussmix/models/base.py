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
        ``"shared"``, ``"diag"`` or ``"spherical"`` (see ``structures``).
    scatter : str
        Which statistics the M-step needs: ``"full"`` or ``"diag"`` scatter
        per component, or only their sum (``"pooled"``).
    covariance_m_step : callable
        ``(stats, previous=None) -> covariances`` in the layout of
        ``structure``, from float64 :class:`~gaussmix._stats.SuffStats` on the
        host, whose scatter already carries ``reg_covar`` (see
        :func:`regularise`). ``previous`` holds the covariances entering the step (same
        layout, or None); iterative M-steps start from it so that the step
        can only improve on it, closed forms need not look at it.
    n_covariance_parameters : callable
        ``(n_components, n_features) -> int``, counted as mclust counts.
    sklearn_name : str or None
        scikit-learn's name for the same model, if it has one.
    univariate : bool
        True for mclust's one-dimensional models E and V, which only take
        data with one feature.
    coupling : {"independent", "pooled", "coupled"}
        How components' covariances depend on the statistics:
        ``"independent"`` (each on its own scatter only: VVV, VVI, VII, V),
        ``"pooled"`` (one estimate from the pooled scatter: EII, EEI, EEE, E)
        or ``"coupled"`` (a shared volume, shape or orientation, but each
        component's own scatter must be non-singular). It decides what an
        empty component keeps and which scatter a collapse is judged on.
    iterative : bool
        True where the M-step has no closed form and iterates to its
        optimum (mclust's VEI, VEE, EVE, VVE and VEV; ``models.iterative``):
        compiled inner loops, which as plain Python cost far more than a
        pass at moderate d (``compiled.worth_loading``).
    """

    code: str
    description: str
    structure: str
    scatter: str
    covariance_m_step: Callable = field(repr=False)
    n_covariance_parameters: Callable = field(repr=False)
    sklearn_name: Optional[str] = None
    univariate: bool = False
    coupling: str = "coupled"
    iterative: bool = False

    def n_parameters(self, n_components, n_features):
        """Free parameters: covariances + means + (K - 1) mixing weights."""
        return (
            self.n_covariance_parameters(n_components, n_features)
            + n_components * n_features
            + n_components
            - 1
        )


#: scikit-learn's 10 eps (a module constant: np.finfo costs a microsecond a call).
_TEN_EPS = 10.0 * float(np.finfo(np.float64).eps)


def regularise(stats, reg_covar):
    """Add ``reg_covar`` times each denominator to the diagonal of every scatter ``S_k``.

    The models divide ``S_k`` by :func:`per_component_denominator`
    (``n_k + 10 eps``; a pooled scatter by their sum), so every covariance
    estimate thereby gains ``reg_covar`` on its diagonal *before* a model
    imposes its constraints: the volume, shape and orientation
    decompositions stay defined for a component seeded on a single row, and
    a component with no weight at all gets ``reg_covar I``, as in
    scikit-learn. For the unconstrained models this equals adding
    ``reg_covar`` to the estimate afterwards, as scikit-learn does.
    """
    scatter = np.array(stats.scatter, dtype=np.float64, copy=True)
    if reg_covar == 0:  # select's default: 3 us of a small EM iteration saved
        return type(stats)(stats.nk, stats.means, scatter)
    extra = reg_covar * per_component_denominator(np.asarray(stats.nk, dtype=np.float64))
    if scatter.ndim == 3:
        idx = np.arange(scatter.shape[-1])
        if scatter.shape[0] != extra.shape[0]:  # pooled: the sum of the S_k
            extra = extra.sum(keepdims=True)
        scatter[:, idx, idx] += extra[:, None]
    else:
        scatter += extra[:, None]
    return type(stats)(stats.nk, stats.means, scatter)


def empty_components(nk):
    """Components whose share of the total weight is numerically zero, as a bool mask.

    Relative to the total, so that scaling every weight changes nothing.
    """
    nk = np.asarray(nk)
    return nk <= _TEN_EPS * float(nk.sum())


def per_component_denominator(nk):
    """``n_k`` plus scikit-learn's 10 eps, so that an empty component divides by > 0.

    Absolute, as in scikit-learn: the estimators hand the models weights
    scaled so that the largest lies in [1, 2) (``validation.scaled_weights``)
    and stepwise EM statistics per unit of weight, so 10 eps stays 10 eps
    of the weight of one row, whatever the user's scale.
    """
    return nk + _TEN_EPS
