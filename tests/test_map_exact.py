"""The exact MAP M-step of every model against a numerical maximisation of its objective.

For fixed responsibilities the MAP M-step must maximise, over means and
covariances that obey the model,

    sum_k [-n_k/2 log|Sigma_k| - 1/2 tr(Sigma_k^-1 (S_k + n_k (xbar_k - mu_k)(xbar_k - mu_k)^T))]
    + log p(mu, Sigma).

The test writes that objective and the prior's log-density plainly, from
the textbook conjugate prior (``conjugate.prior``), parametrises each model
from its mclust code (volume, shape, orientation: equal, variable or
identity), maximises numerically with BFGS from several starts, and asks
that gaussmix's closed-form or iterative M-step reach the numerical
maximum, never fall below it.
"""

import warnings

import numpy as np
import pytest
from scipy import linalg, optimize

from gaussmix import ConjugatePrior, available_models
from gaussmix.backends.base import ArraySource
from gaussmix.backends.moments import DataMoments
from gaussmix.conjugate import resolve
from gaussmix.engine.passes import resp_statistics
from gaussmix.models import get_model
from gaussmix.structures import STRUCTURES
from gaussmix.updaters import MaximumAPosteriori

SHARED = {"EII", "EEI", "EEE", "E"}


def letters(code):
    return ("E" if code == "E" else "V", "I", "I") if len(code) == 1 else tuple(code)


def family(code):
    vol, shape, orient = letters(code)
    if orient != "I":
        return "ellipsoidal"
    return "spherical" if shape == "I" else "diagonal"


def n_theta(code, K, d):
    vol, shape, orient = letters(code)
    count = {"E": 1, "V": K}
    n = count[vol]
    n += 0 if shape == "I" else count[shape] * (d - 1)
    n += 0 if orient == "I" else count[orient] * d * (d - 1) // 2
    return n + K * d


def unpack(theta, code, K, d):
    """Means and covariances (K, d, d) that obey ``code``, from free parameters."""
    vol, shape, orient = letters(code)
    means = theta[: K * d].reshape(K, d)
    rest = theta[K * d:]

    def take(n):
        nonlocal rest
        out, rest = rest[:n], rest[n:]
        return out

    log_vol = np.broadcast_to(take(1 if vol == "E" else K), (K,))
    if shape == "I":
        log_shape = np.zeros((K, d))
    else:
        free = take((1 if shape == "E" else K) * (d - 1)).reshape(-1, d - 1)
        full = np.hstack([free, -free.sum(axis=1, keepdims=True)])  # det 1
        log_shape = np.broadcast_to(full, (K, d))
    iu = np.triu_indices(d, 1)
    rotations = []
    n_rot = 0 if orient == "I" else (1 if orient == "E" else K)
    angles = take(n_rot * len(iu[0])).reshape(n_rot, len(iu[0]))
    for k in range(K):
        if orient == "I":
            rotations.append(np.eye(d))
            continue
        S = np.zeros((d, d))
        S[iu] = angles[0 if orient == "E" else k]
        rotations.append(linalg.expm(S - S.T))
    covs = np.array([
        np.exp(log_vol[k]) * (rotations[k] * np.exp(log_shape[k])) @ rotations[k].T for k in range(K)
    ])
    return means, covs


def penalised_q(means, covs, nk, xbar, scatter, prior, code):
    """The M-step's objective, written out: expected complete-data part plus log-prior."""
    K, d = means.shape
    total = 0.0
    for k in range(K):
        P = np.linalg.inv(covs[k])
        logdet = np.linalg.slogdet(covs[k])[1]
        r = xbar[k] - means[k]
        total += -0.5 * nk[k] * logdet - 0.5 * np.trace(P @ (scatter[k] + nk[k] * np.outer(r, r)))
        if prior.shrinkage > 0:
            m = means[k] - prior.mean
            total += -0.5 * logdet - 0.5 * prior.shrinkage * m @ P @ m
    nu = prior.dof
    for cov in covs[:1] if code in SHARED else covs:
        fam = family(code)
        if fam == "ellipsoidal":
            total += -0.5 * (nu + d + 1) * np.linalg.slogdet(cov)[1] - 0.5 * np.trace(
                np.linalg.solve(cov, prior.scale))
        else:
            variances = np.diag(cov) if fam == "diagonal" else cov[:1, 0]
            total += np.sum(-(nu / 2 + 1) * np.log(variances) - prior.scale / (2 * variances))
    return total


