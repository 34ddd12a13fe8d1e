r"""The exact MAP M-step of every covariance model, as a maximum-likelihood M-step on prior-augmented statistics.

With the conjugate prior of ``conjugate.prior``, the M-step maximises the
expected complete-data log-likelihood plus the log-prior. For any
covariances the best mean is

.. math::

    \hat\mu_k = \frac{n_k \bar x_k + \kappa_P \mu_P}{n_k + \kappa_P},

and substituting it leaves, for each component, a function of the
covariance alone of the same form as maximum likelihood's,

.. math::

    -\tfrac12 m_k \log|\Sigma_k| - \tfrac12 \operatorname{tr}(\Sigma_k^{-1} B_k),

with the *augmented* count and scatter

.. math::

    m_k = n_k + [\kappa_P > 0] + a, \qquad
    B_k = S_k + \frac{\kappa_P n_k}{\kappa_P + n_k}
          (\bar x_k - \mu_P)(\bar x_k - \mu_P)^T + L ,

where the covariance prior contributes ``a`` and ``L``: ``nu_P + d + 1``
and ``Lambda_P`` for the inverse-Wishart of the ellipsoidal models;
``nu_P + 2`` and ``varsigma_P^2 I`` for an inverse-gamma on each variance
of a diagonal model; ``(nu_P + 2) / d`` and ``varsigma_P^2 I / d`` for one
on the variance of a spherical model (``m_k`` counts in units of
``log |Sigma_k|``). A model whose components share one covariance (EII,
EEI, EEE, E) has one covariance prior, so ``a`` and ``L`` enter the sums
once. Every model's maximum-likelihood M-step depends on the data only
through ``(n_k, S_k)`` in exactly this form, so the same function, given
``(m_k, B_k)``, returns the exact MAP covariances, with all the model's
constraints; the iterative ones (VEI, VEE, EVE, VVE, VEV, EVV's orientation
search) still start from the previous covariances and only improve on
them. ``docs/map-em.md`` gives the derivation.

An empty component (``n_k = 0``) gets the prior's mode, ``mu_P`` and
``L / m_k``, where maximum likelihood has nothing to go on.
"""

from __future__ import annotations

import numpy as np
from scipy import stats as distributions

from ..engine.stats import SuffStats
from ..structures import STRUCTURES


def shrunk_means(stats, prior):
    """``(n_k x̄_k + kappa_P mu_P) / (n_k + kappa_P)``; the plain means when ``kappa_P = 0``."""
    if prior.shrinkage == 0.0:
        return stats.means
    nk = stats.nk[:, None]
    return (nk * stats.means + prior.shrinkage * prior.mean) / (nk + prior.shrinkage)


def shrinkage_scatter(stats, prior, kind):
    """``kappa_P n_k / (kappa_P + n_k) (x̄_k - mu_P)(x̄_k - mu_P)^T`` in the layout of ``kind``.

    ``kind`` is ``"full"`` (K, d, d), ``"diag"`` (K, d) or ``"pooled"``
    (their sum, (1, d, d)).
    """
    K, d = stats.means.shape
    if prior.shrinkage == 0.0:
        return np.zeros((K, d) if kind == "diag" else ((1 if kind == "pooled" else K), d, d))
    factor = prior.shrinkage * stats.nk / (prior.shrinkage + stats.nk)
    delta = stats.means - prior.mean
    if kind == "diag":
        return factor[:, None] * delta**2
    outer = factor[:, None, None] * delta[:, :, None] * delta[:, None, :]
    return outer.sum(axis=0, keepdims=True) if kind == "pooled" else outer


def covariance_prior_terms(prior, n_features):
    """``(a, L)`` of the covariance prior: its count and scatter, per covariance.

    ``L`` is a (d, d) matrix for the ellipsoidal family and a (d,) diagonal
    otherwise.
    """
    nu, d = prior.dof, n_features
    if prior.family == "ellipsoidal":
        return nu + d + 1.0, np.asarray(prior.scale, dtype=np.float64)
    if prior.family == "diagonal":
        return nu + 2.0, np.full(d, float(prior.scale))
    return (nu + 2.0) / d, np.full(d, float(prior.scale) / d)


