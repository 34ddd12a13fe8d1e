r"""A uniform noise component beside the Gaussians (Banfield & Raftery, 1993).

Outliers and background points are modelled by one more component of
constant density ``V^{-1}`` (mclust's ``Vinv``; by default one over the
data's hypervolume, ``outliers.hypervolume``):

.. math::

    p(x) = \pi_0 V^{-1} + \sum_{k=1}^K \pi_k \mathcal N(x \mid \mu_k, \Sigma_k),
    \qquad \pi_0 + \sum_k \pi_k = 1 .

**E-step.** The noise is one more column of the log-densities,
``l_0(x) = log pi_0 - log V``, whatever ``x``. Every kernel computes it
unchanged: it is a component whose precision factor is zero (then
``||(x - mu_0) U_0||^2 = 0``) and whose log-normaliser is ``log pi_0 - log V``.
The log-sum-exp and the responsibilities ``r_i0`` of the noise then come out
of the same pass as the Gaussians'.

**M-step.** With ``n_0 = sum_i w_i r_i0`` and ``n = n_0 + sum_k n_k``,

.. math::

    \pi_0 = n_0 / n, \qquad \pi_k = n_k / n ,

and the means and covariances are the wrapped updater's M-step (maximum
likelihood or MAP) from the Gaussians' statistics alone. A model whose
covariance is pooled over components asks the kernels for every ``S_k`` and
sums the Gaussians', so that the noise's rows do not enter the pool.

The traced objective is the wrapped updater's, of the whole density: EM
never decreases the log-likelihood under the same conditions as without
noise (``updaters.ml``), since the noise's own M-step, ``pi_0 = n_0 / n``,
is exact.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from ..engine.stats import SuffStats
from ..structures import STRUCTURES
from .base import Update, Updater

#: Why a noise component's E-step cannot marginalise missing values.
NOT_WITH_MISSING = (
    "a noise component has no density for the observed part of a row with missing values "
    "(its volume is that of every feature at once): drop the rows holding NaN with "
    "nan_policy='omit', or fill them (GaussianMixture().fit(X).impute(X)) before fitting "
    "with noise."
)


def with_noise_column(inputs, noise_weight, log_density):
    """E-step inputs with the noise as a last component of zero precision.

    ``inputs`` are the Gaussians' (``engine.estep.EStepInputs``); the result
    has K + 1 components. A shared precision is given per component, since
    the noise's differs from it.
    """
    K, d = inputs.means.shape
    struct = STRUCTURES[inputs.structure]
    prec_chol, structure = np.asarray(inputs.prec_chol, dtype=np.float64), inputs.structure
    if struct.shape(K, d) == struct.shape(K + 1, d):  # one for all: give one per component
        prec_chol, structure = struct.to_full(prec_chol, K, d), "full"
    zero = np.zeros((1,) + prec_chol.shape[1:])
    with np.errstate(divide="ignore"):  # a noise weight of 0 is a log-density of -inf
        log_noise = math.log(noise_weight) if noise_weight > 0 else -math.inf
    return replace(
        inputs,
        means=np.vstack([inputs.means, inputs.centre[None, :]]),
        prec_chol=np.concatenate([prec_chol, zero]),
        log_norm=np.append(inputs.log_norm, log_noise + log_density),
        structure=structure,
        cannot_marginalize=NOT_WITH_MISSING,
    )


class NoiseComponent(Updater):
    """A uniform noise component around another updater's Gaussians.

    Parameters
    ----------
    gaussians : Updater
        The updater of the Gaussian components (``MaximumLikelihood`` or
        ``MaximumAPosteriori``), whose state is ``MixtureParams``.
    log_density : float
        ``log V^{-1}``, the noise's constant log-density.
    """

    def __init__(self, gaussians, log_density):
        self.gaussians = gaussians
        self.log_density = float(log_density)
        self.pooled = gaussians.scatter == "pooled"
        self.scatter = "full" if self.pooled else gaussians.scatter
        self.stops_on_objective = gaussians.stops_on_objective

    def estep_inputs(self, state):
        return with_noise_column(self.gaussians.estep_inputs(state), state.noise_weight, self.log_density)

    def gaussian_statistics(self, stats):
        """The statistics of the K Gaussians, in the layout their updater asks for."""
        stats = stats.to_numpy()
        K = stats.nk.shape[0] - 1
        scatter = stats.scatter[:K].sum(axis=0, keepdims=True) if self.pooled else stats.scatter[:K]
        return SuffStats(stats.nk[:K], stats.means[:K], scatter)

    def update(self, stats, previous=None):
        nk = stats.to_numpy().nk
        inner = self.gaussians.update(self.gaussian_statistics(stats), previous)
        total = nk.sum()
        state = replace(inner.state, weights=nk[:-1] / total, noise_weight=float(nk[-1] / total))
        return Update(state, inner.empty, lambda: inner.collapsed, inner.kept)

    def objective(self, loglik, weight, entering, stats, state):
        return self.gaussians.objective(loglik, weight, entering, stats, state)