def numerical_maximum(nk, xbar, scatter, prior, code, rng, starts=2):
    K, d = xbar.shape

    def negative(theta):
        means, covs = unpack(theta, code, K, d)
        return -penalised_q(means, covs, nk, xbar, scatter, prior, code)

    best = None
    for s in range(starts):
        theta0 = np.concatenate([xbar.ravel(), rng.normal(scale=0.3 if s else 0.0,
                                                          size=n_theta(code, K, d) - K * d)])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = optimize.minimize(negative, theta0, method="BFGS", options={"gtol": 1e-9, "maxiter": 5000})
        if best is None or res.fun < best.fun:
            best = res
    return -best.fun


def problem(code, seed, shrinkage):
    rng = np.random.default_rng(seed)
    d = 1 if len(code) == 1 else 3
    K, n = 3, 40
    X = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + rng.normal(size=d) * 3
    resp = rng.dirichlet(np.ones(K) * 0.7, size=n)
    model = get_model(code)[0]
    source = ArraySource(X, None, n)
    prior = resolve(ConjugatePrior(shrinkage=shrinkage, method="exact"), model, K, DataMoments(source))
    updater = MaximumAPosteriori(model, 0.0, prior)
    stats = resp_statistics(X, None, resp.__getitem__, updater.scatter, n).to_numpy()
    full = resp_statistics(X, None, resp.__getitem__, "full", n).to_numpy()
    return rng, updater, stats, full, prior, model, K, d


@pytest.mark.parametrize("shrinkage", [0.01, 0.0])
@pytest.mark.parametrize("code", available_models())
def test_exact_map_m_step_reaches_the_numerical_maximum(code, shrinkage):
    rng, updater, stats, full, prior, model, K, d = problem(code, 7, shrinkage)
    state = updater.update(stats).state
    # One more update from its own result: the iterative models start from
    # the previous covariances and may only improve on them.
    state = updater.update(stats, state).state
    covs = STRUCTURES[model.structure].to_full(state.covariances, K, d)
    ours = penalised_q(state.means, covs, full.nk, full.means, full.scatter, prior, code)
    best = numerical_maximum(full.nk, full.means, full.scatter, prior, code, rng)
    scale = 1.0 + abs(best)
    assert ours >= best - 1e-7 * scale, (ours, best)
    assert ours - best <= 1e-5 * scale, "the numerical optimiser fell short; the test proves nothing"


@pytest.mark.parametrize("code", ["VVV", "VII", "EEE"])
def test_a_numerically_better_point_would_be_caught(code):
    """The check can fail: a wrong M-step (the maximum-likelihood one) falls below the maximum."""
    rng, updater, stats, full, prior, model, K, d = problem(code, 3, 0.01)
    state = updater.update(stats).state
    means = full.means  # unshrunk
    covs = STRUCTURES[model.structure].to_full(state.covariances, K, d) * 1.05
    wrong = penalised_q(means, covs, full.nk, full.means, full.scatter, prior, code)
    best = numerical_maximum(full.nk, full.means, full.scatter, prior, code, rng, starts=2)
    assert wrong < best - 1e-6 * (1 + abs(best))


def test_an_empty_component_takes_the_priors_mode():
    """Maximum likelihood has nothing to go on; the MAP is the prior's mode (weight 0)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 2))
    model = get_model("VVV")[0]
    prior = resolve(ConjugatePrior(method="exact"), model, 2, DataMoments(ArraySource(X, None, 50)))
    resp = np.column_stack([np.ones(50), np.zeros(50)])
    stats = resp_statistics(X, None, resp.__getitem__, "full", 50)
    update = MaximumAPosteriori(model, 0.0, prior).update(stats)
    np.testing.assert_allclose(update.state.means[1], prior.mean)
    # m = 0 rows + 1 (the mean's prior) + nu + d + 1
    np.testing.assert_allclose(update.state.covariances[1], prior.scale / (1 + prior.dof + 2 + 1))
    assert update.state.weights[1] == 0.0 and update.empty.tolist() == [False, True]
    assert not update.collapsed.any()
