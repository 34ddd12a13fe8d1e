"""Bad input gets a ValueError that says what to do."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from gaussmix import GaussianMixture, available_models

from .helpers import blobs


@pytest.fixture
def X():
    return blobs(seed=20)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_in_X_under_nan_policy_raise(X, bad):
    X = X.copy()
    X[5, 1] = bad
    with pytest.raises(ValueError, match=r"(NaN|inf).*rows 5\. Drop those rows or impute"):
        GaussianMixture(2, nan_policy="raise").fit(X)
    gm = GaussianMixture(2, random_state=0, nan_policy="raise").fit(np.delete(X, 5, axis=0))
    with pytest.raises(ValueError, match="impute"):
        gm.predict(X)


@pytest.mark.parametrize("policy", ["marginalize", "omit"])
@pytest.mark.parametrize("bad", [np.inf, -np.inf])
def test_inf_is_an_error_under_every_nan_policy(X, bad, policy):
    X = X.copy()
    X[5, 1] = bad
    X[9, 0] = np.nan
    with pytest.raises(ValueError, match=r"1 inf value\(s\), in rows 5\. NaN marks a missing"):
        GaussianMixture(2, nan_policy=policy).fit(X)
    gm = GaussianMixture(2, random_state=0, nan_policy=policy).fit(np.delete(X, 5, axis=0))
    # "omit" cannot drop a row whose result is asked for: it refuses NaN there.
    with pytest.raises(ValueError, match=r"inf value\(s\), in rows 5[.,]"):
        gm.predict(X)


def test_one_dimensional_X(X):
    with pytest.raises(ValueError, match=r"reshape\(-1, 1\)"):
        GaussianMixture(2).fit(X[:, 0])


def test_empty_X():
    with pytest.raises(ValueError, match="0 sample"):
        GaussianMixture(2).fit(np.empty((0, 3)))


def test_fewer_samples_than_components(X):
    with pytest.raises(ValueError, match="Expected n_samples >= n_components but got "
                                         "n_components = 5, n_samples = 4.*Reduce n_components"):
        GaussianMixture(5).fit(X[:4])


@pytest.mark.parametrize(
    "weights, message",
    [
        (lambda n: -np.ones(n), "non-negative"),
        (lambda n: np.ones(n - 1), r"shape \(\d+,\) but X has \d+ rows"),
        (lambda n: np.ones((n, 2)), "one weight per row"),
        (lambda n: np.r_[np.nan, np.ones(n - 1)], "NaN or inf"),
        (lambda n: np.zeros(n), "every sample_weight is zero"),
        (lambda n: np.r_[1.0, np.zeros(n - 1)], "only 1 row"),
        (lambda n: ["a"] * n, "array of numbers"),
    ],
)
def test_bad_sample_weight(X, weights, message):
    with pytest.raises(ValueError, match=message):
        GaussianMixture(2).fit(X, sample_weight=weights(len(X)))


def test_non_numeric_dataframe_columns_are_named(X):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    df["species"] = "setosa"
    df["when"] = pd.Timestamp("2020-01-01")
    with pytest.raises(ValueError, match=r"non-numeric column\(s\) \['species', 'when'\]"):
        GaussianMixture(2).fit(df)


def test_predict_with_a_different_number_of_features(X):
    gm = GaussianMixture(2, random_state=0).fit(X)
    for method in ("predict", "predict_proba", "score_samples", "score", "bic", "aic"):
        with pytest.raises(ValueError, match="X has 2 features, but GaussianMixture is expecting 3"):
            getattr(gm, method)(X[:, :2])


def test_not_fitted(X):
    with pytest.raises(NotFittedError):
        GaussianMixture(2).predict(X)


@pytest.mark.parametrize("method", ["predict", "predict_proba", "score_samples", "score", "bic", "criteria"])
def test_a_failed_fit_leaves_the_mixture_unfitted(X, method):
    # The fit checks X (setting n_features_in_) before it finds too few rows;
    # scikit-learn's own test would take that attribute for a fit.
    gm = GaussianMixture(5)
    with pytest.raises(ValueError):
        gm.fit(X[:3])
    assert hasattr(gm, "n_features_in_")
    with pytest.raises(NotFittedError):
        getattr(gm, method)(X)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(weights_init=[0.5, 0.6]), r"should be normalized, but got sum\(weights\) = 1.10000; divide"),
        (dict(weights_init=[1.0]), r"'weights' should have the shape of \(2,\), but got \(1,\)"),
        (dict(weights_init=[1.5, -0.5]), r"in the range \[0, 1\].*run from -0.5 to 1.5"),
        (dict(weights_init=[np.nan, 0.5]), "NaN"),
        (dict(means_init=np.zeros((3, 3))), r"'means' should have the shape of \(2, 3\), but got \(3, 3\)"),
        (dict(means_init="abc"), "'means_init' parameter .* must be an array-like"),
        (dict(means_init=[["a", "b", "c"]] * 2), "means_init must be an array of numbers"),
        (dict(precisions_init=np.zeros((2, 3))), r"'full precision' should have the shape of \(2, 3, 3\)"),
        (dict(precisions_init=np.stack([np.eye(3), -np.eye(3)])), "positive-definite, but its smallest eigenvalue is -1"),
        (dict(precisions_init=np.stack([np.eye(3), np.triu(np.ones((3, 3)))])), "positive-definite, but it is not symmetric"),
        (dict(covariance_type="diag", precisions_init=np.array([[1.0, 1, 1], [1, 0, 1]])), "'diag precision' should be positive"),
        (dict(covariance_type="spherical", precisions_init=np.eye(3)), "'spherical precision' should have the shape"),
        (dict(covariance_type="VVI", precisions_init=np.stack([np.ones((3, 3))] * 2)), "diagonal"),
        (dict(covariance_type="EEE", precisions_init=np.stack([np.eye(3), 2 * np.eye(3)])), "differs"),
        (dict(covariance_type="VII", precisions_init=np.stack([np.diag([1.0, 2, 3])] * 2)), "spherical"),
    ],
)
def test_bad_initial_parameters(X, kwargs, message):
    with pytest.raises(ValueError, match=message):
        GaussianMixture(2, **kwargs).fit(X)


def _resp(n, case):
    """Starting responsibilities for n rows and 2 components, spoiled as ``case`` says."""
    r = np.zeros((n, 2))
    r[np.arange(n), np.arange(n) % 2] = 1.0
    if case == "nan":
        r[3, 0] = np.nan
    elif case == "negative":
        r[4] = [1.25, -0.25]
    elif case == "row sum":
        r[6] = [0.5, 0.6]
    elif case == "empty column":
        r[:] = [1.0, 0.0]
    elif case == "shape":
        r = r[:-1]
    return r


@pytest.mark.parametrize(
    "case, message",
    [
        ("nan", "resp_init contains NaN or inf"),
        ("negative", "resp_init must be non-negative"),
        ("row sum", r"each row of resp_init must sum to 1, but row 6 sums to 1.1; divide each row by its sum"),
        ("empty column", r"resp_init gives component\(s\) \[1\] no responsibility at all"),
        ("shape", r"resp_init has shape \(\d+, 2\), expected \(\d+, 2\): one row per sample"),
    ],
)
def test_bad_resp_init(X, case, message):
    with pytest.raises(ValueError, match=message):
        GaussianMixture(2, resp_init=_resp(len(X), case)).fit(X)


def test_rounded_resp_init_is_renormalised(X):
    """Responsibilities rounded to 4 digits (as printed) are accepted, each row divided by its sum."""
    rounded = np.round(np.random.default_rng(0).dirichlet([1.0, 1.0, 1.0], size=len(X)), 4)
    assert np.abs(rounded.sum(axis=1) - 1).max() > 1e-5
    fits = [GaussianMixture(3, covariance_type="diag", resp_init=r, max_iter=0).fit(X)
            for r in (rounded, rounded / rounded.sum(axis=1, keepdims=True))]
    np.testing.assert_allclose(fits[0].covariances_, fits[1].covariances_, rtol=1e-12)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(n_components=0), r"'n_components' parameter .* must be an int in the range \[1, inf\)"),
        (dict(n_components=2.5), "'n_components' parameter .* must be an int"),
        (dict(covariance_type="round"), "'covariance_type' parameter .* must be a str among .*'full'"),
        (dict(tol=-1), "'tol' parameter"),
        (dict(tol=np.inf), r"'tol' parameter .* range \[0.0, inf\). Got inf"),
        (dict(reg_covar=-1e-3), "'reg_covar' parameter"),
        (dict(reg_covar=np.nan), "'reg_covar' parameter"),
        (dict(max_iter=-1), "'max_iter' parameter"),
        (dict(n_init=0), "'n_init' parameter"),
        (dict(init_params="hierarchical"), "'init_params' parameter .* must be a str among"),
        (dict(verbose=-1), "'verbose' parameter"),
        (dict(verbose_interval=0), "'verbose_interval' parameter"),
        (dict(chunk_size=0), "'chunk_size' parameter"),
        (dict(warm_start="yes"), "'warm_start' parameter"),
    ],
)
def test_bad_hyper_parameters(X, kwargs, message):
    with pytest.raises(ValueError, match=message):
        GaussianMixture(**kwargs).fit(X)


def test_bad_sample_count(X):
    gm = GaussianMixture(2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="positive integer"):
        gm.sample(0)


# Scoring an in-memory array looks for NaN and inf only where the E-step's
# log p(x) came out non-finite (engine.scoring.fused_e_step); these tests hold
# that on every model and route, with the bad rows in a later chunk.
SCORING = ["predict_proba", "score_samples", "predict", "score"]


@pytest.fixture
def every_route_blas(monkeypatch):
    """Send every structure off the row kernel, onto the BLAS routes."""
    from gaussmix.engine.kernels import rows

    for limit in ("ROW_KERNEL_MAX_D_MATRIX", "ROW_KERNEL_MAX_D_TRIANGULAR_F32", "ROW_KERNEL_MAX_D_SHARED",
                  "ROW_KERNEL_MAX_DK_DIAG"):
        monkeypatch.setattr(rows, limit, 0)


def _fitted(model, dtype, seed=3):
    X = blobs((150, 130, 120), seed=seed).astype(dtype)
    return GaussianMixture(2, covariance_type=model, chunk_size=128, random_state=0).fit(X), X


@pytest.mark.parametrize("route", ["row", "blas"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("model", [m for m in available_models() if m not in ("E", "V")])
def test_scoring_names_nan_and_inf_rows(model, dtype, route, request):
    if route == "blas":
        request.getfixturevalue("every_route_blas")
    gm, X = _fitted(model, dtype)
    X = X.copy()
    X[263, 1] = np.nan
    X[300, 0] = -np.inf
    gm_raise = clone(gm).set_params(nan_policy="raise").fit(np.delete(X, [263, 300], axis=0))
    for method in SCORING:
        with pytest.raises(ValueError, match=r"1 NaN and 1 inf value\(s\), in rows 263, 300\. Drop"):
            getattr(gm_raise, method)(X)
        # NaN is a missing value by default; the inf row alone is named.
        with pytest.raises(ValueError, match=r"1 inf value\(s\), in rows 300\. NaN marks"):
            getattr(gm, method)(X)


@pytest.mark.parametrize("route", ["row", "blas"])
def test_finite_rows_with_underflowed_densities_are_scored(route, request):
    """A finite row so far out that every density underflows: log p = -inf, no error."""
    if route == "blas":
        request.getfixturevalue("every_route_blas")
    for model in ("VVV", "VVI", "EEE", "VII"):
        gm, X = _fitted(model, np.float64)
        X = X.copy()
        X[7] = 1e200
        log_p = gm.score_samples(X)
        assert log_p[7] == -np.inf and np.isfinite(np.delete(log_p, 7)).all()
        resp = gm.predict_proba(X)
        np.testing.assert_allclose(resp.sum(axis=1), 1.0)


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), log_scale=st.floats(-3.0, 3.0), log_skew=st.floats(-10.0, -3.0))
def test_precisions_init_is_symmetric_exactly_where_numpy_allclose_says(seed, log_scale, log_skew):
    """The symmetry test of ``precisions_init`` is ``np.allclose``'s (rtol=1e-5, atol=1e-8), near its edge too."""
    from gaussmix import starts
    from gaussmix.models import get_model

    rng = np.random.default_rng(seed)
    A = rng.normal(size=(2, 3, 3))
    P = (A @ np.swapaxes(A, 1, 2) + np.eye(3)) * 10.0**log_scale
    P = P + rng.normal(size=P.shape) * np.abs(P) * 10.0**log_skew  # asymmetric around the tolerance
    model, sklearn_layout = get_model("full")
    try:
        starts.check_precisions_init(P, model, sklearn_layout, 2, 3)
        refused = False
    except ValueError as exc:
        refused = "not symmetric" in str(exc)
    assert refused == (not np.allclose(P, np.swapaxes(P, 1, 2)))


