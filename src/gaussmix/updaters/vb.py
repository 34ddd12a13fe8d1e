r"""Variational Bayes: the updater of a Bayesian Gaussian mixture (Bishop, 2006, ch. 10.2).

The prior is a Dirichlet distribution (or a Dirichlet process, in its
stick-breaking form) on the weights and a Gauss-Wishart distribution on each
component's mean and precision: ``mu_k | Lambda_k ~ N(m_0, (beta_0 Lambda_k)^-1)``,
``Lambda_k ~ W(W_0, nu_0)`` with ``W_0^-1`` the covariance prior. The
posterior is of the same form. From the merged statistics
``(n_k, x̄_k, S_k)`` (``engine.stats``) and ``s_k`` (scikit-learn's covariance
estimate ``S_k / n_k + reg_covar``) the update is

.. math::

    \alpha_k = \alpha_0 + n_k, \quad
    \beta_k = \beta_0 + n_k, \quad
    m_k = \frac{\beta_0 m_0 + n_k \bar x_k}{\beta_k}, \quad
    \nu_k = \nu_0 + n_k,

    \nu_k \Sigma_k = W_0^{-1} + n_k s_k
        + \frac{\beta_0 n_k}{\beta_k} (\bar x_k - m_0)(\bar x_k - m_0)^T ,

(the tied, diagonal and spherical forms follow scikit-learn's), and for a
Dirichlet process ``(1 + n_k, \alpha_0 + \sum_{j > k} n_j)``. The E-step is
the usual one, given the expected log-normalisers

.. math::

    c_k = E[\log \pi_k] + \log\det U_k - \tfrac d2 \log 2\pi - \tfrac d2 \log \nu_k
          + \tfrac12 \Big(d \log 2 + \sum_{j=0}^{d-1} \psi\big(\tfrac{\nu_k - j}{2}\big)
          - \tfrac{d}{\beta_k}\Big),

with ``U_k`` the Cholesky factor of ``Sigma_k^{-1} = nu_k W_k``, so that
``c_k - ||(x - m_k) U_k||^2 / 2 = E[log pi_k + log N(x | mu_k, Lambda_k)]``.
The traced objective is scikit-learn's lower bound (without its constant
terms) of the new posterior against the responsibilities of the E-step that
preceded it; its entropy term ``-sum_ik w_i r_ik log r_ik`` comes from the
statistics, since ``log r_ik = c_k - q_ik / 2 - log p(x_i)`` and
``sum_i w_i r_ik q_ik = tr(Lambda_k S_k) + n_k (x̄_k - m_k)^T Lambda_k (x̄_k - m_k)``.
Each iteration raises the bound (coordinate ascent), so it never decreases.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import betaln, digamma, gammaln

from ..engine.estep import EStepInputs
from ..models.base import per_component_denominator
from ..structures import STRUCTURES
from .base import MixtureParams, Update, Updater
from .ml import mixture_centre

#: scikit-learn's covariance types and their precision structures.
VB_STRUCTURES = {"full": "full", "tied": "shared", "diag": "diag", "spherical": "spherical"}


@dataclass
class Priors:
    """The prior's hyper-parameters (scikit-learn's ``*_prior_`` attributes)."""

    weight_concentration: float
    mean_precision: float
    mean: np.ndarray
    degrees_of_freedom: float
    covariance: object  # (d, d), (d,) or a number, by covariance type
    process: bool  # a Dirichlet process (else a Dirichlet distribution)


@dataclass
class Posterior:
    """The variational posterior, and its point estimates (``params``)."""

    weight_concentration: object  # (K,), or a pair of (K,) arrays for a process
    mean_precision: np.ndarray
    degrees_of_freedom: object  # (K,), or a number for tied
    params: MixtureParams


def expected_log_weights(concentration, process):
    """``E[log pi_k]`` under the Dirichlet (process) posterior."""
    if process:
        a, b = concentration
        digamma_sum = digamma(a + b)
        return digamma(a) - digamma_sum + np.hstack((0, np.cumsum(digamma(b) - digamma_sum)[:-1]))
    return digamma(concentration) - digamma(np.sum(concentration))


def point_weights(concentration, process):
    """The posterior's expected weights, as scikit-learn publishes them."""
    if process:
        a, b = concentration
        total = a + b
        weights = a / total * np.hstack((1, np.cumprod(b / total)[:-1]))
        return weights / np.sum(weights)
    return concentration / np.sum(concentration)


