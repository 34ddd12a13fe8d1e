"""BayesianGaussianMixture against scikit-learn's from the same start, and on every source."""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.mixture import BayesianGaussianMixture as SKBayesian

from gaussmix import BayesianGaussianMixture, ChunkedData

from .helpers import blobs

TYPES = ["full", "tied", "diag", "spherical"]
PRIORS = ["dirichlet_process", "dirichlet_distribution"]
ATTRIBUTES = ["weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_",
              "mean_precision_", "degrees_of_freedom_", "weight_concentration_prior_",
              "mean_precision_prior_", "mean_prior_", "degrees_of_freedom_prior_", "covariance_prior_"]


def quiet(estimator, X, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return estimator.fit(X, **kw)


def assert_same_fit(a, b, rtol=1e-6):
    for name in ATTRIBUTES:
        np.testing.assert_allclose(np.asarray(getattr(a, name), float), np.asarray(getattr(b, name), float),
                                   rtol=rtol, atol=1e-12, err_msg=name)
    for x, y in zip(np.atleast_2d(a.weight_concentration_), np.atleast_2d(b.weight_concentration_)):
        np.testing.assert_allclose(x, y, rtol=rtol)
    assert a.n_iter_ == b.n_iter_ and a.converged_ == b.converged_
    np.testing.assert_allclose(float(np.squeeze(a.lower_bound_)), float(np.squeeze(b.lower_bound_)), rtol=rtol)


@pytest.mark.parametrize("covariance_type", TYPES)
@pytest.mark.parametrize("prior_type", PRIORS)
@pytest.mark.parametrize("init_params", ["kmeans", "random"])
def test_every_attribute_equals_scikit_learns_from_the_same_start(covariance_type, prior_type, init_params):
    X = blobs(d=3, seed=11)
    kw = dict(n_components=5, covariance_type=covariance_type, weight_concentration_prior_type=prior_type,
              init_params=init_params, random_state=0, max_iter=300, tol=1e-6)
    ours, theirs = quiet(BayesianGaussianMixture(**kw), X), quiet(SKBayesian(**kw), X)
    assert_same_fit(ours, theirs)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-8)
    np.testing.assert_allclose(ours.score_samples(X), theirs.score_samples(X), rtol=1e-8)


@pytest.mark.parametrize("covariance_type", TYPES)
def test_given_priors_equal_scikit_learns(covariance_type):
    X = blobs(d=2, seed=12)
    d = X.shape[1]
    cov = {"full": np.eye(d) * 2.0, "tied": np.eye(d) * 2.0, "diag": np.full(d, 2.0), "spherical": 2.0}
    kw = dict(n_components=3, covariance_type=covariance_type, random_state=1, max_iter=200,
              weight_concentration_prior=0.5, mean_precision_prior=0.3, mean_prior=[1.0, -1.0],
              degrees_of_freedom_prior=4.5, covariance_prior=cov[covariance_type])
    assert_same_fit(quiet(BayesianGaussianMixture(**kw), X), quiet(SKBayesian(**kw), X))


def test_chunks_streams_and_dask_fit_as_memory(tmp_path):
    X = blobs(d=3, seed=13)
    kw = dict(n_components=4, random_state=0, max_iter=50, tol=0)
    memory = quiet(BayesianGaussianMixture(**kw), X)
    chunked = quiet(BayesianGaussianMixture(chunk_size=37, **kw), X)
    np.save(tmp_path / "X.npy", X)
    streamed = quiet(BayesianGaussianMixture(**kw), str(tmp_path / "X.npy"))
    parts = np.array_split(X, 5)
    iterable = quiet(BayesianGaussianMixture(**kw), ChunkedData(lambda: iter(parts)))
    for other in (chunked, streamed, iterable):
        # The priors come from one pass of weighted moments instead of NumPy's formulas.
        assert_same_fit(other, memory, rtol=1e-9)
    da = pytest.importorskip("dask.array")
    on_dask = quiet(BayesianGaussianMixture(**kw), da.from_array(X, chunks=(100, 3)))
    assert_same_fit(on_dask, memory, rtol=1e-9)


def test_integer_weights_fit_as_repeated_rows():
    from gaussmix.backends import ArraySource
    from gaussmix.engine import driver
    from gaussmix.engine.schedules import Batch

    X = blobs(d=2, seed=14)
    w = np.random.default_rng(0).integers(0, 4, len(X)).astype(float)
    repeated = np.repeat(X, w.astype(int), axis=0)
    weighted = quiet(BayesianGaussianMixture(n_components=3, random_state=0, max_iter=1), X, sample_weight=w)
    plain = quiet(BayesianGaussianMixture(n_components=3, random_state=0, max_iter=1), repeated)
    for name in ("mean_prior_", "covariance_prior_"):  # weighted moments are the repeated rows'
        np.testing.assert_allclose(getattr(weighted, name), getattr(plain, name), rtol=1e-12)
    # From one start, EM on weights and on repeated rows is the same.
    updater, start = weighted._make_updater(), weighted._state()
    a = driver.run(ArraySource(X, w, 64), updater, start, Batch(), tol=0, max_iter=20)
    b = driver.run(ArraySource(repeated, None, 64), updater, start, Batch(), tol=0, max_iter=20)
    np.testing.assert_allclose(a.lower_bounds, b.lower_bounds, rtol=1e-10)
    np.testing.assert_allclose(a.state.params.covariances, b.state.params.covariances, rtol=1e-9)


