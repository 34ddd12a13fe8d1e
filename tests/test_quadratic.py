"""The quadratic-features kernel (``engine.kernels.quadratic``) against the reference and the exact route."""

import numpy as np
import pytest

from gaussmix import GaussianMixture
from gaussmix.compiled import AVAILABLE
from gaussmix.engine import kernels
from gaussmix.engine.estep import weighted_log_prob_reference
from gaussmix.engine.kernels import quadratic, rows, triangular
from gaussmix.engine.kernels.quadratic import QuadraticPlan

from .helpers import assert_stats_close, estep_params, random_params, reference_statistics

pytestmark = [
    pytest.mark.skipif(not AVAILABLE, reason="numba is not installed"),
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
]

KERNEL = quadratic.KERNEL


def _data(n, d, K, offset, seed, spread=2.0):
    rng = np.random.default_rng(seed)
    params = random_params(rng, "full", K, d, offset=offset)
    X = params.means[rng.integers(0, K, n)] + rng.normal(size=(n, d)) * spread
    w = rng.uniform(0, 3, size=n)
    w[rng.random(n) < 0.2] = 0.0
    return params, X, w


@pytest.mark.parametrize("tile_rows", [None, 24])
@pytest.mark.parametrize("scatter", ["full", "pooled", "diag"])
@pytest.mark.parametrize("n, d, K", [(1, 1, 1), (65, 7, 3), (130, 12, 16), (300, 16, 5), (200, 33, 4)])
def test_statistics_and_densities_match_the_reference(n, d, K, scatter, tile_rows, monkeypatch):
    # One row, one feature, one component; with 24-row tiles the last tile
    # is partial (1, 17, 10, 12, 8 rows) and so is the 64-row softmax block
    # of the default tile.
    if tile_rows is not None:
        monkeypatch.setattr(quadratic, "TILE_ROWS", tile_rows)
    monkeypatch.setattr(quadratic, "QUADRATIC_MIN_ROWS", 0)  # so few rows take the expansion too
    params, X, w = _data(n, d, K, offset=100.0, seed=n + d + K)
    ep = estep_params(params)
    assert KERNEL.exact_route(X, ep) is None  # the expansion runs, not another route
    got, ll, weight = KERNEL.statistics(X, w, ep, scatter)
    ref, ref_ll = reference_statistics(X, w, params, scatter)
    assert_stats_close(got, ref, 1e-10, 100.0, n * 100.0)
    assert ll == pytest.approx(ref_ll, rel=1e-11)
    assert weight == pytest.approx(w.sum())
    ref_wlp = weighted_log_prob_reference(X, ep)
    np.testing.assert_allclose(KERNEL.weighted_log_prob(X, ep), ref_wlp, rtol=1e-10, atol=1e-10)
    log_prob, resp = KERNEL.e_step(X, ep)
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(log_prob, np.logaddexp.reduce(ref_wlp, axis=1), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("scatter", ["full", "pooled", "diag"])
@pytest.mark.parametrize("n, d, K", [(65, 7, 3), (300, 16, 5), (200, 33, 4)])
def test_float32_chunks_are_expanded_in_float64(n, d, K, scatter, monkeypatch):
    """A float32 chunk's statistics carry float64's accuracy on its values:
    the expansion's cancellation (data at 100, spread 2) would leave float32
    arithmetic about 1e-4 of a scatter, not 1e-10."""
    monkeypatch.setattr(quadratic, "QUADRATIC_MIN_ROWS", 0)
    params, X, w = _data(n, d, K, offset=100.0, seed=n + d + K)
    X32 = X.astype(np.float32)
    ep = estep_params(params, dtype=np.float32)
    assert KERNEL.exact_route(X32, ep) is None
    got, ll, weight = KERNEL.statistics(X32, w, ep, scatter)
    rounded = X32.astype(np.float64)  # the values the kernel was given
    ref, ref_ll = reference_statistics(rounded, w, params, scatter)
    assert_stats_close(got, ref, 1e-10, 100.0, n * 100.0)
    assert ll == pytest.approx(ref_ll, rel=1e-11)
    ref_wlp = weighted_log_prob_reference(rounded, estep_params(params))
    wlp = KERNEL.weighted_log_prob(X32, ep)
    assert wlp.dtype == np.float32
    np.testing.assert_allclose(wlp, ref_wlp, rtol=1e-6)  # float64 values, rounded once
    log_prob, resp = KERNEL.e_step(X32, ep)
    assert log_prob.dtype == resp.dtype == np.float32
    np.testing.assert_allclose(log_prob, np.logaddexp.reduce(ref_wlp, axis=1), rtol=1e-6)


def test_unweighted_rows_count_once_each():
    params, X, _ = _data(2500, 10, 6, offset=5.0, seed=3)
    ep = estep_params(params)
    got, ll, weight = KERNEL.statistics(X, None, ep, "full")
    ref, ref_ll = reference_statistics(X, None, params, "full")
    assert KERNEL.exact_route(X, ep) is None
    assert weight == 2500.0
    assert got.nk.sum() == pytest.approx(2500.0, rel=1e-13)
    assert_stats_close(got, ref, 1e-10, 5.0, 2500 * 100.0)
    assert ll == pytest.approx(ref_ll, rel=1e-12)


@pytest.mark.parametrize("dtype, d, route", [
    (np.float64, 12, rows.KERNEL), (np.float64, 30, triangular.KERNEL),
    (np.float32, 12, rows.KERNEL), (np.float32, 16, triangular.KERNEL),  # TRMM from d=13 in float32
])
def test_a_small_chunk_takes_the_exact_route(dtype, d, route, monkeypatch):
    params, X, w = _data(quadratic.QUADRATIC_MIN_ROWS - 1, d, 16, offset=5.0, seed=d)
    X = X.astype(dtype)
    ep = estep_params(params, dtype=dtype)
    monkeypatch.setattr(QuadraticPlan, "expansion", lambda self: pytest.fail("W made for a small chunk"))
    assert KERNEL.exact_route(X, ep) is route
    got, ll, weight = KERNEL.statistics(X, w, ep, "full")
    want, want_ll, _ = route.statistics(X, w, estep_params(params, dtype=dtype), "full")
    assert ll == want_ll
    np.testing.assert_array_equal(got.scatter, want.scatter)
    resp = KERNEL.e_step(X, ep)[1]
    assert resp.dtype == dtype
    np.testing.assert_array_equal(resp, route.e_step(X, estep_params(params, dtype=dtype))[1])


def _cancelling(case, d, n=400, K=5):
    """Parameters and rows where the expansion would cancel: ``"far"``, one narrow
    component 1e7 away (which drags the mixture's mean, the centre, far from
    every component), or ``"ill-conditioned"``, components of condition 1e14."""
    rng = np.random.default_rng(7)
    params, X, w = _data(n, d, K, offset=1.0, seed=11)
    if case == "far":
        params.means[0] += 1e7
        X[: n // 5] = params.means[0] + rng.normal(size=(n // 5, d))
    else:
        scale = np.ones(d)
        scale[0] = 1e-7  # a standard deviation 1e-7 of the others: condition 1e14
        for k in [1] if case == "ill-conditioned" else [1, 3]:
            params.precisions_cholesky[k] /= scale[:, None]
    return params, X, w


def _forced_error(params, X, monkeypatch):
    """The expansion's worst log-density error, made to run with every component on it."""
    monkeypatch.setattr(quadratic, "CANCEL_LIMIT", np.inf)
    forced = estep_params(params)
    assert KERNEL.exact_route(X, forced) is None and not len(forced.plan.expansion().exact)
    return np.abs(KERNEL.weighted_log_prob(X, forced) - weighted_log_prob_reference(X, forced)).max()


@pytest.mark.parametrize("d, exact", [(12, rows.KERNEL), (20, triangular.KERNEL)])
@pytest.mark.parametrize("case", ["far", "two ill-conditioned"])
def test_where_the_expansion_would_cancel_for_many_components_an_exact_route_runs(case, d, exact,
                                                                                  monkeypatch):
    """More than an eighth of the components would lose most digits of their
    small distances to the expansion's large terms: the pass is the row
    kernel's (TRMM's past its d), to the bit."""
    monkeypatch.setattr(quadratic, "QUADRATIC_MIN_ROWS", 0)
    params, X, w = _cancelling(case, d)
    ep = estep_params(params)
    assert KERNEL.exact_route(X, ep) is exact
    assert len(ep.plan.expansion().exact) >= 2
    got, ll, _ = KERNEL.statistics(X, w, ep, "full")
    want, want_ll, _ = exact.statistics(X, w, estep_params(params), "full")
    assert ll == want_ll
    np.testing.assert_array_equal(got.scatter, want.scatter)
    np.testing.assert_array_equal(KERNEL.weighted_log_prob(X, ep),
                                  exact.weighted_log_prob(X, estep_params(params)))
    assert _forced_error(params, X, monkeypatch) > 0.1  # what the exact route saves


def _flat(d, sd, n, K=8, shift=100.0, seed=1):
    """A mixture whose component 1 is flat: standard deviation ``sd`` along a
    rotated direction ``v`` (1 along the others), 100 from the rest; rows drawn
    from it. Returns ``(params, X, v)``."""
    from gaussmix.structures import STRUCTURES

    rng = np.random.default_rng(seed)
    params = random_params(rng, "full", K, d, offset=5.0)
    rotation, _ = np.linalg.qr(rng.normal(size=(d, d)))
    scale = np.ones(d)
    scale[0] = sd
    params.covariances[1] = rotation @ np.diag(scale**2) @ rotation.T
    params.means[1] += shift
    params.precisions_cholesky[1] = STRUCTURES["full"].prec_chol_from_cov(params.covariances[1][None])[0]
    labels = rng.integers(0, K, n)
    noise = rng.normal(size=(n, d))
    X = np.empty((n, d))
    for k in range(K):
        rows_k = labels == k
        X[rows_k] = params.means[k] + noise[rows_k] @ np.linalg.cholesky(params.covariances[k]).T
    return params, X, rotation[:, 0]


@pytest.mark.parametrize("d, exact", [(12, rows.KERNEL), (20, triangular.KERNEL)])
def test_one_flat_component_takes_an_exact_column_and_its_own_moments(d, exact, monkeypatch):
    """A component of standard deviation 1e-5 along one rotated direction,
    100 away from the others, among eight: the expansion runs for the others;
    that component's log-densities are made exactly, from the rows as they
    are, and its moments are summed about its own mean, so its flat
    direction keeps its variance (summed about the centre, that variance
    was off by 1% here, and by 3e-4 at a standard deviation of 1e-4).
    Three tiles, the last partial."""
    monkeypatch.setattr(quadratic, "QUADRATIC_MIN_ROWS", 0)
    params, X, v = _flat(d, 1e-5, n=1100)
    w = np.random.default_rng(3).uniform(0.5, 2.0, size=len(X))
    ep = estep_params(params)
    assert KERNEL.exact_route(X, ep) is None
    np.testing.assert_array_equal(ep.plan.expansion().exact, [1])
    want_ep = estep_params(params)
    np.testing.assert_allclose(KERNEL.weighted_log_prob(X, ep), exact.weighted_log_prob(X, want_ep),
                               rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(KERNEL.e_step(X, ep)[1], exact.e_step(X, want_ep)[1], atol=1e-12)
    for scatter in ["full", "pooled", "diag"]:
        got, ll, _ = KERNEL.statistics(X, w, ep, scatter)
        ref, ref_ll = reference_statistics(X, w, params, scatter)
        assert ll == pytest.approx(ref_ll, rel=1e-12)
        assert_stats_close(got, ref, 1e-9, 100.0, 1100 * 100.0)
        if scatter == "full":
            flat, want = v @ got.scatter[1] @ v, v @ ref.scatter[1] @ v
            # A variance 1e-10 of the others': rounding in those directions
            # alone moves it by about eps / 1e-10 = 2e-6 relative, in the
            # reference as here (1.2e-6 apart on one CPU); summed about the
            # centre it was off by 1e-2.
            assert flat == pytest.approx(want, rel=1e-5, abs=0)
    # What the exact column saves: made to run, the expansion is off on the flat component's own rows.
    on_flat = exact.e_step(X, want_ep)[1][:, 1] > 0.5
    monkeypatch.setattr(quadratic, "CANCEL_LIMIT", np.inf)
    forced = estep_params(params)
    assert KERNEL.exact_route(X, forced) is None and not len(forced.plan.expansion().exact)
    error = np.abs(KERNEL.weighted_log_prob(X, forced) - weighted_log_prob_reference(X, forced))[on_flat, 1]
    kept = np.abs(KERNEL.weighted_log_prob(X, ep) - weighted_log_prob_reference(X, ep))[on_flat, 1]
    assert error.max() > 1e-3 and kept.max() < 1e-9


def test_correlation_not_scale_makes_a_covariance_untrusted():
    rng = np.random.default_rng(2)
    d, K = 16, 3
    params = random_params(rng, "full", K, d, offset=3.0)
    scales = np.logspace(-4, 4, d)  # variances 1e-8 to 1e8, uncorrelated: trusted
    params.precisions_cholesky[0] = np.diag(1 / scales)
    assert not len(QuadraticPlan(estep_params(params)).expansion().exact)
    rotation, _ = np.linalg.qr(rng.normal(size=(d, d)))  # the same spectrum, correlated
    precision = rotation @ np.diag(1 / scales**2) @ rotation.T
    params.precisions_cholesky[0] = np.linalg.cholesky(precision)
    expansion = QuadraticPlan(estep_params(params)).expansion()
    np.testing.assert_array_equal(expansion.exact, [0])
    assert not expansion.W[0].any()  # its column is made exactly, not by the GEMM


def test_a_chunks_extent_is_bounded_from_above():
    """The reach test reads a bound, never less than the true ``max |x - c|``."""
    rng = np.random.default_rng(9)
    for scale, offset in [(1.0, 0.0), (1e3, -5e3), (1e-3, 7.0)]:
        X = rng.normal(size=(500, 6)) * scale + offset
        centre = rng.normal(size=6) * scale + offset
        true = np.max(np.abs(X - centre))
        assert quadratic._extent(X, centre) >= true


def test_the_bound_trusts_ordinary_parameters():
    # Components tens of standard deviations apart, far from the origin: the expansion is used.
    params, _, _ = _data(10, 16, 16, offset=1e3, seed=5)
    expansion = QuadraticPlan(estep_params(params)).expansion()
    assert expansion.runs and not len(expansion.exact)


def test_routing():
    select = kernels.select
    assert select("numpy", np.float64, "full", 16, 16) is KERNEL
    assert select("numpy", np.float64, "full", 64, 10) is KERNEL
    assert select("numpy", np.float64, "full", 16, 40) is KERNEL
    assert select("numpy", np.float64, "full", 16, 48) is triangular.KERNEL
    assert select("numpy", np.float64, "full", 8, 16) is rows.KERNEL  # K=8 lost in fits
    # Few components: GEMMs of K columns run below BLAS's rate; the row kernel and TRMM win.
    assert select("numpy", np.float64, "full", 3, 16) is rows.KERNEL
    assert select("numpy", np.float64, "full", 3, 40) is triangular.KERNEL
    # float32's exact routes run in float32, at about twice the rate: fewer shapes repay the expansion.
    assert select("numpy", np.float32, "full", 16, 16) is KERNEL
    assert select("numpy", np.float32, "full", 64, 32) is KERNEL
    assert select("numpy", np.float32, "full", 64, 48) is triangular.KERNEL
    assert select("numpy", np.float32, "full", 8, 16) is triangular.KERNEL
    assert select("numpy", np.float32, "full", 16, 8) is rows.KERNEL
    assert select("numpy", np.float32, "full", 16, 32) is triangular.KERNEL
    assert select("numpy", np.float64, "shared", 16, 16) is not KERNEL
    assert select("numpy", np.float64) is not KERNEL  # statistics for given responsibilities


def _count_expansions(monkeypatch):
    """A list that records the route of every chunk KERNEL is given (None: the expansion)."""
    routes = []
    choose = quadratic.QuadraticKernel.exact_route

    def recorded(self, X, eparams):
        routes.append(choose(self, X, eparams))
        return routes[-1]

    monkeypatch.setattr(quadratic.QuadraticKernel, "exact_route", recorded)
    return routes


def _clusters(rng, K, d, per):
    centres = rng.normal(size=(K, d)) * 4
    return np.vstack([c + rng.normal(size=(per, d)) @ np.diag(rng.uniform(0.5, 2, d)) for c in centres])


def test_a_fit_matches_the_exact_routes_from_the_same_start(monkeypatch):
    rng = np.random.default_rng(0)
    d, K = 16, 16
    X = _clusters(rng, K, d, 300)
    kw = dict(covariance_type="full", random_state=0, tol=0, max_iter=20, chunk_size=2400)
    assert kernels.for_chunk(X, "full", K, d) is KERNEL
    ran = _count_expansions(monkeypatch)
    fast = GaussianMixture(K, **kw).fit(X)
    assert ran.count(None) >= 20 * 2  # two 2400-row chunks an iteration took the expansion
    monkeypatch.setattr(KERNEL, "available", False)
    assert kernels.for_chunk(X, "full", K, d) is not KERNEL
    exact = GaussianMixture(K, **kw).fit(X)
    assert fast.lower_bound_ == pytest.approx(exact.lower_bound_, rel=1e-11)
    np.testing.assert_allclose(fast.means_, exact.means_, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(fast.covariances_, exact.covariances_, rtol=1e-8, atol=1e-11)
    np.testing.assert_allclose(fast.predict_proba(X), exact.predict_proba(X), atol=1e-9)


def test_a_fit_with_one_flat_cluster_keeps_the_expansion(monkeypatch):
    """A cluster near a hyperplane (a rotated standard deviation of 1e-4),
    100 from the others, with reg_covar 1e-10, gives its component an exact
    column and its own moments; the other fifteen stay on the expansion, and
    the fit matches the exact routes' from the same start, the flat
    direction's variance included (summed about the centre, it was 4e-5 off)."""
    rng = np.random.default_rng(0)
    d, K = 16, 16
    X = _clusters(rng, K, d, 300)
    rotation, _ = np.linalg.qr(rng.normal(size=(d, d)))
    flat = rng.normal(size=(300, d))
    flat[:, 0] *= 1e-4
    X[:300] = X[:300].mean(axis=0) + 100 * rotation[:, 1] + flat @ rotation
    exact_lists = []
    expand = QuadraticPlan._expand
    monkeypatch.setattr(QuadraticPlan, "_expand", lambda self: exact_lists.append(expand(self)) or exact_lists[-1])
    ran = _count_expansions(monkeypatch)
    kw = dict(covariance_type="full", random_state=0, tol=0, max_iter=20, chunk_size=2400, reg_covar=1e-10)
    fast = GaussianMixture(K, **kw).fit(X)
    assert ran.count(None) >= 20 * 2
    assert all(len(e.exact) == 1 for e in exact_lists[-10:])  # the flat cluster's component
    monkeypatch.setattr(KERNEL, "available", False)
    exact = GaussianMixture(K, **kw).fit(X)
    assert fast.lower_bound_ == pytest.approx(exact.lower_bound_, rel=1e-10)
    np.testing.assert_allclose(fast.means_, exact.means_, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(fast.covariances_, exact.covariances_, rtol=1e-8, atol=1e-11)
    np.testing.assert_allclose(fast.predict_proba(X), exact.predict_proba(X), atol=1e-9)
    k = np.argmin([np.linalg.eigvalsh(c)[0] for c in exact.covariances_])
    v = np.linalg.eigh(exact.covariances_[k])[1][:, 0]
    assert v @ fast.covariances_[k] @ v == pytest.approx(v @ exact.covariances_[k] @ v, rel=1e-6, abs=0)


def test_a_float32_fit_matches_the_exact_routes_from_the_same_start(monkeypatch):
    """float32 data on the expansion (float64 arithmetic) against TRMM in float32."""
    rng = np.random.default_rng(0)
    d, K = 16, 16
    X = _clusters(rng, K, d, 300).astype(np.float32)
    kw = dict(covariance_type="full", random_state=0, tol=0, max_iter=20, chunk_size=2400)
    assert kernels.for_chunk(X, "full", K, d) is KERNEL
    ran = _count_expansions(monkeypatch)
    fast = GaussianMixture(K, **kw).fit(X)
    assert ran.count(None) >= 20 * 2
    assert fast.means_.dtype == fast.covariances_.dtype == np.float32
    monkeypatch.setattr(KERNEL, "available", False)
    assert kernels.for_chunk(X, "full", K, d) is triangular.KERNEL
    exact = GaussianMixture(K, **kw).fit(X)
    assert fast.lower_bound_ == pytest.approx(exact.lower_bound_, rel=1e-6)
    np.testing.assert_allclose(fast.means_, exact.means_, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(fast.covariances_, exact.covariances_, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(fast.predict_proba(X), exact.predict_proba(X), atol=1e-4)


@pytest.mark.parametrize("outlier", [1e140, 1e160])
def test_a_row_whose_squares_overflow_sends_its_chunk_to_the_exact_route(outlier, monkeypatch):
    """z_a z_b of a row at 1e160 overflows; the exact routes' distances grow as |x - mu|."""
    rng = np.random.default_rng(1)
    d, K = 8, 16
    X = _clusters(rng, K, d, 200)
    X[0] = outlier
    w = np.ones(len(X))
    w[0] = 0.0  # it weighs nothing in the fit, but must not make its statistics NaN
    kw = dict(covariance_type="full", random_state=0, tol=0, max_iter=5, chunk_size=3200)
    ran = _count_expansions(monkeypatch)
    fast = GaussianMixture(K, **kw).fit(X, sample_weight=w)
    assert (None in ran) == (outlier < 1e150)  # the chunk holding it took the expansion only at 1e140
    monkeypatch.setattr(KERNEL, "available", False)
    exact = GaussianMixture(K, **kw).fit(X, sample_weight=w)
    np.testing.assert_allclose(fast.means_, exact.means_, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(fast.covariances_, exact.covariances_, rtol=1e-8, atol=1e-11)


def test_a_noise_component_is_a_column_of_the_expansion(monkeypatch):
    rng = np.random.default_rng(2)
    d, K = 10, 16
    X = np.vstack([_clusters(rng, K, d, 150), rng.uniform(-30, 30, size=(200, d))])
    noise = np.arange(len(X)) >= K * 150  # the uniform rows start as noise
    kw = dict(covariance_type="full", random_state=0, tol=0, max_iter=10, noise_init=noise, chunk_size=2600)
    ran = _count_expansions(monkeypatch)
    fast = GaussianMixture(K, **kw).fit(X)
    assert None in ran
    monkeypatch.setattr(KERNEL, "available", False)
    exact = GaussianMixture(K, **kw).fit(X)
    assert fast.noise_weight_ == pytest.approx(exact.noise_weight_, rel=1e-10)
    np.testing.assert_allclose(fast.means_, exact.means_, rtol=1e-9, atol=1e-10)
    np.testing.assert_array_equal(fast.predict(X), exact.predict(X))
