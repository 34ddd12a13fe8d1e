"""Every registered kernel against the array-API reference it stands in for."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gaussmix.engine import kernels
from gaussmix.engine.estep import log_resp_from_weighted, weighted_log_prob_reference
from gaussmix.engine.passes import accumulate, weighted_log_prob
from gaussmix.engine.stats import accumulate_reference

from .helpers import estep_params, params_of, random_params

SCATTER = {"full": "full", "shared": "pooled", "diag": "diag", "spherical": "diag"}


def _cases():
    """(kernel, structure, dtype) for every registered kernel that can run here."""
    for kernel in kernels.KERNELS:
        if not kernel.available:
            continue
        for structure in kernel.structures:
            for dtype in ("float64", "float32"):
                if dtype in kernel.dtypes:
                    yield pytest.param(kernel, structure, dtype, id=f"{kernel.name}-{structure}-{dtype}")


@pytest.mark.parametrize("kernel, structure, dtype", list(_cases()))
@pytest.mark.parametrize("n, d, K", [(1, 1, 1), (70, 3, 4), (131, 7, 2)])
def test_every_kernel_matches_the_reference(kernel, structure, dtype, n, d, K):
    """E-step, statistics and log-likelihood of each kernel, called directly
    (outside its routing limits too), against the reference definitions."""
    rng = np.random.default_rng(n + d + K)
    params = random_params(rng, structure, K, d, offset=50.0)
    X = (params.means[rng.integers(0, K, n)] + rng.normal(size=(n, d))).astype(dtype)
    w = rng.uniform(0, 2, size=n)
    ep = estep_params(params, np, X.dtype)
    ref_wlp = weighted_log_prob_reference(X.astype(np.float64), estep_params(params))
    ref_lp, ref_log_resp = log_resp_from_weighted(ref_wlp)
    rtol = 1e-9 if dtype == "float64" else 2e-4
    wlp = kernel.weighted_log_prob(X, ep)
    assert wlp.dtype == X.dtype
    np.testing.assert_allclose(wlp, ref_wlp, rtol=rtol, atol=rtol)
    log_prob, resp = kernel.e_step(X, ep)
    assert log_prob.dtype == resp.dtype == X.dtype
    np.testing.assert_allclose(log_prob, ref_lp, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(resp, np.exp(ref_log_resp), rtol=rtol, atol=rtol)
    stats, ll, weight = kernel.statistics(X, w, ep, SCATTER[structure])
    ref = accumulate_reference(X.astype(np.float64), np.exp(ref_log_resp), w, SCATTER[structure])
    np.testing.assert_allclose(stats.nk, ref.nk, rtol=rtol)
    np.testing.assert_allclose(stats.means, ref.means, rtol=rtol, atol=rtol * 50)
    np.testing.assert_allclose(stats.scatter, ref.scatter, rtol=rtol, atol=rtol * n * 100)
    assert float(ll) == pytest.approx(float(np.sum(w * ref_lp)), rel=rtol)
    assert float(weight) == pytest.approx(w.sum())


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 60), d=st.integers(1, 5), K=st.integers(1, 5),
    kind=st.sampled_from(["full", "diag", "pooled"]), weighted=st.booleans(),
    offset=st.sampled_from([0.0, 1e3, 1e6]), dtype=st.sampled_from(["float64", "float32"]),
    seed=st.integers(0, 2**31),
)
def test_accumulate_kernel_matches_reference(n, d, K, kind, weighted, offset, dtype, seed):
    rng = np.random.default_rng(seed)
    X = (rng.normal(size=(n, d)) * rng.uniform(0.1, 10, size=d) + offset).astype(dtype)
    resp = rng.dirichlet(np.ones(K), size=n)
    w = rng.uniform(0, 3, size=n) if weighted else None
    fast = accumulate(X, resp, w, kind=kind)
    ref = accumulate_reference(X, resp, w, kind=kind)
    np.testing.assert_allclose(fast.nk, ref.nk, rtol=1e-12)
    np.testing.assert_allclose(fast.means, ref.means, rtol=1e-12, atol=1e-9 * (1 + offset))
    # Centred on the chunk, the error stays at the rounding of the spread
    # (plus rounding noise of the data's magnitude where the spread is 0).
    noise = 1e-14 * n * float(np.abs(X.astype(float) - offset).max() + 1.0) ** 2
    np.testing.assert_allclose(fast.scatter, ref.scatter, atol=1e-9 * np.abs(ref.scatter).max() + noise)


@pytest.mark.parametrize("structure", ["diag", "spherical"])
@pytest.mark.parametrize("n, d, K", [(1, 1, 1), (7, 1, 3), (50, 4, 1), (200, 6, 5)])
def test_diagonal_e_step_kernel_matches_reference(structure, n, d, K):
    rng = np.random.default_rng(n + d + K)
    cov = rng.uniform(0.3, 3, size=(K, d) if structure == "diag" else K)
    means = rng.normal(size=(K, d)) * 5 + 100
    params = params_of(rng.dirichlet(np.ones(K)), means, cov, structure)
    X = rng.normal(size=(n, d)) * 5 + 100
    ep = estep_params(params)
    np.testing.assert_allclose(weighted_log_prob(X, ep), weighted_log_prob_reference(X, ep),
                               rtol=1e-10, atol=1e-10)


def test_identical_rows_give_exactly_zero_variance():
    X = np.tile([3.0, -7.0], (25, 1))
    s = accumulate(X, np.ones((25, 1)), kind="diag")
    assert np.all(s.scatter == 0.0)


@pytest.mark.parametrize("structure", ["full", "shared", "diag", "spherical"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("n, d, K", [(1, 1, 1), (9, 1, 4), (60, 5, 1), (300, 4, 6)])
def test_e_step_kernels_match_reference(structure, dtype, n, d, K):
    rng = np.random.default_rng(n * d + K)
    params = random_params(rng, structure, K, d)
    params.means = params.means + 1e3
    X = (rng.normal(size=(n, d)) * 3 + 1e3).astype(dtype)
    ep = estep_params(params, np, X.dtype)
    fast, ref = weighted_log_prob(X, ep), weighted_log_prob_reference(X, ep)
    assert fast.dtype == ref.dtype == np.dtype(dtype)
    tol = 1e-9 if dtype == "float64" else 2e-4
    np.testing.assert_allclose(fast, ref, rtol=tol, atol=tol)


@pytest.mark.parametrize("kind", ["full", "diag", "pooled"])
def test_narrow_component_far_from_the_chunk_mean_stays_exact(kind):
    rng = np.random.default_rng(5)
    X = np.vstack([rng.normal(0, 0.01, (200, 2)), rng.normal(1e6, 1, (200, 2))])
    resp = np.zeros((400, 2))
    resp[:200, 0] = resp[200:, 1] = 1.0
    fast, ref = accumulate(X, resp, kind=kind), accumulate_reference(X, resp, kind=kind)
    # Both are limited by the rounding of a mean at 1e6 (2e-10) against a
    # spread of 0.01; the one-pass form alone would have lost every digit.
    for k in range(len(ref.scatter)):  # two components, or one pooled sum
        np.testing.assert_allclose(fast.scatter[k], ref.scatter[k], rtol=1e-7,
                                   atol=1e-8 * np.abs(ref.scatter[k]).max())