class VariationalBayes(Updater):
    """The variational update of a Bayesian Gaussian mixture (see the module docstring).

    Parameters
    ----------
    covariance_type : {"full", "tied", "diag", "spherical"}
    priors : Priors
    reg_covar : float
    """

    def __init__(self, covariance_type, priors, reg_covar):
        self.covariance_type = covariance_type
        self.structure = VB_STRUCTURES[covariance_type]
        self.priors = priors
        self.reg_covar = reg_covar
        self.scatter = {"full": "full", "tied": "pooled"}.get(covariance_type, "diag")

    # -- the E-step ------------------------------------------------------------
    def estep_inputs(self, state):
        # The objective asks again for the state the E-step ran under: kept.
        cached = getattr(self, "_inputs_of", None)
        if cached is not None and cached[0] is state:
            return cached[1]
        inputs = self._estep_inputs(state)
        self._inputs_of = (state, inputs)
        return inputs

    def _estep_inputs(self, state):
        params = state.params
        K, d = params.means.shape
        log_det = STRUCTURES[self.structure].log_det_prec_chol(params.precisions_cholesky, K, d)
        nu = np.broadcast_to(np.asarray(state.degrees_of_freedom, dtype=np.float64), (K,))
        log_lambda = d * math.log(2.0) + np.sum(digamma(0.5 * (nu - np.arange(d)[:, None])), axis=0)
        log_norm = (
            expected_log_weights(state.weight_concentration, self.priors.process)
            + log_det - 0.5 * d * math.log(2.0 * math.pi) - 0.5 * d * np.log(nu)
            + 0.5 * (log_lambda - d / state.mean_precision)
        )
        return EStepInputs(params.means, params.precisions_cholesky, log_norm, self.structure,
                           mixture_centre(params.weights, params.means))

    # -- the update ------------------------------------------------------------
    def update(self, stats, previous=None):
        stats = stats.to_numpy()
        p = self.priors
        nk = per_component_denominator(stats.nk)  # scikit-learn's n_k + 10 eps
        xk = stats.nk[:, None] * stats.means / nk[:, None]
        sk = self._covariance_estimates(stats, nk)
        if p.process:
            concentration = (1.0 + nk, p.weight_concentration + np.hstack((np.cumsum(nk[::-1])[-2::-1], 0)))
        else:
            concentration = p.weight_concentration + nk
        beta = p.mean_precision + nk
        means = (p.mean_precision * p.mean + nk[:, None] * xk) / beta[:, None]
        nu, covariances = self._wishart(nk, xk, sk, beta)
        struct = STRUCTURES[self.structure]
        params = MixtureParams(point_weights(concentration, p.process), means, covariances,
                               struct.prec_chol_from_cov(covariances), self.structure)
        K = len(nk)
        return Update(Posterior(concentration, beta, nu, params), np.zeros(K, bool), np.zeros(K, bool))

    def _covariance_estimates(self, stats, nk):
        """scikit-learn's ``S_k / n_k + reg_covar`` in the covariance type's layout."""
        reg = self.reg_covar
        if self.covariance_type == "full":
            d = stats.means.shape[1]
            return stats.scatter / nk[:, None, None] + reg * np.eye(d)
        if self.covariance_type == "tied":
            d = stats.means.shape[1]
            return stats.scatter[0] / nk.sum() + reg * np.eye(d)
        diag = stats.scatter / nk[:, None] + reg
        return diag if self.covariance_type == "diag" else diag.mean(axis=1)

    def _wishart(self, nk, xk, sk, beta):
        """``(nu, Sigma)``: the Wishart posterior's degrees of freedom and its normalised scale."""
        p = self.priors
        diff = xk - p.mean
        shrink = p.mean_precision / beta
        if self.covariance_type == "full":
            nu = p.degrees_of_freedom + nk
            cov = (p.covariance + nk[:, None, None] * sk
                   + (nk * shrink)[:, None, None] * diff[:, :, None] * diff[:, None, :])
            return nu, cov / nu[:, None, None]
        if self.covariance_type == "tied":
            K = len(nk)
            nu = p.degrees_of_freedom + nk.sum() / K
            cov = (p.covariance + sk * nk.sum() / K
                   + p.mean_precision / K * np.dot((nk / beta) * diff.T, diff))
            return nu, cov / nu
        nu = p.degrees_of_freedom + nk
        if self.covariance_type == "diag":
            cov = p.covariance + nk[:, None] * (sk + shrink[:, None] * np.square(diff))
            return nu, cov / nu[:, None]
        cov = p.covariance + nk * (sk + shrink * np.mean(np.square(diff), axis=1))
        return nu, cov / nu

    # -- the objective -----------------------------------------------------------
    def objective(self, loglik, weight, entering, stats, state):
        d = state.params.means.shape[1]
        entropy = -self._sum_r_log_r(loglik, entering, stats.to_numpy())
        return entropy + self._log_prior_terms(state, d)

    def _sum_r_log_r(self, loglik, entering, stats):
        """``sum_ik w_i r_ik log r_ik`` of the E-step under ``entering``, from the statistics."""
        inputs = self.estep_inputs(entering)
        K, d = inputs.means.shape
        struct = STRUCTURES[self.structure]
        precision = struct.to_full(struct.precision_from_prec_chol(inputs.prec_chol), K, d)
        delta = stats.means - inputs.means
        if stats.scatter.ndim == 2:  # diagonal scatters
            trace = np.einsum("kjj,kj->", precision, stats.scatter)
        elif stats.scatter.shape[0] == 1:  # the pooled scatter, under the shared precision
            trace = np.einsum("ij,ji->", precision[0], stats.scatter[0])
        else:
            trace = np.einsum("kij,kji->", precision, stats.scatter)
        quadratic = trace + np.sum(stats.nk * np.einsum("ki,kij,kj->k", delta, precision, delta))
        return float(np.sum(stats.nk * inputs.log_norm) - 0.5 * quadratic - loglik)

    def _log_prior_terms(self, state, d):
        """scikit-learn's lower bound less the entropy term (its constants dropped)."""
        params = state.params
        K = params.means.shape[0]
        nu = state.degrees_of_freedom
        log_det = (STRUCTURES[self.structure].log_det_prec_chol(params.precisions_cholesky, K, d)
                   - 0.5 * d * np.log(nu))
        if self.covariance_type == "tied":
            log_wishart = K * float(np.squeeze(_log_wishart_norm(nu, log_det[0], d)))
        else:
            log_wishart = float(np.sum(_log_wishart_norm(nu, log_det, d)))
        if self.priors.process:
            log_norm_weight = -float(np.sum(betaln(*state.weight_concentration)))
        else:
            alpha = state.weight_concentration
            log_norm_weight = float(gammaln(np.sum(alpha)) - np.sum(gammaln(alpha)))
        return -log_wishart - log_norm_weight - 0.5 * d * float(np.sum(np.log(state.mean_precision)))


def _log_wishart_norm(nu, log_det_prec_chol, d):
    """The log normaliser of the Wishart posterior, without its log(pi) term."""
    nu = np.asarray(nu, dtype=np.float64)
    return -(nu * log_det_prec_chol + nu * d * 0.5 * math.log(2.0)
             + np.sum(gammaln(0.5 * (nu - np.arange(d)[:, None])), axis=0))