def test_float32_data_stay_float32_and_fit_as_float64():
    X = blobs(d=3, seed=15)
    kw = dict(n_components=3, random_state=0, max_iter=100, tol=1e-8)
    a = quiet(BayesianGaussianMixture(**kw), X.astype(np.float32))
    b = quiet(BayesianGaussianMixture(**kw), X.astype(np.float32).astype(np.float64))
    assert a.means_.dtype == a.covariances_.dtype == np.float32
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-4)
    np.testing.assert_allclose(a.lower_bound_, b.lower_bound_, rtol=1e-5)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(covariance_type=st.sampled_from(TYPES), prior_type=st.sampled_from(PRIORS),
       dtype=st.sampled_from([np.float64, np.float32]), K=st.integers(1, 6),
       seed=st.integers(0, 2**16), weighted=st.booleans())
def test_the_lower_bound_never_decreases(covariance_type, prior_type, dtype, K, seed, weighted):
    rng = np.random.default_rng(seed)
    X = (rng.normal(size=(120, 2)) + rng.integers(0, 3, (120, 1)) * 3).astype(dtype)
    w = rng.uniform(0.1, 3, len(X)) if weighted else None
    gm = quiet(BayesianGaussianMixture(n_components=K, covariance_type=covariance_type, tol=0,
                                       weight_concentration_prior_type=prior_type, max_iter=30,
                                       random_state=seed), X, sample_weight=w)
    bounds = np.asarray(gm.lower_bounds_, dtype=np.float64)
    assert np.all(np.diff(bounds) >= -1e-9 * np.abs(bounds[1:]))


def test_bad_priors_say_what_is_wrong():
    X = blobs(d=2, seed=16)
    with pytest.raises(ValueError, match="'degrees_of_freedom_prior' should be greater than 1"):
        BayesianGaussianMixture(degrees_of_freedom_prior=0.5).fit(X)
    with pytest.raises(ValueError, match=r"'means' should have the shape of \(2,\)"):
        BayesianGaussianMixture(mean_prior=[0.0]).fit(X)
    with pytest.raises(ValueError, match="'full precision' should be symmetric, positive-definite"):
        BayesianGaussianMixture(covariance_prior=-np.eye(2)).fit(X)
    with pytest.raises(ValueError, match="'covariance_type' parameter"):
        BayesianGaussianMixture(covariance_type="VVV").fit(X)


@pytest.mark.parametrize("covariance_type", TYPES)
@pytest.mark.parametrize("prior_type", PRIORS)
def test_a_model_file_keeps_the_posterior_and_priors(tmp_path, covariance_type, prior_type):
    from gaussmix import load

    X = blobs(seed=4)
    fitted = quiet(BayesianGaussianMixture(n_components=4, covariance_type=covariance_type,
                                           weight_concentration_prior_type=prior_type, random_state=0,
                                           max_iter=20), X)
    fitted.save(tmp_path / "b.gmm")
    back = load(tmp_path / "b.gmm")
    assert isinstance(back, BayesianGaussianMixture)
    assert_same_fit(back, fitted, rtol=1e-15)
    np.testing.assert_array_equal(back.predict_proba(X), fitted.predict_proba(X))
    # A warm start continues exactly as from the fitted estimator.
    quiet(back.set_params(warm_start=True, max_iter=3), X)
    quiet(fitted.set_params(warm_start=True, max_iter=3), X)
    assert_same_fit(back, fitted, rtol=1e-12)


@pytest.mark.parametrize("tamper,match", [
    (lambda m, a: a.update(posterior_mean_precision=-a["posterior_mean_precision"]), "mean precision"),
    (lambda m, a: a.update(posterior_weight_concentration=a["posterior_weight_concentration"][::-1]),
     "weight concentration"),
    (lambda m, a: a.pop("posterior_degrees_of_freedom"), "posterior_degrees_of_freedom"),
    (lambda m, a: m["priors_"].update(degrees_of_freedom_prior_=0.5), "degrees_of_freedom_prior"),
    (lambda m, a: m.pop("priors_"), "priors"),
])
def test_a_tampered_bayesian_model_file_is_refused(tmp_path, tamper, match):
    from gaussmix import ModelFileError, load
    from gaussmix.io.models import write_model
    from gaussmix.estimators.files import read_model_file

    X = blobs(seed=5)
    quiet(BayesianGaussianMixture(n_components=3, weight_concentration_prior_type="dirichlet_distribution",
                                  random_state=0), X).save(tmp_path / "b.gmm")
    meta, arrays = read_model_file(tmp_path / "b.gmm")
    tamper(meta, arrays)
    write_model(tmp_path / "bad.gmm", meta, arrays)
    with pytest.raises(ModelFileError, match=match):
        load(tmp_path / "bad.gmm")
