r"""Information criteria of a fitted mixture: BIC, AIC and ICL from one pass over the data.

With ``log L = sum_i w_i log p(x_i)``, ``p`` free parameters (counted as
mclust counts them) and ``n`` rows (the total weight with sample weights):

.. math::

    \mathrm{BIC} = -2 \log L + p \log n, \qquad
    \mathrm{AIC} = -2 \log L + 2 p, \qquad
    \mathrm{ICL} = \mathrm{BIC} - 2 \sum_i w_i \log \max_k r_{ik} .

Lower is better. mclust reports ``2 log L - p log n``, the negative of BIC,
and likewise for ICL. ``estimator.criteria(X)`` returns a :class:`Criteria`
(every estimator of ``gaussmix.estimators`` has it); ``select``, the command
line and the plots read these.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Criteria:
    """The terms of the information criteria, and the criteria themselves.

    Attributes
    ----------
    log_likelihood : float
        ``sum_i w_i log p(x_i)``.
    log_map : float
        ``sum_i w_i log max_k r_ik``, the hard assignments' log-probability.
    n_samples : float
        The number of rows, or the total weight.
    n_parameters : int
        Free parameters of the model.
    """

    log_likelihood: float
    log_map: float
    n_samples: float
    n_parameters: int

    @property
    def bic(self):
        """``-2 log L + p log n``."""
        return -2.0 * self.log_likelihood + self.n_parameters * math.log(self.n_samples)

    @property
    def aic(self):
        """``-2 log L + 2 p``."""
        return -2.0 * self.log_likelihood + 2.0 * self.n_parameters

    @property
    def icl(self):
        """``BIC - 2 sum_i w_i log max_k r_ik``."""
        return self.bic - 2.0 * self.log_map

    @property
    def score(self):
        """The mean log-likelihood per row (per unit of weight)."""
        return self.log_likelihood / self.n_samples

    def to_dict(self):
        """Every term and criterion, as a dict of Python numbers."""
        out = asdict(self)
        out.update(bic=self.bic, aic=self.aic, icl=self.icl, score=self.score)
        return out


__all__ = ["Criteria"]
