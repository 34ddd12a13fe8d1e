"""Missing values (NaN), marginalised: held to plain references written from the formulas.

``tests/missing_reference.py`` loops over rows with scipy's densities; it
shares no code with ``gaussmix.engine.missing``.
"""

import logging
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sklearn.impute import SimpleImputer

from gaussmix import (BayesianGaussianMixture, ChunkedData, DegenerateComponentWarning,
                      DegenerateCovarianceError, GaussianMixture, MissingValuesWarning,
                      available_models, select)

from . import missing_reference as ref
from .helpers import assert_obeys_model, blobs

ALL = ["full", "tied", "diag", "spherical", *available_models(n_features=3)]


def full_covariances(gm):
    """``covariances_`` as (K, d, d), whatever the layout."""
    cov, K, d = np.asarray(gm.covariances_, dtype=np.float64), gm.n_components, gm.means_.shape[1]
    return {
        "tied": lambda: np.broadcast_to(cov, (K, d, d)),
        "diag": lambda: np.stack([np.diag(c) for c in cov]),
        "spherical": lambda: cov[:, None, None] * np.eye(d),
    }.get(gm.covariance_type, lambda: cov)()


def _quiet_but(category, gm, X):
    """Fit with every warning silenced except ``category``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.simplefilter("always", category)
        return gm.fit(X)


def _quiet(gm, X, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return gm.fit(X, **kw)


@pytest.fixture(scope="module")
def holes():
    """Three blobs in 3-D with 15% of the cells missing, one row empty and some complete."""
    X = ref.mcar(blobs(n_per=(120, 100, 80), d=3, seed=7), 0.15, seed=1)
    X[10] = np.nan
    return X


# ------------------------------------------------------------ the densities
@pytest.mark.parametrize("name", ALL)
def test_score_samples_is_the_marginal_density(holes, name):
    gm = _quiet(GaussianMixture(3, covariance_type=name, random_state=0), holes)
    expected = ref.log_density(holes, gm.weights_, gm.means_, full_covariances(gm))
    np.testing.assert_allclose(gm.score_samples(holes), expected, rtol=0, atol=1e-10)
    proba, log_p = gm.predict_proba_and_score_samples(holes)
    np.testing.assert_allclose(log_p, expected, rtol=0, atol=1e-10)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    # log L and n of the criteria are the observed data's; the empty row counts in neither.
    n = np.count_nonzero(~np.isnan(holes).all(axis=1))
    assert gm.bic(holes) == pytest.approx(-2 * expected.sum() + gm.n_parameters() * np.log(n), rel=1e-12)
    assert gm.score(holes) == pytest.approx(expected.sum() / n, rel=1e-12)


def test_a_row_with_nothing_observed(holes):
    gm = GaussianMixture(3, random_state=0).fit(holes)
    empty = np.full((2, 3), np.nan)
    assert np.all(gm.score_samples(empty) == 0.0)
    np.testing.assert_allclose(gm.predict_proba(empty), np.tile(gm.weights_, (2, 1)), rtol=1e-14)
    np.testing.assert_allclose(gm.impute(empty), np.tile(gm.weights_ @ gm.means_, (2, 1)), rtol=1e-13)


@pytest.mark.parametrize("name", ["full", "tied", "VVI", "EVE", "spherical"])
def test_impute_is_the_conditional_expectation(holes, name):
    gm = _quiet(GaussianMixture(3, covariance_type=name, random_state=0), holes)
    filled = gm.impute(holes)
    expected = ref.impute(holes, gm.weights_, gm.means_, full_covariances(gm))
    np.testing.assert_allclose(filled, expected, rtol=1e-10, atol=1e-10)
    observed = ~np.isnan(holes)
    np.testing.assert_array_equal(filled[observed], holes[observed])
    assert not np.isnan(filled).any()


def test_float32_data_with_holes(holes):
    gm = GaussianMixture(3, random_state=0).fit(holes.astype(np.float32))
    assert gm.means_.dtype == np.float32
    log_p = gm.score_samples(holes.astype(np.float32))
    assert log_p.dtype == np.float32
    expected = ref.log_density(holes, gm.weights_.astype(np.float64), gm.means_.astype(np.float64),
                               full_covariances(gm))
    np.testing.assert_allclose(log_p, expected, rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------- the fit
@pytest.mark.parametrize("weighted, chunk_size", [(False, None), (True, 37)])
def test_vvv_fit_equals_the_reference_em_from_the_same_start(weighted, chunk_size):
    rng = np.random.default_rng(3)
    X = ref.mcar(blobs(n_per=(90, 70, 60), d=3, seed=11), 0.15, seed=2)
    w = rng.uniform(0.2, 3.0, len(X)) if weighted else None
    weights, means = np.array([0.3, 0.3, 0.4]), X[~np.isnan(X).any(axis=1)][[0, 50, 120]]
    cov = np.stack([np.eye(3) * s for s in (2.0, 3.0, 4.0)])
    n_iter = 12
    gm = _quiet(GaussianMixture(3, weights_init=weights, means_init=means, precisions_init=np.linalg.inv(cov),
                                reg_covar=0.0, tol=0.0, max_iter=n_iter, chunk_size=chunk_size), X, sample_weight=w)
    state, trace = (weights, means, cov), []
    for _ in range(n_iter):
        *state, loglik = ref.em_step(X, w, *state)
        trace.append(loglik)
    counted = ~np.isnan(X).all(axis=1)
    total = counted.sum() if w is None else w[counted].sum()
    np.testing.assert_allclose(gm.weights_, state[0], rtol=1e-6)
    np.testing.assert_allclose(gm.means_, state[1], rtol=1e-6)
    np.testing.assert_allclose(gm.covariances_, state[2], rtol=1e-6)
    # The trace is the observed-data log-likelihood per unit weight, each
    # value that of the parameters entering its iteration.
    np.testing.assert_allclose(gm.lower_bounds_, np.array(trace) / total, rtol=1e-9)
    assert np.all(np.diff(trace) > 0)


def _unpack(theta, K, d, structure):
    logits = np.concatenate([[0.0], theta[: K - 1]])
    weights = np.exp(logits - logits.max())
    weights /= weights.sum()
    means = theta[K - 1 : K - 1 + K * d].reshape(K, d)
    rest = theta[K - 1 + K * d :]
    tril = np.tril_indices(d)

    def chol(values):
        L = np.zeros((d, d))
        L[tril] = values
        L[np.diag_indices(d)] = np.exp(np.diag(L))
        return L @ L.T

    if structure == "VVI":
        cov = np.stack([np.diag(np.exp(v)) for v in rest.reshape(K, d)])
    elif structure == "EEE":
        cov = np.broadcast_to(chol(rest), (K, d, d))
    else:
        cov = np.stack([chol(v) for v in rest.reshape(K, len(tril[0]))])
    return weights, means, cov


def _pack(gm, structure):
    K, d = gm.means_.shape
    w = np.log(gm.weights_)
    parts = [w[1:] - w[0], gm.means_.ravel()]

    def chol_values(cov):
        L = np.linalg.cholesky(cov)
        L[np.diag_indices(len(cov))] = np.log(np.diag(L))
        return L[np.tril_indices(len(cov))]

    if structure == "VVI":
        parts.append(np.log(np.stack([np.diag(c) for c in gm.covariances_])).ravel())
    elif structure == "EEE":
        parts.append(chol_values(gm.covariances_[0]))
    else:
        parts.extend(chol_values(c) for c in gm.covariances_)
    return np.concatenate(parts)


@pytest.mark.parametrize("code", ["VVV", "VVI", "EEE"])
def test_the_observed_log_likelihood_is_stationary_at_convergence(code):
    """Central differences of the reference log-likelihood vanish at EM's fixed point."""
    X = ref.mcar(blobs(n_per=(80, 60, 60), d=3, seed=5), 0.15, seed=4)
    K, d = 3, 3

    def loglik(theta):
        return ref.log_density(X, *_unpack(theta, K, d, code)).sum()

    def gradient(theta, h=1e-5):
        grad = np.empty_like(theta)
        for j in range(len(theta)):
            step = np.zeros_like(theta)
            step[j] = h
            grad[j] = (loglik(theta + step) - loglik(theta - step)) / (2 * h)
        return grad

    start = GaussianMixture(K, covariance_type=code, reg_covar=0.0, max_iter=1, random_state=0)
    converged = GaussianMixture(K, covariance_type=code, reg_covar=0.0, tol=1e-13, max_iter=20000,
                                random_state=0)
    _quiet(start, X)
    converged.fit(X)
    assert converged.converged_
    theta = _pack(converged, code)
    assert loglik(theta) == pytest.approx(converged.score(X) * (len(X)), rel=1e-10)
    # Far from the optimum the gradient is large, so the test can fail.
    assert np.abs(gradient(_pack(start, code))).max() > 1.0
    assert np.abs(gradient(theta)).max() < 1e-4


