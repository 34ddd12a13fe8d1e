"""Plain references for missing values, written from the formulas, not from the engine.

Everything here loops over rows (or patterns of holes) and components and
uses scipy's densities: slow, obvious, and independent of
``gaussmix.engine.missing``.
"""

import numpy as np
from scipy.special import logsumexp
from scipy.stats import multivariate_normal


def mcar(X, fraction, seed):
    """X with each value missing (NaN) with probability ``fraction``, completely at random."""
    rng = np.random.default_rng(seed)
    out = np.array(X, dtype=np.float64, copy=True)
    out[rng.random(out.shape) < fraction] = np.nan
    return out


def component_log_densities(x, weights, means, covariances):
    """``log pi_k + log N(x_o | mu_k,o, Sigma_k,oo)`` for one row (None: nothing observed)."""
    o = ~np.isnan(x)
    if not o.any():
        return None
    return np.array([
        np.log(weights[k]) + multivariate_normal(means[k][o], covariances[k][np.ix_(o, o)]).logpdf(x[o])
        for k in range(len(weights))
    ])


def log_density(X, weights, means, covariances):
    """The observed-data log-density of each row; 0 for a row with nothing observed.

    :func:`component_log_densities` for each row, with the rows that share a
    pattern of holes scored together (one scipy density per pattern and
    component, not per row: a 40th of the time on 200 rows).
    """
    out = np.zeros(len(X))
    patterns, inverse = np.unique(~np.isnan(X), axis=0, return_inverse=True)
    for p, o in enumerate(patterns):
        if not o.any():
            continue
        rows = np.flatnonzero(inverse.ravel() == p)
        terms = np.column_stack([
            np.log(weights[k]) + np.reshape(
                multivariate_normal(means[k][o], covariances[k][np.ix_(o, o)]).logpdf(X[np.ix_(rows, o)]), -1)
            for k in range(len(weights))
        ])
        out[rows] = logsumexp(terms, axis=1)
    return out


def conditional(x, mean, cov):
    """``x̂`` (the row, its holes filled by E[x_m | x_o]) and ``C`` (Cov[x_m | x_o], zero elsewhere)."""
    o, m = ~np.isnan(x), np.isnan(x)
    filled, C = np.array(x, copy=True), np.zeros((len(x), len(x)))
    if m.any():
        gain = cov[np.ix_(m, o)] @ np.linalg.inv(cov[np.ix_(o, o)])
        filled[m] = mean[m] + gain @ (x[o] - mean[o])
        C[np.ix_(m, m)] = cov[np.ix_(m, m)] - gain @ cov[np.ix_(o, m)]
    return filled, C


def em_step(X, sample_weight, weights, means, covariances):
    """One EM iteration for VVV with missing values, by Ghahramani & Jordan's formulas.

    Rows with nothing observed are left out (they carry no information; the
    engine leaves them out too). Returns the new (weights, means,
    covariances) and the observed-data log-likelihood of the parameters given.
    """
    n, d = X.shape
    K = len(weights)
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    nk, first = np.zeros(K), np.zeros((K, d))
    rows, loglik = [], 0.0
    for i, x in enumerate(X):
        terms = component_log_densities(x, weights, means, covariances)
        if terms is None:
            continue
        loglik += w[i] * logsumexp(terms)
        r = np.exp(terms - logsumexp(terms))
        completed = [conditional(x, means[k], covariances[k]) for k in range(K)]
        rows.append((w[i], r, completed))
        for k in range(K):
            nk[k] += w[i] * r[k]
            first[k] += w[i] * r[k] * completed[k][0]
    new_means = first / nk[:, None]
    new_cov = np.zeros((K, d, d))
    for wi, r, completed in rows:
        for k in range(K):
            diff = completed[k][0] - new_means[k]
            new_cov[k] += wi * r[k] * (np.outer(diff, diff) + completed[k][1])
    return nk / nk.sum(), new_means, new_cov / nk[:, None, None], loglik


def impute(X, weights, means, covariances):
    """Each hole filled with ``sum_k r_k(x_o) E_k[x_m | x_o]``; a row with nothing observed gets ``sum_k pi_k mu_k``."""
    out = np.array(X, dtype=np.float64, copy=True)
    for i, x in enumerate(X):
        if not np.isnan(x).any():
            continue
        terms = component_log_densities(x, weights, means, covariances)
        r = np.asarray(weights) if terms is None else np.exp(terms - logsumexp(terms))
        out[i] = sum(r[k] * conditional(x, means[k], covariances[k])[0] for k in range(len(weights)))
    return out
