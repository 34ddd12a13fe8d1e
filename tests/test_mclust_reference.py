"""Each covariance model against R mclust's me(), mstep() and estep() outputs.

The references (../shared/reference/mclust-me, see its README) start EM from
fixed responsibilities, so no initialisation is involved. mclust stops when
|l_j - l_{j-1}| / (1 + |l_j|) <= 1e-5 and reports l_j for the parameters after
j M-steps; the tests find that j in our own trace and compare the fit after
the same number of M-steps. Values are rounded to ~4 significant digits.
"""

import json
import warnings

import numpy as np
import pytest

from gaussmix import GaussianMixture, available_models

from .helpers import shared

MCLUST_MODELS = [
    "EII", "VII", "EEI", "VEI", "EVI", "VVI", "EEE",
    "VEE", "EVE", "VVE", "EEV", "VEV", "EVV", "VVV",
]
# mclust's VVE M-step stops short of the optimum: from the same statistics,
# ours reaches a lower -2 x (covariance part of the EM objective) for every G
# (by 0.6 to 6.5 on these data), so the parameters differ by up to 3% and EM
# takes another path. For VVE the tests ask for at least mclust's quality.
MCLUST_SUBOPTIMAL = {"VVE"}

def refpath(name):
    return shared("reference", "mclust-me", name)


def load(name):
    return json.loads(refpath(name).read_text())


def diabetes():
    return np.loadtxt(refpath("diabetes.csv"), delimiter=",", skiprows=1)


def sigma(params):
    """R's d x d x G array (sigma[i][j][k]) as (G, d, d)."""
    return np.moveaxis(np.asarray(params["variance"]["sigma"], dtype=float), 2, 0)


def require(code):
    if code not in available_models():
        pytest.skip(f"covariance model {code} is not implemented yet")