@st.composite
def holey_data(draw):
    seed = draw(st.integers(0, 2**31))
    d = draw(st.integers(2, 3))
    n = draw(st.integers(40, 150))
    rng = np.random.default_rng(seed)
    K_true = draw(st.integers(1, 3))
    centres = rng.normal(size=(K_true, d)) * draw(st.floats(1.0, 6.0))
    X = centres[rng.integers(0, K_true, n)] + rng.normal(size=(n, d)) * rng.uniform(0.3, 2, d)
    return ref.mcar(X, draw(st.floats(0.02, 0.35)), seed), seed


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=holey_data(), K=st.integers(1, 3), code=st.sampled_from(available_models(n_features=2)),
       weighted=st.booleans(), chunk_size=st.sampled_from([None, 17]))
def test_em_never_decreases_the_observed_log_likelihood(data, K, code, weighted, chunk_size):
    """reg_covar=0: each iteration maximises the expected complete-data
    log-likelihood (ECM for the iterative M-steps), so the observed-data
    log-likelihood never falls, and every model keeps its constraints."""
    X, seed = data
    w = np.random.default_rng(seed).uniform(0.1, 3, len(X)) if weighted else None
    gm = GaussianMixture(K, covariance_type=code, reg_covar=0.0, tol=0.0, max_iter=12, random_state=seed,
                         chunk_size=chunk_size)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            gm.fit(X, sample_weight=w)
        except (DegenerateCovarianceError, ValueError):
            assume(False)  # a component collapsed, or too few rows observed for a start
    assume(not any(issubclass(c.category, DegenerateComponentWarning) for c in caught))
    # A component shrinking onto the observed values of a row or two makes the
    # likelihood unbounded; once its variances are this small (1e-30 was seen
    # unflagged) the trace is rounding, not EM.
    assume(np.linalg.eigvalsh(gm.covariances_).min() > 1e-10 * np.nanvar(X))
    lb = np.asarray(gm.lower_bounds_)
    assert np.all(np.diff(lb) >= -1e-8 * (1 + np.abs(lb[1:])))
    assert_obeys_model(code, gm.covariances_, rtol=1e-7)
    assert np.linalg.eigvalsh(gm.covariances_).min() > 0
    np.testing.assert_allclose(gm.predict_proba(X).sum(axis=1), 1.0, rtol=1e-10)


