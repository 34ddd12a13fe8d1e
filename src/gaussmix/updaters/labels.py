r"""Fixed labels: maximum likelihood when some rows' components are known.

In semi-supervised EM (mclust's ``MclustSSC``) labelled rows keep the one-hot
responsibilities of their class and only the unlabelled rows get an E-step.
Their statistics ``(n_k^L, x̄_k^L, S_k^L)`` never change, so they are
computed once, and each M-step is maximum likelihood's (``updaters.ml``) on

.. math::

    \text{stats}^L \oplus \text{stats}^U(\text{E-step}),

the exact merge of ``engine.stats``. The EM driver therefore runs unchanged
over the unlabelled rows only.

The traced objective is the log-likelihood of the data with the labels
(McLachlan, 1992, ch. 2.19; mclust's ``MclustSSC``),

.. math::

    \ell = \sum_{i \in U} \log \sum_k \pi_k f_k(x_i)
         + \sum_{i \in L} \log\big(\pi_{y_i} f_{y_i}(x_i)\big),

per row over all rows. Its labelled part is a function of the fixed
statistics: with ``c_k = log pi_k + log det U_k - d/2 log 2 pi`` and
``Sigma_k^{-1} = U_k U_k^T``,

.. math::

    \sum_{i \in L,\, y_i = k} \log \pi_k f_k(x_i)
      = n_k^L c_k - \tfrac12 \operatorname{tr}\!\big(U_k^T \big(S_k^L + n_k^L
        (\bar x_k^L - \mu_k)(\bar x_k^L - \mu_k)^T\big) U_k\big),

evaluated, like the unlabelled part, at the parameters entering the
iteration. EM is a generalised EM for ``ℓ`` (the labelled rows' complete
data are observed), so the trace never falls when each M-step maximises
exactly (``reg_covar=0``), as for plain maximum likelihood.
"""

from __future__ import annotations

import numpy as np

from ..engine.estep import log_normalisers
from ..engine.stats import SuffStats, merge
from ..structures import STRUCTURES
from .base import Updater


def scatter_as(stats, kind):
    """Full-scatter statistics as the kind an M-step needs: full, diagonal or pooled."""
    if kind == "full":
        return stats
    if kind == "diag":
        return SuffStats(stats.nk, stats.means, np.diagonal(stats.scatter, axis1=1, axis2=2).copy())
    # pooled: W = sum_k S_k (kept as shape (1, d, d))
    return SuffStats(stats.nk, stats.means, stats.scatter.sum(axis=0, keepdims=True))


class FixedLabels(Updater):
    """Maximum likelihood with the statistics of labelled rows added to every M-step.

    Parameters
    ----------
    base : MaximumLikelihood
        The updater of the unlabelled rows' model (its covariance model and
        ``reg_covar``).
    labelled : SuffStats
        float64 statistics, with full scatter, of the labelled rows under
        their one-hot responsibilities (component ``k`` holds class ``k``).
    """

    def __init__(self, base, labelled):
        self.base = base
        self.scatter = base.scatter
        self.labelled_full = labelled.to_numpy()
        self.labelled = scatter_as(self.labelled_full, base.scatter)
        self.n_labelled = float(np.sum(self.labelled.nk))

    def estep_inputs(self, state):
        return self.base.estep_inputs(state)

    def update(self, stats, previous=None):
        """The M-step from the labelled statistics merged with ``stats`` (None: labelled rows only)."""
        merged = self.labelled if stats is None else merge(stats.to_numpy(), self.labelled)
        return self.base.update(merged, previous)

    def labelled_log_likelihood(self, params):
        """``sum_{i in L} log(pi_{y_i} f_{y_i}(x_i))`` under ``params``, from the fixed statistics."""
        stats = self.labelled_full
        K, d = params.means.shape
        U = STRUCTURES[params.structure].to_full(params.precisions_cholesky, K, d)
        log_norm = log_normalisers(params.weights, params.precisions_cholesky, params.structure, d)
        delta = stats.means - params.means
        moment = stats.scatter + stats.nk[:, None, None] * delta[:, :, None] * delta[:, None, :]
        quadratic = np.einsum("kij,kjl,kil->k", moment, U, U)  # tr(U^T M U)
        present = stats.nk > 0  # a class without labelled rows adds nothing (not 0 * -inf)
        terms = stats.nk * log_norm - 0.5 * quadratic
        return float(np.sum(terms[present]))

    def objective(self, loglik, weight, entering, stats, state):
        """The log-likelihood with the labels, per row, at the parameters entering the iteration."""
        total = loglik + self.labelled_log_likelihood(entering)
        return total / (weight + self.n_labelled)
