"""GaussianMixture against scikit-learn: same start, same answer; same API."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SKGaussianMixture
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator

from gaussmix import GaussianMixture, init, kmeans_small

from .helpers import blobs

SKLEARN_TYPES = ["full", "tied", "diag", "spherical"]
CODES = {"full": "VVV", "tied": "EEE", "diag": "VVI", "spherical": "VII"}


def sklearn_start(X, covariance_type, K=3):
    """A deliberately rough start: a 2-iteration scikit-learn fit."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk = SKGaussianMixture(K, covariance_type=covariance_type, max_iter=2, random_state=7).fit(X)
    return dict(weights_init=sk.weights_, means_init=sk.means_, precisions_init=sk.precisions_)


@pytest.mark.parametrize("covariance_type", SKLEARN_TYPES)
def test_same_start_same_fit_as_sklearn(covariance_type):
    X = blobs(seed=1)
    start = sklearn_start(X, covariance_type)
    kw = dict(covariance_type=covariance_type, tol=0, max_iter=40, **start)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk = SKGaussianMixture(3, **kw).fit(X)
        gm = GaussianMixture(3, chunk_size=64, **kw).fit(X)
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        np.testing.assert_allclose(getattr(gm, name), getattr(sk, name), rtol=1e-6, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(gm.lower_bounds_, sk.lower_bounds_, rtol=1e-9)
    assert gm.n_iter_ == sk.n_iter_ == 40
    np.testing.assert_allclose(gm.score_samples(X), sk.score_samples(X), rtol=1e-9)
    np.testing.assert_allclose(gm.predict_proba(X), sk.predict_proba(X), atol=1e-9)
    np.testing.assert_array_equal(gm.predict(X), sk.predict(X))
    np.testing.assert_allclose(gm.bic(X), sk.bic(X), rtol=1e-9)
    np.testing.assert_allclose(gm.aic(X), sk.aic(X), rtol=1e-9)
    np.testing.assert_allclose(gm.score(X), sk.score(X), rtol=1e-9)


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
def test_same_random_state_same_start_as_sklearn(init_params):
    X = blobs(seed=2)
    kw = dict(init_params=init_params, random_state=5, max_iter=300, n_init=2)
    sk = SKGaussianMixture(3, **kw).fit(X)
    gm = GaussianMixture(3, **kw).fit(X)
    np.testing.assert_allclose(gm.means_, sk.means_, rtol=1e-6)
    assert gm.n_iter_ == sk.n_iter_


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("covariance_type", SKLEARN_TYPES)
def test_one_component_kmeans_start_needs_no_kmeans(monkeypatch, covariance_type, weighted):
    # k-means with one cluster labels every row 0, so the start is every row
    # at once, and scikit-learn's fit is matched without running k-means.
    X = blobs(seed=3)
    w = np.random.default_rng(0).uniform(0.0, 2.0, len(X)) if weighted else None
    sk = None if weighted else SKGaussianMixture(1, covariance_type=covariance_type, random_state=0).fit(X)

    def no_kmeans(*args, **kwargs):
        raise AssertionError("k-means ran for one component")

    monkeypatch.setattr(init, "_sklearn_kmeans_labels", no_kmeans)
    gm = GaussianMixture(1, covariance_type=covariance_type, random_state=0).fit(X, sample_weight=w)
    full = GaussianMixture(1, covariance_type=covariance_type, init_params="random", random_state=0)
    full.fit(X, sample_weight=w)  # uniform responsibilities of one column: every row, weight 1
    np.testing.assert_allclose(gm.means_, full.means_, rtol=1e-12)
    np.testing.assert_allclose(gm.covariances_, full.covariances_, rtol=1e-12)
    if sk is not None:
        np.testing.assert_allclose(gm.means_, sk.means_, rtol=1e-9)
        np.testing.assert_allclose(gm.covariances_, sk.covariances_, rtol=1e-9)
        np.testing.assert_allclose(gm.lower_bound_, sk.lower_bound_, rtol=1e-12)
        assert gm.n_iter_ == sk.n_iter_
    mean = np.average(X, axis=0, weights=w)
    np.testing.assert_allclose(gm.means_[0], mean, rtol=1e-12)


def test_one_component_online_fit_keeps_the_kmeans_draws(monkeypatch):
    # Online EM draws its row order from the generator after the start: the
    # one-component k-means runs there, so the stream after it is unchanged.
    X = blobs(seed=3)
    ran = []
    for module, name in [(init, "_sklearn_kmeans_labels"), (kmeans_small, "kmeans_labels")]:
        real = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, _real=real, **k: ran.append(1) or _real(*a, **k))
    GaussianMixture(1, learning_method="online", batch_size=50, max_iter=3, random_state=0).fit(X)
    assert ran == [1]
    GaussianMixture(1, max_iter=3, random_state=0).fit(X)
    assert ran == [1]  # batch EM draws nothing after its start