# ----------------------------------------------------------- the policies
@pytest.mark.parametrize("name", ["full", "tied", "diag", "spherical", "EVE", "VEV"])
def test_without_nan_the_fit_is_bitwise_the_raise_fit(name):
    X = blobs(seed=3)
    a = GaussianMixture(3, covariance_type=name, random_state=0).fit(X)
    b = GaussianMixture(3, covariance_type=name, random_state=0, nan_policy="raise").fit(X)
    for attr in ("weights_", "means_", "covariances_", "precisions_cholesky_", "lower_bounds_"):
        np.testing.assert_array_equal(getattr(a, attr), getattr(b, attr))
    np.testing.assert_array_equal(a.score_samples(X), b.score_samples(X))


def test_omit_is_the_fit_on_the_complete_rows(holes):
    w = np.random.default_rng(0).uniform(0.5, 2, len(holes))
    complete = ~np.isnan(holes).any(axis=1)
    omitted = GaussianMixture(3, random_state=0, nan_policy="omit").fit(holes, sample_weight=w)
    plain = GaussianMixture(3, random_state=0).fit(holes[complete], sample_weight=w[complete])
    for attr in ("weights_", "means_", "covariances_", "lower_bounds_"):
        np.testing.assert_array_equal(getattr(omitted, attr), getattr(plain, attr))
    assert omitted.bic(holes) == plain.bic(holes[complete])
    with pytest.raises(ValueError, match="NaN"):
        omitted.predict(holes)  # a row whose result is asked for cannot be dropped
    every_row = holes.copy()
    every_row[:, 0] = np.nan
    with pytest.raises(ValueError, match="every row holds a NaN.*nan_policy='marginalize'"):
        GaussianMixture(2, nan_policy="omit").fit(every_row)