@pytest.mark.parametrize("covariance_type", ["full", "tied"])
def test_precisions_init_is_positive_definite_exactly_where_eigvalsh_says(covariance_type):
    """Jacobi's eigenvalues decide only where they clearly can; near zero LAPACK's, whose value the error names.

    Matrices with a least eigenvalue from -1e-2 to 1e-2 of the largest, the
    edge at a few ulps included, on one to five features and scales far apart.
    """
    from gaussmix import starts
    from gaussmix.models import get_model

    model, sklearn_layout = get_model(covariance_type)
    rng = np.random.default_rng(11)
    seen = set()
    for _ in range(400):
        d, K = int(rng.integers(1, 6)), 1 if covariance_type == "tied" else int(rng.integers(1, 4))
        Q = np.linalg.qr(rng.normal(size=(K, d, d)))[0]
        values = rng.uniform(0.5, 2.0, size=(K, d))
        values[:, 0] = rng.choice([-1.0, 1.0]) * 10.0 ** rng.uniform(-17, -2) * rng.integers(0, 2, size=K)
        P = np.einsum("kij,kj,klj->kil", Q, values, Q) * 10.0 ** rng.integers(-6, 7)
        P = (P + np.swapaxes(P, 1, 2)) / 2
        if covariance_type == "tied":
            P = P[0]
        least = np.linalg.eigvalsh(P).min()
        try:
            starts.check_precisions_init(P, model, sklearn_layout, K, d)
            refused = False
        except ValueError as exc:  # or, positive but too near singular, "cannot be inverted"
            refused = "positive-definite" in str(exc)
            assert not refused or f"its smallest eigenvalue is {least:.3g}:" in str(exc)
        assert refused == (not least > 0), (d, K, least)
        seen.add(refused)
    assert seen == {True, False}, "both verdicts met"
