"""gaussmix.kmeans_small against scikit-learn's KMeans(n_init=1) from the same RandomState.

The labels, the state of the random stream afterwards and the warnings
must be scikit-learn's; and a GaussianMixture fitted from its default
start (init_params="kmeans") must be scikit-learn's fit.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import KMeans
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from gaussmix import GaussianMixture, compiled, init, kmeans_small
from gaussmix.datasets import load_iris

from .helpers import shared, tie_order_verified

pytestmark = pytest.mark.skipif(not compiled.AVAILABLE, reason="runs compiled only")
ties = pytest.mark.skipif(not tie_order_verified(), reason=(
    "data with ties within rounding: scikit-learn breaks them by its BLAS's order of sums, "
    "which kmeans_small follows for OpenBLAS's Haswell kernels only"))


def _sklearn(X, K, seed, w=None):
    rs = np.random.RandomState(seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        labels = KMeans(K, n_init=1, random_state=rs).fit(X, sample_weight=w).labels_
    return labels, rs.randint(1 << 30), [(w.category, str(w.message)) for w in caught]


def _ours(X, K, seed, w=None):
    assert kmeans_small.runs_compiled(X, K)
    rs = np.random.RandomState(seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        labels = kmeans_small.kmeans_labels(X, K, rs, sample_weight=w)
    return labels, rs.randint(1 << 30), [(w.category, str(w.message)) for w in caught]


def _assert_same(X, K, seed, w=None):
    theirs, ours = _sklearn(X, K, seed, w), _ours(X, K, seed, w)
    np.testing.assert_array_equal(ours[0], theirs[0])
    assert ours[0].dtype == theirs[0].dtype
    assert ours[1] == theirs[1], "the random stream must go on from the same state"
    assert ours[2] == theirs[2]


def _weights(n, seed, zeros=False):
    rng = np.random.RandomState(seed + 1000)
    w = rng.uniform(0.1, 3.0, n)
    if zeros:
        w[rng.rand(n) < 0.2] = 0.0
    return w


@ties
@pytest.mark.parametrize("K", range(1, 10))
def test_iris_labels_equal_sklearn(K):
    # Iris is measured to 0.1 cm: rows tie to within rounding between two
    # centres, so each product and norm must be summed in NumPy's order.
    X = load_iris().data
    for seed in range(12):
        _assert_same(X, K, seed)
        _assert_same(X, K, seed, _weights(len(X), seed))


@ties
@pytest.mark.parametrize("name, columns", [
    ("faithful.csv", None),
    ("mclust_diabetes.csv", ["glucose", "insulin", "sspg"]),
    ("mclust_thyroid.csv", None),
    ("mclust_wreath.csv", None),
])
def test_data_sets_labels_equal_sklearn(name, columns):
    frame = pd.read_csv(shared("data", name))
    X = frame[columns].to_numpy(float) if columns else frame.select_dtypes("number").to_numpy(float)
    for K in (2, 3, 5, 9):
        for seed in range(3):
            _assert_same(X, K, seed)


def _random_inputs(seeds, rounded):
    # 1-7 features, 5 to 600 rows (scikit-learn sums chunks of 256 rows in
    # threads), weighted or not, with zeros.
    for seed in seeds:
        rng = np.random.RandomState(seed)
        n, d = rng.randint(5, 600), rng.randint(1, 8)
        K = rng.randint(1, min(n, 10) + 1)
        centres = rng.normal(scale=rng.uniform(1, 10), size=(rng.randint(1, 8), d))
        X = centres[rng.randint(len(centres), size=n)] + rng.normal(size=(n, d))
        w = None if seed % 2 else _weights(n, seed, zeros=seed % 4 == 1)
        yield (np.round(X, 1) if rounded else X), K, seed, w


def test_random_data_labels_equal_sklearn():
    # Continuous values: a tie within rounding has probability zero, and
    # the labels are scikit-learn's under any BLAS.
    for X, K, seed, w in _random_inputs(range(100), rounded=False):
        _assert_same(X, K, seed, w)


@ties
def test_random_data_rounded_to_a_grid_labels_equal_sklearn():
    for X, K, seed, w in _random_inputs(range(100, 160), rounded=True):
        _assert_same(X, K, seed, w)


@ties
def test_empty_clusters_and_duplicates_as_sklearn(monkeypatch):
    # Integer grids: duplicated rows, clusters left empty (moved to the
    # farthest rows), fewer distinct labels than clusters (a warning).
    moved = []
    real = kmeans_small._relocate_empty
    monkeypatch.setattr(kmeans_small, "_relocate_empty", lambda *a: moved.append(1) or real(*a))
    warned = 0
    for seed in range(120):
        rng = np.random.RandomState(seed)
        n, d = rng.randint(5, 300), rng.randint(1, 8)
        K = rng.randint(1, min(n, 10) + 1)
        X = rng.randint(0, rng.randint(2, 5), size=(n, d)).astype(float)
        _assert_same(X, K, seed)
        warned += bool(_sklearn(X, K, seed)[2])
    assert moved and warned, "the grids must reach the relocation and the warning"


@pytest.mark.parametrize("why, X, K", [
    ("float32", np.zeros((50, 2), np.float32), 2),
    ("8 features", np.zeros((50, 8)), 2),
    ("too much work", np.zeros((kmeans_small.MAX_WORK // 2 + 1, 2)), 1),
    ("more clusters than rows", np.zeros((3, 2)), 4),
])
def test_other_data_are_not_for_the_compiled_path(why, X, K):
    assert not kmeans_small.runs_compiled(X, K)


def test_the_start_takes_the_compiled_path_only_where_it_runs(monkeypatch):
    calls = []
    for module, name in [(init, "_sklearn_kmeans_labels"), (kmeans_small, "kmeans_labels")]:
        real = getattr(module, name)
        monkeypatch.setattr(module, name,
                            lambda *a, _name=name, _real=real, **k: calls.append(_name) or _real(*a, **k))
    X = load_iris().data
    GaussianMixture(3, random_state=0, max_iter=2).fit(X)
    GaussianMixture(3, random_state=0, max_iter=2).fit(X.astype(np.float32))
    GaussianMixture(3, random_state=0, max_iter=2).fit(np.hstack([X, X]))  # 8 features
    assert calls == ["kmeans_labels", "_sklearn_kmeans_labels", "_sklearn_kmeans_labels"]


@ties
@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_default_fit_on_iris_is_sklearns(covariance_type):
    # (From k-means++'s start, K single rows, the first covariances are
    # reg_covar alone, and the fits part from scikit-learn's by rounding
    # whichever k-means++ runs: its seeds are compared above.)
    X = load_iris().data
    for K in range(1, 10):
        kw = dict(covariance_type=covariance_type, random_state=K)
        ours = GaussianMixture(K, **kw).fit(X)
        theirs = SkGaussianMixture(K, **kw).fit(X)
        assert ours.n_iter_ == theirs.n_iter_
        np.testing.assert_allclose(ours.means_, theirs.means_, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(ours.lower_bound_, theirs.lower_bound_, rtol=1e-9)


@pytest.mark.parametrize("data", ["iris", "continuous"])
def test_kmeans_plusplus_equals_sklearn(data):
    from sklearn.cluster import kmeans_plusplus

    if data == "iris" and not tie_order_verified():
        pytest.skip("iris has ties within rounding (see tie_order_verified)")
    X = load_iris().data
    cases = [(X, K, seed, w) for K in range(1, 10) for seed in range(6)
             for w in (None, _weights(len(X), seed, zeros=True))] if data == "iris" else []
    for seed in range(60 if data == "continuous" else 0):
        rng = np.random.RandomState(seed)
        n, d = rng.randint(5, 500), rng.randint(1, 8)
        cases.append((rng.normal(size=(n, d)) * 5 + 10, rng.randint(1, min(n, 10) + 1), seed, None))
    for X, K, seed, w in cases:
        rs_theirs, rs_ours = np.random.RandomState(seed), np.random.RandomState(seed)
        theirs = kmeans_plusplus(X, K, random_state=rs_theirs, sample_weight=w)[1]
        np.testing.assert_array_equal(kmeans_small.kmeans_plusplus(X, K, rs_ours, sample_weight=w), theirs)
        assert rs_ours.randint(1 << 30) == rs_theirs.randint(1 << 30)


@ties
def test_without_numba_small_starts_take_numpys_kmeans(monkeypatch):
    # A small command-line job skips loading Numba; its k-means then runs on
    # NumPy (seeding), which must give scikit-learn's labels too.
    from gaussmix import seeding

    monkeypatch.setattr(compiled, "AVAILABLE", False)
    calls = []
    real = seeding.kmeans_labels
    monkeypatch.setattr(seeding, "kmeans_labels", lambda *a, **k: calls.append(1) or real(*a, **k))
    X = load_iris().data
    for K in range(2, 10):
        for seed in range(3):
            theirs = KMeans(K, n_init=1, random_state=seed).fit(X).labels_
            resp = init.initial_resp(X, None, K, "kmeans", np.random.RandomState(seed))(slice(0, len(X)))
            np.testing.assert_array_equal(resp.argmax(axis=1), theirs)
    assert len(calls) == 8 * 3


def test_overflowing_potentials_still_give_rows_of_x():
    # Squares of 1e160 overflow: every candidate's potential is inf or NaN.
    # No answer is right there (scikit-learn's is NaN arithmetic too), but
    # a seed must be a row: the first candidate, as argmin, never -1.
    X = np.random.RandomState(0).normal(size=(40, 2)) * 1e160
    seeds = kmeans_small.kmeans_plusplus(X, 4, np.random.RandomState(1))
    assert ((seeds >= 0) & (seeds < len(X))).all()