def fit(X, G, code, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GaussianMixture(G, covariance_type=code, reg_covar=0.0, tol=0.0, **kw).fit(X)


@pytest.mark.parametrize("G", [2, 3, 4, 5])
@pytest.mark.parametrize("code", MCLUST_MODELS)
def test_em_reproduces_mclust_me(code, G):
    require(code)
    X, n = diabetes(), 145
    z = np.loadtxt(refpath(f"z-diabetes-{G}.csv"), delimiter=",")
    ref = load(f"diabetes-{code}-{G}.json")
    if code in MCLUST_SUBOPTIMAL:
        gm = fit(X, G, code, resp_init=z, max_iter=3000)
        assert gm.score(X) * n >= ref["loglik"][0] - 1e-2
        return
    trace = np.asarray(fit(X, G, code, resp_init=z, max_iter=3000).lower_bounds_) * n
    rel = np.abs(np.diff(trace)) / (1 + np.abs(trace[1:]))
    assert np.any(rel <= 1e-5), "did not reach mclust's stopping rule"
    n_msteps = int(np.argmax(rel <= 1e-5)) + 1  # after the M-step from z
    gm = fit(X, G, code, resp_init=z, max_iter=n_msteps)
    assert gm.score(X) * n == pytest.approx(ref["loglik"][0], abs=1e-2)
    p = ref["parameters"]
    np.testing.assert_allclose(gm.weights_, p["pro"], rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(gm.means_, np.asarray(p["mean"]).T, rtol=1e-3)
    S = sigma(p)
    np.testing.assert_allclose(gm.covariances_, S, rtol=1e-3, atol=1e-3 * np.abs(S).max())
    assert gm.covariances_.shape == (G, 3, 3)


@pytest.mark.parametrize("G", [2, 3, 4, 5])
@pytest.mark.parametrize("code", MCLUST_MODELS)
def test_one_m_step_matches_mclust_mstep(code, G):
    require(code)
    ref = load(f"diabetes-{code}-{G}-mstep.json")
    gm = fit(diabetes(), G, code, resp_init=np.asarray(ref["z"]), max_iter=0)
    p = ref["parameters"]
    if code in MCLUST_SUBOPTIMAL:
        from gaussmix.engine.passes import accumulate
        from gaussmix.models.iterative import objective

        z = np.asarray(ref["z"])
        stats = accumulate(diabetes(), z / z.sum(axis=1, keepdims=True))
        everyone = np.ones(G, dtype=bool)
        ours, theirs = objective(gm.covariances_, stats, everyone), objective(sigma(p), stats, everyone)
        assert ours <= theirs + 1e-9 * abs(theirs)
        np.testing.assert_allclose(gm.means_, np.asarray(p["mean"]).T, rtol=1e-3)
        return
    np.testing.assert_allclose(gm.weights_, p["pro"], rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(gm.means_, np.asarray(p["mean"]).T, rtol=1e-3)
    S = sigma(p)
    np.testing.assert_allclose(gm.covariances_, S, rtol=1e-3, atol=1e-3 * np.abs(S).max())


@pytest.mark.parametrize("code", MCLUST_MODELS)
def test_one_e_step_matches_mclust_estep(code):
    require(code)
    ref = load(f"diabetes-{code}-3-estep.json")
    p = ref["parameters"]
    pro = np.asarray(p["pro"], dtype=float)
    gm = fit(
        diabetes(), 3, code, max_iter=0,
        weights_init=pro / pro.sum(),
        means_init=np.asarray(p["mean"]).T,
        precisions_init=np.linalg.inv(sigma(p)),
    )
    X = diabetes()
    np.testing.assert_allclose(gm.predict_proba(X), np.asarray(ref["z"]), atol=1e-3)
    assert gm.score(X) * 145 == pytest.approx(ref["loglik"][0], abs=1e-2)


@pytest.mark.parametrize("code", MCLUST_MODELS)
def test_one_component_is_the_closed_form(code):
    # The density files for G >= 2 come from fits with another start than
    # the z files (their sums differ from me()'s log-likelihoods), so only
    # the start-free G = 1 case is compared.
    require(code)
    X = diabetes()
    gm = fit(X, 1, code, max_iter=1)
    density = np.loadtxt(refpath(f"diabetes-{code}-1-density.csv"))
    np.testing.assert_allclose(gm.score_samples(X), density, atol=1e-3)


def simulated1d():
    return np.loadtxt(refpath("simulated1d.csv"), delimiter=",", ndmin=2)


@pytest.mark.parametrize("G", [2, 3, 4, 5])
@pytest.mark.parametrize("code", ["E", "V"])
def test_univariate_models_match_mclust(code, G):
    x = simulated1d()
    m = load(f"simulated1d-{code}-{G}-mstep.json")
    gm = fit(x, G, code, resp_init=np.asarray(m["z"]), max_iter=0)
    p = m["parameters"]
    np.testing.assert_allclose(gm.weights_, p["pro"], rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(gm.means_[:, 0], p["mean"], rtol=1e-3)
    np.testing.assert_allclose(
        gm.covariances_[:, 0, 0], np.broadcast_to(p["variance"]["sigmasq"], G), rtol=1e-3
    )
    # The log-likelihood of me()'s parameters, evaluated by our E-step.
    ref = load(f"simulated1d-{code}-{G}.json")
    p = ref["parameters"]
    pro = np.asarray(p["pro"], dtype=float)
    variances = np.broadcast_to(np.asarray(p["variance"]["sigmasq"], dtype=float), G)
    gm = fit(
        x, G, code, max_iter=0, weights_init=pro / pro.sum(),
        means_init=np.asarray(p["mean"], dtype=float)[:, None],
        precisions_init=1.0 / variances[:, None, None],
    )
    assert gm.score(x) * len(x) == pytest.approx(ref["loglik"][0], abs=2e-2)
    np.testing.assert_allclose(gm.predict_proba(x), np.asarray(ref["z"]), atol=2e-3)


@pytest.mark.parametrize("code", ["E", "V"])
def test_univariate_one_component_density(code):
    x = simulated1d()
    gm = fit(x, 1, code, max_iter=1)
    density = np.loadtxt(refpath(f"simulated1d-{code}-1-density.csv"))
    np.testing.assert_allclose(gm.score_samples(x), density, atol=1e-3)