def augment(stats, prior, count, share="each", shrink_means=True):
    """Statistics ``(n_k + count_k, mu_hat_k, S_k + shrinkage term + scale)`` in ``stats``'s layout.

    Parameters
    ----------
    count : float or ndarray of shape (n_components,)
        Added to each ``n_k`` (in units of ``log |Sigma_k|``).
    share : {"each", "once", "none"}
        The covariance prior's scale ``L`` (``covariance_prior_terms``) is
        added to every component's scatter, once in all (``L / K`` each, or
        once to a pooled scatter), or not at all.
    shrink_means : bool
        Whether the means are shrunk towards ``mu_P`` (the shrinkage term
        enters the scatter either way).
    """
    K, d = stats.means.shape
    kind = "pooled" if stats.scatter.shape[0] != K else ("diag" if stats.scatter.ndim == 2 else "full")
    scatter = stats.scatter + shrinkage_scatter(stats, prior, kind)
    if share != "none":
        L = covariance_prior_terms(prior, d)[1]
        if kind == "diag":
            L = np.diag(L) if L.ndim == 2 else L
        else:
            L = L if L.ndim == 2 else np.diag(L)
        scatter = scatter + (L / K if share == "once" and kind != "pooled" else L)
    means = shrunk_means(stats, prior) if shrink_means else stats.means
    return SuffStats(stats.nk + count, means, scatter)


def augmented_statistics(stats, prior, model):
    """``(m_k, mu_hat_k, B_k)`` of the exact MAP, as a ``SuffStats`` of the layout of ``stats``.

    Feeding it to ``model.covariance_m_step`` gives the exact MAP
    covariances (module docstring).
    """
    K, d = stats.means.shape
    a = covariance_prior_terms(prior, d)[0]
    # A shared covariance has one prior: its count and scale are spread over
    # the components so that the model's sums see them once.
    once = model.coupling == "pooled"
    count = (a / K if once else a) + (1.0 if prior.shrinkage > 0.0 else 0.0)
    return augment(stats, prior, count, "once" if once else "each")


def log_prior(params, prior, model, scale=True):
    r"""``log p(mu, Sigma)`` of a mixture's parameters under the prior, normalised.

    ``sum_k log N(mu_k | mu_P, Sigma_k / kappa_P)`` (when ``kappa_P > 0``)
    plus, per distinct covariance, the inverse-Wishart log-density, or the
    inverse-gamma log-density of each variance; the proportions have no
    prior. ``scale=False`` leaves the scale's term ``-tr(Sigma^{-1} L) / 2``
    out (mclust's EII, ``conjugate.mclust``).
    """
    K, d = params.means.shape
    struct = STRUCTURES[model.structure]
    covs = struct.to_full(params.covariances, K, d)
    total = 0.0
    if prior.shrinkage > 0.0:
        for k in range(K):
            total += distributions.multivariate_normal.logpdf(
                params.means[k], prior.mean, covs[k] / prior.shrinkage
            )
    distinct = covs[:1] if model.coupling == "pooled" else covs
    nu = prior.dof
    for cov in distinct:
        if prior.family == "ellipsoidal":
            if scale:
                total += distributions.invwishart.logpdf(cov, df=nu, scale=prior.scale)
            else:  # the density's kernel in Sigma without its scale term
                total += -0.5 * (nu + d + 1.0) * np.linalg.slogdet(cov)[1]
            continue
        variances = np.diag(cov) if prior.family == "diagonal" else cov[:1, 0]
        beta = prior.scale / 2.0
        if scale:
            total += distributions.invgamma.logpdf(variances, a=nu / 2.0, scale=beta).sum()
        else:
            total += (-(nu / 2.0 + 1.0) * np.log(variances)).sum()
    return float(total)
