r"""Maximum a posteriori: EM with a conjugate prior on the means and covariances.

The E-step is maximum likelihood's (``updaters.ml``). The M-step keeps
``pi_k = n_k / n`` (the proportions have no prior) and takes the means and
covariances from the prior's M-step for the model (``conjugate``): mclust's
(``method="mclust"``) or the exact MAP (``"exact"``), which maximises

.. math::

    \sum_i w_i \sum_k r_{ik} \log \pi_k \mathcal N(x_i \mid \mu_k, \Sigma_k)
    + \log p(\mu, \Sigma).

The traced objective is the penalised log-likelihood
``(sum_i w_i log p(x_i) + log p(mu, Sigma)) / sum_i w_i`` of the parameters
entering each iteration; EM stops when the mean log-likelihood (without
the prior) changes by less than ``tol``, as mclust's stops. EM never decreases it, with ``reg_covar=0``, when
every M-step maximises it: always with ``method="exact"``, and with
mclust's M-steps for E, V, EII, VII, VVI, EEE, VVV and the four models
mclust refuses (for EII the log-prior then leaves out its scale's term, as
mclust's update does). mclust's EEI, VEI, EVI, EEV and VEV updates maximise
no such function, and the objective can fall (``docs/map-em.md``).

Weights count as repeated rows: the prior weighs as much whatever the
data's size, so the fit depends on the weights' scale.
"""

from __future__ import annotations

from ..conjugate import log_prior, map_m_step
from ..models.base import empty_components
from .ml import MaximumLikelihood


class MaximumAPosteriori(MaximumLikelihood):
    """The MAP M-step of a covariance model under a conjugate prior.

    Parameters
    ----------
    model : CovarianceModel
    reg_covar : float
        Added to the diagonal of every covariance estimate, as in maximum
        likelihood (the prior usually makes it unnecessary: 0 is safe).
    prior : conjugate.ResolvedPrior
    """

    #: An empty component takes the prior's mode, not its previous values.
    keeps_empty = False

    #: EM stops when the mean log-likelihood settles, as mclust's does; the
    #: penalised one is traced.
    stops_on_objective = False

    def __init__(self, model, reg_covar, prior):
        super().__init__(model, reg_covar)
        self.prior = prior
        self._m_step = map_m_step(model, prior)

    def means_and_covariances(self, stats, previous):
        return self._m_step.means_and_covariances(
            stats, self.prior, self.reg_covar, None if previous is None else previous.covariances
        )

    def collapsed(self, stats):
        """None collapse: the prior's scale keeps every covariance away from singular."""
        return super().collapsed(self._m_step.augmented(stats, self.prior)) & ~empty_components(stats.nk)

    def objective(self, loglik, weight, entering, stats, state):
        penalty = log_prior(entering, self.prior, self.model, scale=self._m_step.scale_in_objective)
        return (loglik + penalty) / weight
