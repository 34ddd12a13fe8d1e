"""The E-step against scipy's densities, and the engine on array_api_strict."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from gaussmix.backends import ArraySource
from gaussmix.engine import driver
from gaussmix.engine.passes import accumulate, e_step, weighted_log_prob
from gaussmix.engine.schedules import Batch
from gaussmix.models import get_model
from gaussmix.structures import STRUCTURES
from gaussmix.updaters import MaximumLikelihood
from gaussmix.updaters.ml import estep_inputs

from .helpers import estep_params, random_params


@pytest.mark.parametrize("structure", list(STRUCTURES))
def test_log_density_matches_scipy(structure):
    rng = np.random.default_rng(0)
    K, d = 3, 4
    p = random_params(rng, structure, K, d)
    X = rng.normal(size=(25, d)) * 2
    wlp = weighted_log_prob(X, estep_params(p, np, np.float64))
    cov = STRUCTURES[structure].to_full(p.covariances, K, d)
    expected = np.column_stack(
        [np.log(p.weights[k]) + multivariate_normal(p.means[k], cov[k]).logpdf(X) for k in range(K)]
    )
    np.testing.assert_allclose(wlp, expected, rtol=1e-10)
    log_prob_norm, resp = e_step(X, estep_params(p, np, np.float64))
    np.testing.assert_allclose(log_prob_norm, logsumexp(expected, axis=1), rtol=1e-10)
    np.testing.assert_allclose(resp, np.exp(expected - logsumexp(expected, axis=1)[:, None]), atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    structure=st.sampled_from(list(STRUCTURES)),
    K=st.integers(1, 5),
    d=st.integers(1, 4),
    n=st.integers(1, 30),
    scale=st.floats(0.1, 100.0),
    seed=st.integers(0, 2**31),
)
def test_responsibilities_sum_to_one(structure, K, d, n, scale, seed):
    rng = np.random.default_rng(seed)
    p = random_params(rng, structure, K, d)
    X = rng.normal(size=(n, d)) * scale
    log_prob_norm, resp = e_step(X, estep_params(p, np, np.float64))
    assert np.all(np.isfinite(resp)) and np.all(resp >= 0)
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, rtol=1e-12)
    assert np.all(np.isfinite(log_prob_norm))


def test_far_outlier_keeps_finite_responsibilities():
    rng = np.random.default_rng(1)
    p = random_params(rng, "diag", 2, 2)
    X = np.array([[1e200, -1e200], [0.0, 0.0]])
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        lp, resp = e_step(X, estep_params(p, np, np.float64))
    assert lp[0] == -math.inf
    assert np.all(np.isfinite(resp))
    np.testing.assert_allclose(resp.sum(axis=1), 1.0)


# ---------------------------------------------------------------- array API
xps = pytest.importorskip("array_api_strict")


@pytest.mark.parametrize("structure", list(STRUCTURES))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_chunk_work_runs_on_array_api_strict(structure, dtype):
    """The per-chunk functions use nothing outside the array API standard."""
    rng = np.random.default_rng(2)
    K, d = 3, 2
    p = random_params(rng, structure, K, d)
    X = rng.normal(size=(40, d)).astype(dtype)
    w = rng.uniform(0, 2, size=40)
    Xs, ws = xps.asarray(X), xps.asarray(w)
    lp_np, resp_np = e_step(X, estep_params(p, np, X.dtype))
    lp_s, resp_s = e_step(Xs, estep_params(p, xps, Xs.dtype))
    assert resp_s.dtype == Xs.dtype  # float32 stays float32
    rtol = 1e-12 if dtype == "float64" else 1e-5
    np.testing.assert_allclose(np.from_dlpack(lp_s), lp_np, rtol=rtol)
    np.testing.assert_allclose(np.from_dlpack(resp_s), resp_np, rtol=rtol, atol=1e-6)
    for kind in ("full", "diag"):
        s_np = accumulate(X, resp_np, w, kind=kind)
        s_s = accumulate(Xs, resp_s, ws, kind=kind).to_numpy()
        np.testing.assert_allclose(s_s.scatter, s_np.scatter, rtol=1e-4 if dtype == "float32" else 1e-12)


def test_em_driver_runs_on_array_api_strict():
    rng = np.random.default_rng(3)
    X = np.vstack([rng.normal(size=(60, 2)), rng.normal(size=(60, 2)) + 4])
    model, _ = get_model("full")
    p = random_params(rng, "full", 2, 2)
    p.means = X[[0, 100]]
    updater = MaximumLikelihood(model, reg_covar=1e-6)
    kwargs = dict(tol=0.0, max_iter=8)
    a = driver.run(ArraySource(X, None, 25), updater, p, Batch(), **kwargs)
    b = driver.run(ArraySource(xps.asarray(X), None, 25), updater, p, Batch(), **kwargs)
    np.testing.assert_allclose(b.lower_bounds, a.lower_bounds, rtol=1e-12)
    np.testing.assert_allclose(b.state.covariances, a.state.covariances, rtol=1e-10)
    stats, ll, weight = ArraySource(xps.asarray(X), None, 7).statistics(estep_inputs(p), "full")
    assert isinstance(ll, float) and weight == 120.0


@pytest.mark.parametrize("d", [1, 2, 5, 32, 40])
def test_precision_factors_equal_scipys(d):
    """``U_k`` with ``U_k U_k^T = Sigma_k^-1``, compiled (d <= 32) or from LAPACK, against SciPy."""
    from scipy import linalg

    from gaussmix.structures import STRUCTURES

    rng = np.random.default_rng(d)
    A = rng.normal(size=(3, d + 3, d))
    cov = np.einsum("kij,kil->kjl", A, A) / (d + 3)
    cov[2] *= 1e6  # scale does not matter
    U = STRUCTURES["full"].prec_chol_from_cov(cov)
    for k in range(3):
        expected = linalg.solve_triangular(linalg.cholesky(cov[k], lower=True), np.eye(d), lower=True).T
        np.testing.assert_allclose(U[k], expected, rtol=1e-10, atol=1e-12 * np.abs(expected).max())
        assert np.all(np.tril(U[k], -1) == 0)
        shared = STRUCTURES["shared"].prec_chol_from_cov(cov[k])  # one matrix, as EEE's
        np.testing.assert_allclose(shared, expected, rtol=1e-10, atol=1e-12 * np.abs(expected).max())


def test_a_singular_covariance_names_its_component():
    from gaussmix.exceptions import DegenerateCovarianceError
    from gaussmix.structures import STRUCTURES

    cov = np.stack([np.eye(3), np.eye(3), np.ones((3, 3))])
    with pytest.raises(DegenerateCovarianceError, match="of component 2"):
        STRUCTURES["full"].prec_chol_from_cov(cov)
    cov[2] = np.eye(3)
    cov[1, 0, 1] = cov[1, 1, 0] = np.nan
    with pytest.raises(DegenerateCovarianceError, match="of component 1"):
        STRUCTURES["full"].prec_chol_from_cov(cov)
    with pytest.raises(DegenerateCovarianceError, match="not positive definite"):
        STRUCTURES["shared"].prec_chol_from_cov(np.ones((3, 3)))
    cov[1] = np.eye(3)
    cov[1, 0, 2] = np.inf  # above the diagonal, which a Cholesky factor never reads
    with pytest.raises(DegenerateCovarianceError, match="of component 1"):
        STRUCTURES["full"].prec_chol_from_cov(cov)


def test_log_normalisers_keep_a_nan_weight_nan():
    from gaussmix.engine.estep import log_normalisers

    U = np.stack([np.eye(2)] * 3)
    c = log_normalisers(np.array([0.5, 0.0, np.nan]), U, "full", 2)
    assert np.isfinite(c[0]) and c[1] == -np.inf and np.isnan(c[2])