def test_omit_scores_the_rows_without_nan_and_an_empty_x_is_an_error(holes):
    omitted = GaussianMixture(3, random_state=0, nan_policy="omit").fit(holes)
    complete = holes[~np.isnan(holes).any(axis=1)]
    assert omitted.score(holes) == pytest.approx(omitted.score(complete), rel=1e-12)
    assert omitted.score(holes) == pytest.approx(omitted.score(holes, sample_weight=np.ones(len(holes))), rel=1e-12)
    gm = GaussianMixture(3, random_state=0).fit(holes)
    for method in ("score", "bic"):
        with pytest.raises(ValueError, match="nothing to score"):
            getattr(gm, method)(np.full((3, 3), np.nan))


def test_long_patterns_are_grouped_within_a_chunk_without_changing_the_fit(holes, monkeypatch):
    from gaussmix.engine import missing

    X = ref.mcar(blobs(n_per=(150, 150, 100), d=6, seed=8), 0.3, seed=9)
    kw = dict(n_components=3, random_state=0, tol=0.0, max_iter=8)
    whole = _quiet(GaussianMixture(**kw), X)
    imputed, log_p = whole.impute(X), whole.score_samples(X)
    monkeypatch.setattr(missing, "INVERSE_BYTES", 2000)  # a few rows per group
    grouped = _quiet(GaussianMixture(**kw), X)
    # The same sums, merged in another order: equal to rounding.
    np.testing.assert_allclose(grouped.lower_bounds_, whole.lower_bounds_, rtol=1e-9)
    np.testing.assert_allclose(grouped.covariances_, whole.covariances_, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(whole.impute(X), imputed, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(whole.score_samples(X), log_p, rtol=1e-12)


@pytest.mark.parametrize("gemm_from_d", [0, 1000])
def test_the_loop_and_blas_routes_of_the_holes_kernel_equal_the_reference(gemm_from_d, monkeypatch):
    """Past ``GEMM_FROM_D`` features BLAS forms the rows' products: both routes, every statistic."""
    from gaussmix.engine.kernels import holes as kernel

    monkeypatch.setattr(kernel, "GEMM_FROM_D", gemm_from_d)
    d = 7  # not a multiple of the kernels' unrolling
    X = ref.mcar(blobs(n_per=(90, 80, 70), d=d, seed=12), 0.2, seed=4)
    X[5] = np.nan
    weights, means = np.array([0.3, 0.3, 0.4]), np.nan_to_num(X[[0, 100, 200]])
    rng = np.random.default_rng(0)
    A = rng.normal(size=(3, d, d))
    cov = A @ np.swapaxes(A, 1, 2) / d + np.eye(d)
    w = rng.uniform(0.0, 3.0, len(X))
    w[7] = 0.0
    gm = _quiet(GaussianMixture(3, weights_init=weights, means_init=means, precisions_init=np.linalg.inv(cov),
                                reg_covar=0.0, tol=0.0, max_iter=3), X, sample_weight=w)
    state = (weights, means, cov)
    for _ in range(3):
        *state, _ = ref.em_step(X, w, *state)
    np.testing.assert_allclose(gm.weights_, state[0], rtol=1e-8)
    np.testing.assert_allclose(gm.means_, state[1], rtol=1e-8)
    np.testing.assert_allclose(gm.covariances_, state[2], rtol=1e-8)
    covariances = full_covariances(gm)
    np.testing.assert_allclose(gm.score_samples(X), ref.log_density(X, gm.weights_, gm.means_, covariances),
                               rtol=0, atol=1e-10)
    np.testing.assert_allclose(gm.impute(X), ref.impute(X, gm.weights_, gm.means_, covariances), rtol=1e-10,
                               atol=1e-10)
    # A pooled scatter (tied) sums the components' scatters of their own
    # completed rows: the tied M-step is sum_k pi_k S_k of VVV's.
    tied = _quiet(GaussianMixture(3, covariance_type="tied", weights_init=weights, means_init=means,
                                  precisions_init=np.linalg.inv(cov[0]), reg_covar=0.0, tol=0.0, max_iter=3), X)
    state = (weights, means, np.broadcast_to(cov[0], cov.shape))
    for _ in range(3):
        new_weights, new_means, new_cov, _ = ref.em_step(X, None, *state)
        state = (new_weights, new_means, np.broadcast_to(np.einsum("k,kij->ij", new_weights, new_cov), cov.shape))
    np.testing.assert_allclose(tied.means_, state[1], rtol=1e-8)
    np.testing.assert_allclose(tied.covariances_, state[2][0], rtol=1e-8)


@pytest.mark.parametrize("pivots", [[2.0, 3.0, 0.5], [1e-160, 1e-160, 1e150], [1e200, 1e200, 1e-10],
                                    [1e-200, 1e-200, 1.0]])
def test_the_log_determinant_of_a_missing_block_survives_any_scale(pivots):
    """``log |P_mm|`` from a product of pivots, or from their logs where the product leaves float64's range."""
    from gaussmix.engine.kernels.marginal import pattern_inverses

    d = len(pivots) + 1
    rng = np.random.default_rng(0)
    Q = np.linalg.qr(rng.normal(size=(d - 1, d - 1)))[0]
    block = Q @ np.diag(pivots) @ Q.T if max(pivots) / min(pivots) < 1e10 else np.diag(pivots)
    precision = np.eye(d)
    precision[1:, 1:] = block
    patterns = np.array([[False] + [True] * (d - 1)])
    _, _, inverses, _, base = pattern_inverses(patterns, precision[:, :, None].copy(), np.zeros(1))
    expected = (d - 1) * 0.5 * np.log(2 * np.pi) - 0.5 * np.sum(np.log(pivots))
    assert base[0, 0] == pytest.approx(expected, rel=1e-12, abs=1e-12)
    if max(pivots) / min(pivots) < 1e10:
        np.testing.assert_allclose(inverses[:, 0].reshape(d - 1, d - 1), np.linalg.inv(block), rtol=1e-10)


@pytest.mark.parametrize("d", [1, 16, 64, 65, 130])
def test_rows_are_grouped_by_their_exact_pattern_of_holes(d):
    from gaussmix.engine.kernels.marginal import pattern_ids

    rng = np.random.default_rng(d)
    mask = rng.random((400, d)) < 2.0 / d
    mask[::7] = mask[3]  # many rows share a pattern
    pattern, first = pattern_ids(mask)
    assert (mask[first][pattern] == mask).all()  # each row's pattern is its own
    assert len(np.unique(mask, axis=0)) == first.size  # and no two patterns merged


def test_two_patterns_whose_hashes_collide_stay_apart():
    from gaussmix.engine.kernels.marginal import pattern_ids

    # Beyond 64 features a pattern's two words are hashed to one,
    # (w0 * C) ^ w1 with C = 0x9E3779B97F4A7C15 modulo 2**64: choose the
    # second row's words so that its hash equals the first's.
    C, top = 0x9E3779B97F4A7C15, 2**64 - 1
    w0, w1, v0 = 0b1011, 0b1, 0b110
    v1 = ((w0 * C) & top) ^ w1 ^ ((v0 * C) & top)

    def row(a, b):
        return np.array([(a >> j) & 1 for j in range(64)] + [(b >> j) & 1 for j in range(64)], dtype=bool)

    mask = np.array([row(w0, w1), row(v0, v1), row(w0, w1), row(v0, v1)])
    pattern, first = pattern_ids(mask)
    assert first.size == 2 and pattern[0] == pattern[2] != pattern[1] == pattern[3]


def test_raise_refuses_nan_and_the_tags_say_so(holes):
    with pytest.raises(ValueError, match=r"NaN.*Drop those rows or impute"):
        GaussianMixture(2, nan_policy="raise").fit(holes)
    assert GaussianMixture().__sklearn_tags__().input_tags.allow_nan
    assert not GaussianMixture(nan_policy="raise").__sklearn_tags__().input_tags.allow_nan
    with pytest.raises(ValueError, match="nan_policy"):
        GaussianMixture(nan_policy="drop").fit(holes)
    with pytest.raises(ValueError, match="NaN"):
        BayesianGaussianMixture(n_components=2).fit(holes)


def test_recovery_beats_mean_imputation():
    rng = np.random.default_rng(0)
    means = np.array([[0.0, 0, 0, 0], [4, 4, 0, 0], [0, 4, 4, -2]])
    A = rng.normal(size=(3, 4, 4)) * 0.5
    covs = A @ np.swapaxes(A, 1, 2) + 0.5 * np.eye(4)
    weights = np.array([0.5, 0.3, 0.2])

    def draw(n):
        z = rng.choice(3, n, p=weights)
        return np.stack([rng.multivariate_normal(means[k], covs[k]) for k in z])

    train, test = ref.mcar(draw(1500), 0.2, seed=1), draw(2000)
    marginal = GaussianMixture(3, n_init=3, random_state=0).fit(train)
    filled = SimpleImputer(strategy="mean").fit_transform(train)
    imputed = GaussianMixture(3, n_init=3, random_state=0).fit(filled)
    assert marginal.score(test) > imputed.score(test) + 0.05
    truth = ref.log_density(test, weights, means, covs).mean()
    assert marginal.score(test) == pytest.approx(truth, abs=0.05)
    order = [int(np.argmin(np.linalg.norm(marginal.means_ - m, axis=1))) for m in means]
    assert sorted(order) == [0, 1, 2]
    np.testing.assert_allclose(marginal.means_[order], means, atol=0.25)


# ------------------------------------------------------------- the starts
@pytest.mark.parametrize("init", ["kmeans", "k-means++", "random", "random_from_data"])
def test_every_start_runs_on_complete_or_filled_rows(holes, init, caplog):
    with caplog.at_level(logging.INFO, logger="gaussmix"):
        gm = GaussianMixture(3, init_params=init, random_state=0).fit(holes)
    assert "the start runs on the " in caplog.text and "complete rows of 300" in caplog.text
    assert np.isfinite(gm.lower_bound_)
    sparse = ref.mcar(blobs(n_per=(40, 40, 40), d=6, seed=2), 0.5, seed=3)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="gaussmix"):
        gm = _quiet(GaussianMixture(2, init_params=init, random_state=0, covariance_type="diag"), sparse)
    assert "filled by the column means" in caplog.text
    assert np.isfinite(gm.lower_bound_)


def test_a_feature_never_observed_is_an_error_and_a_pair_never_together_warns():
    X = blobs(d=3, seed=1)
    X[:, 2] = np.nan
    with pytest.raises(ValueError, match=r"feature\(s\) \[2\] have no observed value"):
        GaussianMixture(2).fit(X)
    X = blobs(d=3, seed=1)
    X[::2, 0] = np.nan
    X[1::2, 1] = np.nan
    with pytest.warns(MissingValuesWarning, match=r"\(0, 1\) are never observed in the same row"):
        _quiet_but(MissingValuesWarning, GaussianMixture(2, covariance_type="VVV", random_state=0), X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", MissingValuesWarning)  # a diagonal model has no such covariance
        GaussianMixture(2, covariance_type="diag", random_state=0).fit(X)


# ------------------------------------------------- streams, Dask, steps
def _same_fit(a, b, rtol=1e-9):
    np.testing.assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=rtol)
    np.testing.assert_allclose(a.means_, b.means_, rtol=rtol, atol=1e-12)
    np.testing.assert_allclose(a.covariances_, b.covariances_, rtol=rtol, atol=1e-12)


def test_streams_and_dask_equal_the_in_memory_fit(holes, tmp_path):
    kw = dict(n_components=3, random_state=0, tol=0.0, max_iter=10)
    memory = GaussianMixture(**kw).fit(holes)
    np.save(tmp_path / "x.npy", holes)
    _same_fit(GaussianMixture(**kw).fit(str(tmp_path / "x.npy")), memory)
    chunks = ChunkedData(lambda: (holes[i : i + 64] for i in range(0, len(holes), 64)))
    _same_fit(GaussianMixture(**kw).fit(chunks), memory)
    da = pytest.importorskip("dask.array")
    lazy = da.from_array(holes, chunks=(70, 3))
    _same_fit(GaussianMixture(**kw).fit(lazy), memory)
    np.testing.assert_allclose(memory.predict_proba(lazy).compute(), memory.predict_proba(holes), rtol=1e-12)
    np.testing.assert_allclose(memory.impute(lazy).compute(), memory.impute(holes), rtol=1e-12)
    strict = GaussianMixture(**kw, nan_policy="raise").fit(holes[~np.isnan(holes).any(axis=1)])
    # impute treats NaN as missing whatever nan_policy is, for Dask too
    np.testing.assert_allclose(strict.impute(lazy).compute(), strict.impute(holes), rtol=1e-12)
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(holes, columns=["a", "b", "c"])
    frame.to_parquet(tmp_path / "x.parquet")
    _same_fit(GaussianMixture(**kw).fit(str(tmp_path / "x.parquet")), memory)
    dd = pytest.importorskip("dask.dataframe")
    _same_fit(GaussianMixture(**kw).fit(dd.from_pandas(frame, npartitions=4)), memory)


def test_partial_fit_with_holes_nears_the_batch_fit():
    X = blobs(n_per=(3000, 2000, 2000), d=3, seed=2)
    X = ref.mcar(X[np.random.default_rng(0).permutation(len(X))], 0.15, seed=5)
    batch = GaussianMixture(3, random_state=0, tol=1e-8, max_iter=500).fit(X)
    gm = GaussianMixture(3, random_state=0)
    for start in range(0, len(X), 500):
        gm.partial_fit(X[start : start + 500])
    order_a, order_b = np.argsort(gm.means_[:, 0]), np.argsort(batch.means_[:, 0])
    np.testing.assert_allclose(gm.means_[order_a], batch.means_[order_b], atol=0.15)
    assert gm.score(X) == pytest.approx(batch.score(X), rel=3e-3)


# -------------------------------------------------------------- selection
def test_select_ranks_by_the_bic_of_the_observed_data(holes):
    result = select(holes, n_components=range(1, 4), covariance_types=["VVV", "EEE", "VVI"], n_jobs=1)
    best = result.best_
    n = np.count_nonzero(~np.isnan(holes).all(axis=1))
    log_l = ref.log_density(holes, best.weights_, best.means_, full_covariances(best)).sum()
    assert np.nanmin(result.bic_) == pytest.approx(-2 * log_l + best.n_parameters() * np.log(n), rel=1e-10)
    assert best.n_components == 3
    omitted = select(holes, n_components=[3], covariance_types=["VVV"], n_jobs=1, nan_policy="omit")
    complete = holes[~np.isnan(holes).any(axis=1)]
    assert omitted.bic_[0, 0] == pytest.approx(
        select(complete, n_components=[3], covariance_types=["VVV"], n_jobs=1).bic_[0, 0], rel=1e-12)
    with pytest.raises(ValueError, match="NaN"):
        select(holes, n_components=[2], nan_policy="raise")


# -------------------------------------------------------------------- CLI
def test_cli_reads_empty_cells_and_na_as_missing(tmp_path):
    pd = pytest.importorskip("pandas")
    from .test_cli import run

    X = ref.mcar(blobs(n_per=(60, 50, 40), d=3, seed=9), 0.15, seed=6)
    # A missing value is an empty cell in even rows, NA in odd ones.
    lines = ["id,a,b,c"] + [f"r{i}," + ",".join(("", "NA")[i % 2] if np.isnan(v) else repr(float(v)) for v in row)
                            for i, row in enumerate(X)]
    (tmp_path / "holes.csv").write_text("\n".join(lines) + "\n")
    run(["fit", "holes.csv", "--columns", "a,b,c", "-k", "3", "--seed", "0", "-o", "m.gmm", "-q"], tmp_path)
    gm = GaussianMixture(3, random_state=0).fit(X)
    run(["predict", "m.gmm", "holes.csv", "--id", "id", "-o", "pred.csv"], tmp_path)
    pred = pd.read_csv(tmp_path / "pred.csv")
    np.testing.assert_allclose(pred[["prob_0", "prob_1", "prob_2"]].to_numpy(), gm.predict_proba(X), rtol=1e-9)
    np.testing.assert_allclose(pred["log_density"], gm.score_samples(X), rtol=1e-9)
    run(["impute", "m.gmm", "holes.csv", "-o", "filled.csv"], tmp_path)
    filled = pd.read_csv(tmp_path / "filled.csv")
    assert list(filled.columns) == ["id", "a", "b", "c"] and list(filled["id"]) == [f"r{i}" for i in range(len(X))]
    np.testing.assert_allclose(filled[["a", "b", "c"]].to_numpy(), gm.impute(X), rtol=1e-9)
    refused = run(["fit", "holes.csv", "--columns", "a,b,c", "--nan-policy", "raise", "-q"], tmp_path, ok=False)
    assert refused.returncode == 1 and "NaN" in refused.stderr
    same = run(["impute", "m.gmm", "holes.csv", "-o", "holes.csv"], tmp_path, ok=False)
    assert same.returncode != 0 and "would replace it" in same.stderr
    run(["fit", "holes.csv", "--columns", "a,b,c", "--nan-policy", "omit", "--standardize", "-o", "o.gmm", "-q"],
        tmp_path)
    run(["select", "holes.csv", "--columns", "a,b,c", "-k", "2-3", "-c", "VVV", "-c", "EEE", "-o", "s.gmm", "-q",
         "--jobs", "1"], tmp_path)
    # Parquet keeps its other columns; .npy is completed by position, for a model fitted on names;
    # a model fitted on z-scores imputes in DATA's units, observed values as read.
    table = pd.read_csv(tmp_path / "holes.csv")
    table["extra"] = np.arange(len(table))
    table.to_parquet(tmp_path / "holes.parquet")
    run(["impute", "m.gmm", "holes.parquet", "-o", "filled.parquet"], tmp_path)
    filled = pd.read_parquet(tmp_path / "filled.parquet")
    assert list(filled.columns) == ["id", "a", "b", "c", "extra"]
    np.testing.assert_allclose(filled[["a", "b", "c"]].to_numpy(), gm.impute(X), rtol=1e-9)
    np.save(tmp_path / "holes.npy", np.column_stack([np.arange(len(X)), X]))
    run(["impute", "m.gmm", "holes.npy", "--columns", "1,2,3", "-o", "filled_npy.csv"], tmp_path)
    filled = pd.read_csv(tmp_path / "filled_npy.csv")
    np.testing.assert_array_equal(filled["0"], np.arange(len(X)))
    np.testing.assert_allclose(filled[["1", "2", "3"]].to_numpy(), gm.impute(X), rtol=1e-9)
    run(["impute", "o.gmm", "holes.csv", "-o", "filled_z.csv"], tmp_path)
    filled = pd.read_csv(tmp_path / "filled_z.csv")[["a", "b", "c"]].to_numpy()
    observed = ~np.isnan(X)
    np.testing.assert_allclose(filled[observed], X[observed], rtol=1e-15)
    assert not np.isnan(filled).any()


def test_a_conjugate_prior_with_holes(holes):
    """The prior's data moments: the observed means, and a positive definite
    covariance from one EM step of a single Gaussian (``source_moments``)."""
    from gaussmix import ConjugatePrior

    gm = GaussianMixture(3, prior=ConjugatePrior(method="exact"), reg_covar=0.0, random_state=0,
                         tol=0.0, max_iter=20)
    _quiet(gm, holes)
    np.testing.assert_allclose(gm.prior_.mean, np.nanmean(holes, axis=0), rtol=1e-12)
    assert np.linalg.eigvalsh(gm.prior_.scale).min() > 0
    lb = np.asarray(gm.lower_bounds_)
    assert np.all(np.diff(lb) >= -1e-10 * np.abs(lb[1:]))  # exact MAP: the objective never falls
    assert np.isfinite(gm.score(holes))


def test_a_saved_model_keeps_its_nan_policy_and_scores_holes(holes, tmp_path):
    from gaussmix import load

    gm = GaussianMixture(3, random_state=0, nan_policy="omit").fit(holes)
    gm.save(tmp_path / "m.gmm")
    loaded = load(tmp_path / "m.gmm")
    assert loaded.nan_policy == "omit"
    marginal = GaussianMixture(3, random_state=0).fit(holes)
    marginal.save(tmp_path / "n.gmm")
    np.testing.assert_array_equal(load(tmp_path / "n.gmm").score_samples(holes), marginal.score_samples(holes))