@pytest.mark.parametrize("covariance_type", SKLEARN_TYPES)
def test_mclust_codes_are_the_same_models_with_full_shapes(covariance_type):
    X = blobs(seed=3)
    a = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    b = GaussianMixture(3, covariance_type=CODES[covariance_type], random_state=0).fit(X)
    K, d = 3, X.shape[1]
    for name in ("covariances_", "precisions_", "precisions_cholesky_"):
        assert getattr(b, name).shape == (K, d, d)
    full = {
        "full": lambda c: c,
        "tied": lambda c: np.broadcast_to(c, (K, d, d)),
        "diag": lambda c: np.stack([np.diag(v) for v in c]),
        "spherical": lambda c: c[:, None, None] * np.eye(d),
    }[covariance_type]
    np.testing.assert_allclose(b.covariances_, full(a.covariances_), rtol=1e-12)
    np.testing.assert_allclose(b.score_samples(X), a.score_samples(X), rtol=1e-12)
    np.testing.assert_allclose(b.bic(X), a.bic(X), rtol=1e-12)
    Xs, ys = b.sample(50)
    assert Xs.shape == (50, d) and ys.shape == (50,)


@pytest.mark.parametrize("covariance_type", SKLEARN_TYPES)
def test_sample_matches_sklearn_for_the_same_parameters(covariance_type):
    X = blobs(seed=4)
    start = sklearn_start(X, covariance_type)
    kw = dict(covariance_type=covariance_type, random_state=9, **start)
    sk = SKGaussianMixture(3, **kw).fit(X)
    gm = GaussianMixture(3, **kw).fit(X)
    Xs_sk, y_sk = sk.sample(200)
    Xs_gm, y_gm = gm.sample(200)
    np.testing.assert_array_equal(y_gm, y_sk)
    np.testing.assert_allclose(Xs_gm, Xs_sk, rtol=1e-6)


def test_check_estimator():
    check_estimator(GaussianMixture())


def test_check_estimator_bayesian():
    from gaussmix import BayesianGaussianMixture

    check_estimator(BayesianGaussianMixture())


def test_in_pipeline_and_grid_search():
    X = blobs(seed=5)
    pipe = make_pipeline(StandardScaler(), GaussianMixture(random_state=0))
    search = GridSearchCV(
        pipe,
        {"gaussianmixture__n_components": [1, 2, 3], "gaussianmixture__covariance_type": ["full", "VVI"]},
        cv=KFold(3, shuffle=True, random_state=0),
    )
    search.fit(X)
    assert search.best_params_["gaussianmixture__n_components"] == 3
    labels = search.best_estimator_.predict(X)
    assert len(np.unique(labels)) == 3


def test_feature_names_are_kept():
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(blobs(seed=6), columns=["a", "b", "c"])
    gm = GaussianMixture(2, random_state=0).fit(X)
    assert list(gm.feature_names_in_) == ["a", "b", "c"]
    assert gm.n_features_in_ == 3
    with pytest.warns(UserWarning, match="feature names"):
        gm.predict(X.to_numpy())
    # Refitted on a plain array (validation's fast path), as validate_data would leave it.
    gm.fit(X.to_numpy()[:, :2])
    assert not hasattr(gm, "feature_names_in_") and gm.n_features_in_ == 2
    with pytest.warns(UserWarning, match="fitted without feature names"):
        gm.predict(X.iloc[:, :2])


def test_a_generator_is_seeded_only_where_the_start_draws(monkeypatch):
    # MT19937's seeding costs 0.1-0.2 ms, a fifth of a small fit: one
    # component's k-means start on rows in memory draws nothing (all labels
    # are 0), a sample of the rows or any other start does.
    from gaussmix.estimators import base

    seeded = []
    real = base.check_random_state
    monkeypatch.setattr(base, "check_random_state", lambda rs: seeded.append(rs) or real(rs))
    X = blobs(seed=3)
    cases = [
        (dict(n_components=1), 0),
        (dict(n_components=1, covariance_type="VII"), 0),
        (dict(n_components=2), 1),
        (dict(n_components=1, init_params="random"), 1),
        (dict(n_components=1, init_sample_size=50), 1),
        (dict(n_components=1, learning_method="online", batch_size=50, max_iter=3), 1),
    ]
    for params, expected in cases:
        seeded.clear()
        GaussianMixture(random_state=0, **params).fit(X)
        assert len(seeded) == expected, params
    one = GaussianMixture(1, random_state=0).fit(X)
    theirs = SKGaussianMixture(1, random_state=0).fit(X)
    np.testing.assert_allclose(one.means_, theirs.means_, rtol=1e-12)
    np.testing.assert_allclose(one.covariances_, theirs.covariances_, rtol=1e-10)
