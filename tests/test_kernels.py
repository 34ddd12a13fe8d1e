"""Every registered kernel against the array-API reference it stands in for."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gaussmix.engine import kernels
from gaussmix.engine.estep import log_resp_from_weighted, weighted_log_prob_reference
from gaussmix.engine.passes import accumulate, weighted_log_prob
from gaussmix.engine.stats import accumulate_reference
from gaussmix.compiled import AVAILABLE as COMPILED_AVAILABLE

from .helpers import estep_params, kernel_namespace, params_of, random_params

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
    (outside its routing limits too), on chunks of its own namespace,
    against the reference definitions."""
    xp, to_kernel, to_numpy = kernel_namespace(kernel)
    rng = np.random.default_rng(n + d + K)
    params = random_params(rng, structure, K, d, offset=50.0)
    X = (params.means[rng.integers(0, K, n)] + rng.normal(size=(n, d))).astype(dtype)
    w = rng.uniform(0, 2, size=n)
    Xk, wk = to_kernel(X), to_kernel(w)
    ep = estep_params(params, xp, getattr(xp, dtype))
    ref_wlp = weighted_log_prob_reference(X.astype(np.float64), estep_params(params))
    ref_lp, ref_log_resp = log_resp_from_weighted(ref_wlp)
    rtol = 1e-9 if dtype == "float64" else 2e-4
    wlp = kernel.weighted_log_prob(Xk, ep)
    assert wlp.dtype == Xk.dtype
    np.testing.assert_allclose(to_numpy(wlp), ref_wlp, rtol=rtol, atol=rtol)
    log_prob, resp = kernel.e_step(Xk, ep)
    assert log_prob.dtype == resp.dtype == Xk.dtype
    np.testing.assert_allclose(to_numpy(log_prob), ref_lp, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(to_numpy(resp), np.exp(ref_log_resp), rtol=rtol, atol=rtol)
    stats, ll, weight = kernel.statistics(Xk, wk, ep, SCATTER[structure])
    ref = accumulate_reference(X.astype(np.float64), np.exp(ref_log_resp), w, SCATTER[structure])
    np.testing.assert_allclose(to_numpy(stats.nk), ref.nk, rtol=rtol)
    np.testing.assert_allclose(to_numpy(stats.means), ref.means, rtol=rtol, atol=rtol * 50)
    np.testing.assert_allclose(to_numpy(stats.scatter), ref.scatter, rtol=rtol, atol=rtol * n * 100)
    assert float(ll) == pytest.approx(float(np.sum(w * ref_lp)), rel=rtol)
    assert float(weight) == pytest.approx(w.sum())
    if kernel.fused_criteria:
        # Rows of weight 0 are left out (here a third of them); the terms of
        # ICL are the logs of the largest responsibilities.
        w0 = np.where(np.arange(n) % 3 == 1, 0.0, w)
        sums = kernel.criterion_sums(Xk, to_kernel(w0), ep)
        assert all(type(v) is float for v in sums)
        expected = (np.sum(w0 * ref_lp), np.sum(w0 * np.max(ref_log_resp, axis=1)), w0.sum())
        np.testing.assert_allclose(sums, expected, rtol=rtol, atol=rtol)
        np.testing.assert_allclose(kernel.criterion_sums(Xk, None, ep),
                                   (ref_lp.sum(), np.max(ref_log_resp, axis=1).sum(), n), rtol=rtol, atol=rtol)


@pytest.mark.parametrize("kernel", [k for k in kernels.KERNELS if k.available and k.fused_criteria],
                         ids=lambda k: k.name)
def test_fused_criteria_of_rows_whose_densities_underflow(kernel):
    """A row past every component's reach: log p = -inf counts unless its weight is 0; r_ik = 1/K."""
    xp, to_kernel, _ = kernel_namespace(kernel)
    params = random_params(np.random.default_rng(0), "full", 3, 2)
    X = np.array([[0.0, 0.0], [1e200, 1e200], [1.0, -1.0]])
    ep = estep_params(params, xp, xp.float64)
    log_lik, log_map, weight = kernel.criterion_sums(to_kernel(X), to_kernel(np.array([1.0, 0.0, 2.0])), ep)
    assert np.isfinite(log_lik) and np.isfinite(log_map) and weight == 3.0
    log_lik, log_map, weight = kernel.criterion_sums(to_kernel(X), None, ep)
    assert log_lik == -np.inf and weight == 3.0
    ref_lp, ref_log_resp = log_resp_from_weighted(weighted_log_prob_reference(X[[0, 2]], estep_params(params)))
    assert log_map == pytest.approx(np.max(ref_log_resp, axis=1).sum() - np.log(3), rel=1e-12)


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


@pytest.mark.skipif(not COMPILED_AVAILABLE, reason="needs Numba")
@pytest.mark.parametrize("kind", ["full", "diag", "pooled"])
@pytest.mark.parametrize("n, d, K", [(1, 1, 1), (70, 3, 4), (131, 7, 2), (300, 16, 9), (40, 40, 60)])
def test_compiled_start_statistics_equal_numpys(kind, n, d, K):
    """The row kernel's statistics for given responsibilities (compiled at small d, NumPy's past it):
    the NumPy kernel's, rows of no weight left out however large their values."""
    from gaussmix.engine.kernels import rows, vectorised

    rng = np.random.default_rng(n + d + K)
    X = rng.normal(size=(n, d)) * rng.uniform(0.1, 10, size=d) + 1e3
    resp = rng.dirichlet(np.ones(K), size=n)
    resp[::4] = np.eye(K)[0]
    w = rng.uniform(0, 2, size=n)
    if n > 2:
        w[1], X[1] = 0.0, 1e200  # its square would overflow: 0 * inf
        resp[2] = 0.0
        X[2] = -1e200
    for weights in (w, None if n <= 2 else np.where(np.arange(n) == 1, 0.0, 1.0)):
        fast = rows.KERNEL.accumulate(X, resp, weights, kind)
        ref = vectorised.KERNEL.accumulate(X, resp, weights, kind)
        for name in ("nk", "means", "scatter"):
            assert np.all(np.isfinite(getattr(fast, name)))
            np.testing.assert_allclose(getattr(fast, name), getattr(ref, name), rtol=1e-9, atol=1e-6, err_msg=name)


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


# -- the PyTorch kernel ------------------------------------------------------------

def torch_kernel():
    """``(torch, array_api_compat.torch, the kernel)``, skipped where PyTorch is missing."""
    torch = pytest.importorskip("torch")
    import array_api_compat.torch as xp

    return torch, xp, kernels.get("torch")


def torch_devices():
    """The CPU, and CUDA marked ``cuda`` (skipped where there is none)."""
    try:
        import torch
        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    return ["cpu", pytest.param("cuda", marks=[pytest.mark.cuda,
                                               pytest.mark.skipif(not has_cuda, reason="no CUDA device here")])]


def test_torch_chunks_go_to_the_torch_kernel():
    torch, _, kernel = torch_kernel()
    for dtype in (torch.float32, torch.float64):
        for structure in ("full", "shared", "diag", "spherical"):
            assert kernels.for_chunk(torch.zeros(3, 2, dtype=dtype), structure, 2, 2) is kernel


@pytest.mark.parametrize("kind", ["full", "diag", "pooled"])
@pytest.mark.parametrize("weighted", [False, True])
def test_torch_float32_statistics_far_from_the_origin(kind, weighted):
    """float32 data 1e4 from the origin keep their scatter to 1e-4 of the float64 reference."""
    torch, _, kernel = torch_kernel()
    rng = np.random.default_rng(7)
    n, d, K = 3000, 5, 4
    X = (rng.normal(size=(n, d)) * rng.uniform(0.1, 3, size=d) + 1e4).astype(np.float32)
    resp = rng.dirichlet(np.ones(K), size=n)
    w = rng.uniform(0, 2, size=n) if weighted else None
    stats = kernel.accumulate(torch.asarray(X), torch.asarray(resp.astype(np.float32)),
                              None if w is None else torch.asarray(w), kind)
    ref = accumulate_reference(X.astype(np.float64), resp.astype(np.float32).astype(np.float64),
                               w, kind)
    assert stats.scatter.dtype == torch.float64
    np.testing.assert_allclose(stats.nk.numpy(), ref.nk, rtol=1e-6)
    np.testing.assert_allclose(stats.means.numpy(), ref.means, rtol=1e-9)
    np.testing.assert_allclose(stats.scatter.numpy(), ref.scatter, rtol=1e-4,
                               atol=1e-4 * np.abs(ref.scatter).max())


@pytest.mark.parametrize("structure", ["full", "shared", "diag", "spherical"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_torch_rows_whose_densities_all_underflow(structure, dtype):
    """Such a row has log p(x) = -inf and responsibilities 1/K, as the reference gives."""
    torch, xp, kernel = torch_kernel()
    rng = np.random.default_rng(3)
    params = random_params(rng, structure, 3, 2)
    far = 1e20 if dtype == "float32" else 1e200
    X = np.vstack([rng.normal(size=(4, 2)), [[far, -far]]]).astype(dtype)
    ep = estep_params(params, xp, getattr(xp, dtype))
    wlp = kernel.weighted_log_prob(torch.asarray(X), ep)
    assert torch.isneginf(wlp[-1]).all()
    with np.errstate(divide="ignore", invalid="ignore"):
        ref_lp, ref_log_resp = log_resp_from_weighted(wlp.numpy())
    log_prob, resp = kernel.e_step(torch.asarray(X), ep)
    np.testing.assert_allclose(log_prob.numpy(), ref_lp, rtol=1e-6)
    np.testing.assert_allclose(resp.numpy(), np.exp(ref_log_resp), rtol=1e-6)
    assert log_prob[-1] == -np.inf
    np.testing.assert_allclose(resp[-1].numpy(), 1 / 3)


@pytest.mark.parametrize("structure", ["full", "shared", "diag", "spherical"])
@pytest.mark.parametrize("huge", [1e300, np.inf])
def test_torch_rows_of_weight_zero_add_nothing_however_huge(structure, huge):
    torch, xp, kernel = torch_kernel()
    rng = np.random.default_rng(11)
    params = random_params(rng, structure, 3, 2)
    X = rng.normal(size=(40, 2))
    w = rng.uniform(0.5, 2, size=40)
    X_bad, w_bad = np.vstack([X, [[huge, -huge], [huge, 1.0]]]), np.append(w, [0.0, 0.0])
    ep = estep_params(params, xp, xp.float64)
    kind = SCATTER[structure]
    good, ll, weight = kernel.statistics(torch.asarray(X), torch.asarray(w), ep, kind)
    bad, ll_bad, weight_bad = kernel.statistics(torch.asarray(X_bad), torch.asarray(w_bad), ep, kind)
    for a, b in ((good.nk, bad.nk), (good.means, bad.means), (good.scatter, bad.scatter),
                 (ll, ll_bad), (weight, weight_bad)):
        assert torch.isfinite(b).all()
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("device", torch_devices())
@pytest.mark.parametrize("structure", ["full", "shared", "diag", "spherical"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_torch_results_stay_tensors_on_the_chunks_device(device, structure, dtype):
    torch, xp, kernel = torch_kernel()
    rng = np.random.default_rng(5)
    params = random_params(rng, structure, 3, 4)
    X = torch.asarray(rng.normal(size=(20, 4)).astype(dtype), device=device)
    w = torch.asarray(rng.uniform(0, 2, size=20), device=device)
    ep = estep_params(params, xp, getattr(xp, dtype))  # host tensors: the kernel moves them
    ep.kernel, ep.plan = kernel, kernel.prepare(ep)
    kernel.statistics(X, w, ep, SCATTER[structure])  # the pass's first chunk copies the parameters
    if device == "cuda":  # later chunks must not wait for the device
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
    try:
        wlp = kernel.weighted_log_prob(X, ep)
        log_prob, resp = kernel.e_step(X, ep)
        stats, ll, weight = kernel.statistics(X, w, ep, SCATTER[structure])
    finally:
        if device == "cuda":
            torch.cuda.set_sync_debug_mode("default")
    for a in (wlp, log_prob, resp):
        assert isinstance(a, torch.Tensor) and a.device == X.device and a.dtype == X.dtype
    for a in (stats.nk, stats.means, stats.scatter, ll, weight):
        assert isinstance(a, torch.Tensor) and a.device == X.device and a.dtype == torch.float64
    assert len(ep.plan) == 1  # the device's parameters, made once for the pass


@pytest.mark.parametrize("kind", ["full", "diag", "pooled"])
def test_torch_narrow_component_far_from_the_chunk_mean_stays_exact(kind):
    torch, _, kernel = torch_kernel()
    rng = np.random.default_rng(5)
    X = np.vstack([rng.normal(0, 0.01, (200, 2)), rng.normal(1e6, 1, (200, 2))])
    resp = np.zeros((400, 2))
    resp[:200, 0] = resp[200:, 1] = 1.0
    resp[100] = [0.5, 0.5]  # a row shared between the two
    fast = kernel.accumulate(torch.asarray(X), torch.asarray(resp), None, kind)
    ref = accumulate_reference(X, resp, kind=kind)
    for k in range(len(ref.scatter)):
        np.testing.assert_allclose(fast.scatter[k].numpy(), ref.scatter[k], rtol=1e-7,
                                   atol=1e-8 * np.abs(ref.scatter[k]).max())


@pytest.mark.parametrize("pairwise", [True, False])
def test_torch_pooled_scatter_is_the_sum_of_the_full_ones(pairwise, monkeypatch):
    torch, _, kernel = torch_kernel()
    if not pairwise:  # as for too many components: the full scatters summed
        from gaussmix.engine.kernels import torchkernel

        monkeypatch.setattr(torchkernel, "PAIRWISE_LIMIT", 0)
    rng = np.random.default_rng(9)
    X, resp = torch.asarray(rng.normal(size=(500, 6)) * 10 + 3), torch.asarray(rng.dirichlet(np.ones(5), 500))
    w = torch.asarray(rng.uniform(0, 2, 500))
    full, pooled = kernel.accumulate(X, resp, w, "full"), kernel.accumulate(X, resp, w, "pooled")
    np.testing.assert_allclose(pooled.scatter[0].numpy(), full.scatter.sum(dim=0).numpy(), rtol=1e-12)


@pytest.mark.parametrize("structure, covariance_type",
                         [("full", "full"), ("shared", "tied"), ("diag", "diag"), ("spherical", "spherical")])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_em_on_torch_chunks_matches_numpy(structure, covariance_type, dtype):
    """The driver's passes over torch chunks (the torch kernel, merged as tensors) give NumPy's EM."""
    torch, _, _ = torch_kernel()
    from gaussmix.backends import ArraySource
    from gaussmix.engine import driver
    from gaussmix.engine.schedules import Batch
    from gaussmix.models import get_model
    from gaussmix.updaters import MaximumLikelihood

    rng = np.random.default_rng(3)
    X = np.vstack([rng.normal(size=(60, 2)), rng.normal(size=(60, 2)) + 4]).astype(dtype)
    params = random_params(rng, structure, 2, 2)
    params.means = X[[0, 100]].astype(np.float64)
    updater = MaximumLikelihood(get_model(covariance_type)[0], reg_covar=1e-6)
    a = driver.run(ArraySource(X, None, 25), updater, params, Batch(), tol=0.0, max_iter=8)
    b = driver.run(ArraySource(torch.asarray(X), None, 25), updater, params, Batch(), tol=0.0, max_iter=8)
    rtol = 1e-12 if dtype == "float64" else 1e-5
    np.testing.assert_allclose(b.lower_bounds, a.lower_bounds, rtol=rtol)
    np.testing.assert_allclose(b.state.covariances, a.state.covariances, rtol=rtol * 100)


@pytest.mark.skipif(not COMPILED_AVAILABLE, reason="needs Numba")
@pytest.mark.parametrize("kind", ["full", "diag", "pooled"])
@pytest.mark.parametrize("K,d", [(3, 4), (5, 13), (2, 1)])
def test_compiled_moments_equal_numpys(kind, K, d, monkeypatch):
    """``moments_from_sums`` compiled and in NumPy: the same bits, the same lossy components.

    A pooled scatter's ``sum_k a_k a_k^T / n_k`` is a matrix product in
    NumPy, whose BLAS may fuse multiply-adds; compiled it is added in order,
    so there the two agree to rounding.
    """
    from gaussmix import compiled
    from gaussmix.engine.kernels import vectorised

    rng = np.random.default_rng(K * d)
    nk = rng.random(K) * 50
    nk[0] = 0.0  # an empty component: its mean is 0
    a = rng.normal(size=(K, d))
    raw = np.abs(rng.normal(size=(K, d * d))) * 100
    raw[1] = np.outer(a[1], a[1]).ravel() / nk[1] * (1 + 1e-12)  # all but cancelled: lossy
    shift = a / np.where(nk > 0, nk, 1.0)[:, None]
    pooled = (shift.T @ a).reshape(1, -1) * (1 + 1e-12)  # the pooled sum all but cancelled: lossy
    raw = {"full": raw, "diag": raw[:, :: d + 1].copy(), "pooled": pooled}[kind]
    origin = rng.normal(size=(K, d)) if kind != "pooled" else rng.normal(size=d)
    got = vectorised.moments_from_sums(nk, a, raw, origin, kind)
    monkeypatch.setattr(compiled, "AVAILABLE", False)
    expected = vectorised.moments_from_sums(nk, a, raw, origin, kind)
    for g, e in zip(got, expected):
        if kind == "pooled":
            np.testing.assert_allclose(g, e, rtol=1e-13, atol=1e-13 * np.abs(raw).max())
        else:
            np.testing.assert_array_equal(g, e)
    if kind == "pooled":  # redone from every component
        np.testing.assert_array_equal(got[3], np.arange(K))
    else:
        assert 1 in got[3]


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_rows_of_a_last_partial_block_get_the_bits_of_a_full_one(covariance_type):
    """The row kernel's E-step computes a block's own rows only: iris's last 22 rows (after blocks of 64) score
    bit for bit as they do inside a full block, and the statistics of rows in a tail block match the reference
    (``test_every_kernel_matches_the_reference`` at n=70 and 131 reads stale responsibilities if they leak)."""
    from sklearn.datasets import load_iris

    from gaussmix import GaussianMixture

    X = load_iris().data  # 150 rows: blocks of 64, 64 and 22
    gm = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    longer = np.vstack([X, X[:42]])  # 192 rows: rows 128-149 in a full block
    np.testing.assert_array_equal(gm.predict_proba(longer)[:150], gm.predict_proba(X))
    np.testing.assert_array_equal(gm.score_samples(longer)[:150], gm.score_samples(X))
