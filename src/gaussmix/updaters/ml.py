r"""Maximum likelihood: the M-step of EM with a covariance model.

From the merged statistics ``n_k = sum_i w_i r_ik``,
``x̄_k = sum_i w_i r_ik x_i / n_k`` and
``S_k = sum_i w_i r_ik (x_i - x̄_k)(x_i - x̄_k)^T`` (``engine.stats``), the
M-step shared by all models is

.. math::

    \pi_k = \frac{n_k}{\sum_j n_j}, \qquad \mu_k = \bar x_k ,

and the covariance is the model's own function of ``(n_k, x̄_k, S_k)``
(``models``), after ``reg_covar`` is added to every estimate ``S_k / n_k``
(``models.base.regularise``); for VVV it is ``Sigma_k = S_k / n_k``.

The E-step is given the log-normalisers

.. math::

    c_k = \log \pi_k + \log\det U_k - \tfrac d2 \log 2\pi ,

so that ``c_k - ||(x - mu_k) U_k||^2 / 2 = log pi_k N(x | mu_k, Sigma_k)``.

The traced objective is the weighted mean log-likelihood
``sum_i w_i log p(x_i) / sum_i w_i`` of the parameters *entering* each
iteration. EM never decreases it (Dempster, Laird & Rubin, 1977) when each
M-step maximises the expected complete-data log-likelihood: with
``reg_covar=0``, for the closed-form models, and for the iterative ones
(VEI, VEE, EVE, VVE, VEV), whose inner updates start from the previous
covariances and only improve on them. With ``reg_covar > 0`` the M-step
maximises a regularised function instead, and the trace may fall slightly
(by about 1e-5 relative on well-conditioned data, more on ill-conditioned
data). It can also fall by rounding once EM has converged.

Empty and collapsed components are handled here, once, for every model:

* a component whose total weight is numerically zero keeps its previous
  mean and, where its covariance depends on nothing else
  (``model.coupling == "independent"``), its previous covariance: any value
  maximises its term of the EM objective, so the log-likelihood stays
  monotone and every parameter finite. In the other models it takes what
  the shared part of the M-step gives, so that the constraints still hold;
* a covariance singular but for ``reg_covar`` is reported as collapsed;
* a covariance singular outright (``reg_covar=0``, a component on a single
  row or on identical rows) cannot be inverted. Where the component's
  covariance depends on nothing else and there is a previous one, it keeps
  that one, as an empty component does, and is reported as kept: its term
  of the objective still does not fall, since its mean still moves to the
  weighted mean of its rows. Otherwise (the start, or a model that couples
  the components) the fit fails with ``DegenerateCovarianceError``, as
  scikit-learn's does.
"""

from __future__ import annotations

import functools

import numpy as np

from ..engine.estep import EStepInputs, log_normalisers
# The module, not the name: engine.stretch imports this package (its states).
from ..engine import stretch
from ..exceptions import DegenerateCovarianceError
from ..models.base import empty_components, regularise
from ..structures import STRUCTURES
from .base import MixtureParams, Update, Updater


def mixture_centre(weights, means):
    """``sum_k pi_k mu_k``: the pass's centre, about which kernels may expand products."""
    return np.asarray(weights, dtype=np.float64) @ np.ascontiguousarray(means, dtype=np.float64)


def estep_inputs(params):
    """The E-step's inputs for point estimates ``params`` (``MixtureParams``)."""
    n_features = params.means.shape[1]
    return EStepInputs(
        means=params.means,
        prec_chol=params.precisions_cholesky,
        log_norm=log_normalisers(params.weights, params.precisions_cholesky, params.structure, n_features),
        structure=params.structure,
        centre=mixture_centre(params.weights, params.means),
    )


class MaximumLikelihood(Updater):
    """The maximum-likelihood M-step of a covariance model.

    Parameters
    ----------
    model : CovarianceModel
    reg_covar : float
        Added to the diagonal of every covariance estimate ``S_k / n_k``
        before the model's constraints.
    """

    def __init__(self, model, reg_covar):
        self.model = model
        self.reg_covar = reg_covar
        self.scatter = model.scatter

    def estep_inputs(self, state):
        return estep_inputs(state)

    def ordinary_m_step(self):
        # A subclass changes the update or the objective: it opts in itself.
        return (self.model.code, self.reg_covar) if type(self) is MaximumLikelihood else None

    def ordinary_update(self, stats, state):
        """The :class:`Update` of an ordinary M-step made elsewhere (``engine.stretch``): ``state`` from ``stats``.

        Ordinary: no component of ``stats`` is empty and every covariance
        factorised, so no policy of :meth:`update` changes it; only which
        components collapsed is left to find (lazily, as :meth:`update` does).
        """
        return Update(state, np.zeros(len(stats.nk), dtype=bool), functools.partial(self.collapsed, stats))

    #: Whether an empty component keeps its previous mean (and covariance,
    #: where it depends on nothing else): maximum likelihood has nothing
    #: else to give it.
    keeps_empty = True

    def means_and_covariances(self, stats, previous):
        """The M-step's means and covariances from float64 statistics on the host."""
        covariances = self.model.covariance_m_step(
            regularise(stats, self.reg_covar),
            previous=None if previous is None else previous.covariances,
        )
        return stats.means, covariances

    def collapsed(self, stats):
        """Components whose covariance is singular but for ``reg_covar``."""
        model, nk = self.model, stats.nk
        struct = STRUCTURES[model.structure]
        if model.coupling == "pooled":
            pooled = stats.scatter.sum(axis=0, keepdims=True)
            return np.repeat(struct.collapsed(pooled, [nk.sum()], self.reg_covar), len(nk))
        return struct.collapsed(stats.scatter, nk, self.reg_covar) & ~empty_components(nk)

    def update(self, stats, previous=None):
        model = self.model
        stats = stats.to_numpy()
        if previous is None and self.ordinary_m_step() is not None:
            # A start: compiled, as the stretch makes the M-steps after it,
            # where that is ordinary (no policy below would change it).
            state = stretch.compiled_m_step(model.code, self.reg_covar, stats, model.structure, self.scatter)
            if state is not None:
                return Update(state, np.zeros(len(stats.nk), dtype=bool), functools.partial(self.collapsed, stats))
        nk = stats.nk
        struct = STRUCTURES[model.structure]
        empty = empty_components(nk)
        weights = nk / nk.sum()
        means, covariances = self.means_and_covariances(stats, previous)
        if self.keeps_empty and previous is not None and empty.any():
            means = means.copy()
            means[empty] = previous.means[empty]
            if model.coupling == "independent":
                covariances = struct.keep_components(covariances, previous.covariances, empty)
        collapsed = functools.partial(self.collapsed, stats)  # read for the last update only
        kept = None
        try:
            prec_chol = struct.prec_chol_from_cov(covariances)
        except DegenerateCovarianceError:
            # Looked for only when the factorisation fails: a per-component
            # search costs more than the rest of a small M-step.
            if previous is None or model.coupling != "independent":
                raise
            kept = struct.singular(covariances) & ~empty
            if not kept.any():
                raise
            covariances = struct.keep_components(covariances, previous.covariances, kept)
            prec_chol = struct.prec_chol_from_cov(covariances)
        state = MixtureParams(weights, means, covariances, prec_chol, model.structure)
        return Update(state, empty, collapsed, kept)

    def objective(self, loglik, weight, entering, stats, state):
        return loglik / weight
