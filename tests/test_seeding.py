"""gaussmix.seeding against scikit-learn and NumPy from the same RandomState.

Each namespace (NumPy, array_api_strict, torch on CPU) gets the same data;
the seeds, labels and chosen rows must equal scikit-learn's / NumPy's.
"""

import warnings

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.cluster import kmeans_plusplus as sk_kmeans_plusplus
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score

from gaussmix import seeding

xps = pytest.importorskip("array_api_strict")


def _torch():
    return pytest.importorskip("torch")


NAMESPACES = {
    "numpy": lambda a: np.asarray(a),
    "array_api_strict": lambda a: xps.asarray(a),
    "torch": lambda a: _torch().asarray(a),
}

# (n, d, K, cluster_std): separated blobs, K=1, and overlapping clusters.
CASES = [(500, 2, 3, 1.0), (500, 3, 1, 1.0), (500, 4, 6, 1.0), (500, 5, 4, 4.0), (200, 2, 5, 3.0)]
SEEDS = [0, 7]


def _data(case, dtype, weighted, seed):
    n, d, K, std = case
    X, _ = make_blobs(n, n_features=d, centers=max(K, 2), cluster_std=std, random_state=seed)
    X = X.astype(dtype)
    w = np.random.RandomState(seed + 100).uniform(0.2, 3.0, n).astype(dtype) if weighted else None
    return X, w, K


def _on(ns, X, w):
    to = NAMESPACES[ns]
    return to(X), None if w is None else to(w)


def _host(a):
    # Test side only: labels come back to compare them with scikit-learn's.
    if hasattr(a, "detach"):
        return a.detach().cpu().numpy()
    return np.from_dlpack(a)


grid = pytest.mark.parametrize
ns_grid = grid("ns", list(NAMESPACES))
dtype_grid = grid("dtype", [np.float64, np.float32], ids=["f64", "f32"])
weight_grid = grid("weighted", [False, True], ids=["unweighted", "weighted"])
case_grid = grid("case", CASES, ids=lambda c: "n{}-d{}-K{}-s{}".format(*c))
seed_grid = grid("seed", SEEDS)


@ns_grid
@dtype_grid
@weight_grid
@case_grid
@seed_grid
def test_kmeans_plusplus_indices_equal_sklearn(ns, dtype, weighted, case, seed):
    X, w, K = _data(case, dtype, weighted, seed)
    rs = np.random.RandomState(seed)
    expected = sk_kmeans_plusplus(X, K, random_state=rs, sample_weight=w)[1]
    Xd, wd = _on(ns, X, w)
    got = seeding.kmeans_plusplus(Xd, K, np.random.RandomState(seed), sample_weight=wd)
    assert isinstance(got, np.ndarray)
    np.testing.assert_array_equal(got, expected)


@ns_grid
@dtype_grid
@weight_grid
@case_grid
@seed_grid
def test_kmeans_labels_equal_sklearn(ns, dtype, weighted, case, seed):
    X, w, K = _data(case, dtype, weighted, seed)
    km = KMeans(K, n_init=1, random_state=np.random.RandomState(seed)).fit(X, sample_weight=w)
    Xd, wd = _on(ns, X, w)
    labels = seeding.kmeans_labels(Xd, K, np.random.RandomState(seed), sample_weight=wd)
    got = _host(labels)
    if dtype == np.float64:
        np.testing.assert_array_equal(got, km.labels_)
    else:
        # float32 sums are reduced in another order than scikit-learn's
        # OpenMP chunks; a near tie could flip, so exact equality is not
        # promised there, only the same partition (it is exact on this grid).
        assert (got == km.labels_).all() or adjusted_rand_score(got, km.labels_) == 1.0


@ns_grid
def test_labels_live_in_the_namespace_and_device_of_X(ns):
    from array_api_compat import array_namespace, device

    X, _, K = _data(CASES[0], np.float64, False, 0)
    Xd, _ = _on(ns, X, None)
    labels = seeding.kmeans_labels(Xd, K, 0)
    assert array_namespace(labels) is array_namespace(Xd)
    assert device(labels) == device(Xd)
    assert labels.shape == (X.shape[0],)


@grid("seed", [41, 48, 204])
@grid("ns", ["numpy", "array_api_strict"])
def test_empty_clusters_are_relocated_as_sklearn_does(seed, ns):
    # Small data with duplicate rows: Lloyd empties some clusters, and
    # scikit-learn moves them to the rows farthest from their centre.
    r = np.random.RandomState(seed)
    n, K = int(r.randint(8, 40)), int(r.randint(3, 8))
    X = r.standard_normal((n, 2))
    X[: n // 2] *= 0.01
    X = np.round(X, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        expected = KMeans(K, n_init=1, random_state=seed).fit(X).labels_
    calls = []
    original = seeding._relocate_empty

    def spy(xp, X_, w, centers, labels, sums, weights):
        calls.append(int((_host(weights) == 0).sum()))
        return original(xp, X_, w, centers, labels, sums, weights)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(seeding, "_relocate_empty", spy)
        got = _host(seeding.kmeans_labels(NAMESPACES[ns](X), K, seed))
    assert any(calls), "this case was chosen because it empties a cluster"
    np.testing.assert_array_equal(got, expected)


@grid("ns", list(NAMESPACES))
@grid("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@grid("n,size", [(500, 1), (500, 50), (60, 60), (300, 299)])
@grid("seed", [0, 3, 11])
def test_choice_rows_equal_numpy(ns, dtype, n, size, seed):
    w = np.random.RandomState(seed + 1).uniform(0.0, 1.0, n) ** 3
    p = (w / w.sum()).astype(dtype)
    expected = np.random.RandomState(seed).choice(n, size=size, replace=False, p=p)
    rs = np.random.RandomState(seed)
    got = seeding.choice_rows(n, size, rs, p=NAMESPACES[ns](p))
    np.testing.assert_array_equal(got, expected)
    # The stream is left where NumPy leaves it.
    after = np.random.RandomState(seed)
    after.choice(n, size=size, replace=False, p=p)
    assert rs.random_sample() == after.random_sample()


@grid("seed", [0, 5])
def test_choice_rows_without_p_is_numpys_permutation(seed):
    expected = np.random.RandomState(seed).choice(100, size=10, replace=False)
    got = seeding.choice_rows(100, 10, np.random.RandomState(seed))
    np.testing.assert_array_equal(got, expected)


def test_choice_rows_refuses_what_numpy_refuses():
    p = xps.asarray(np.r_[0.5, 0.5, 0.0, 0.0])
    with pytest.raises(ValueError, match="non-zero"):
        seeding.choice_rows(4, 3, 0, p=p)
    with pytest.raises(ValueError, match="sum to 1"):
        seeding.choice_rows(4, 1, 0, p=xps.asarray(np.r_[0.5, 0.6, 0.0, 0.0]))
    with pytest.raises(ValueError, match="larger sample"):
        seeding.choice_rows(4, 5, 0, p=p)


def test_only_small_arrays_cross_to_the_host(monkeypatch):
    """No row-sized array_api_strict array is turned into NumPy.

    array_api_strict 2.x still lets ``np.asarray`` through ``__array__``
    (and ``__buffer__``/``__dlpack__``), so the test records every crossing.
    """
    Array = type(xps.asarray([0.0]))
    sizes = []

    def recorder(name):
        original = getattr(Array, name)

        def record(self, *args, **kwargs):
            sizes.append((name, self.size))
            return original(self, *args, **kwargs)

        return record

    for name in ("__array__", "__dlpack__", "__buffer__"):
        if hasattr(Array, name):
            monkeypatch.setattr(Array, name, recorder(name))
    X, w, K = _data((500, 3, 6, 2.0), np.float64, True, 1)
    n_local_trials = 2 + int(np.log(K))
    Xd, wd = xps.asarray(X), xps.asarray(w)
    seeding.kmeans_plusplus(Xd, K, 1, sample_weight=wd)
    seeding.kmeans_labels(Xd, K, 1, sample_weight=wd)
    seeding.choice_rows(500, 20, 1, p=xps.asarray(w / w.sum()))
    assert sizes, "the recorder saw the small crossings"
    assert max(size for _, size in sizes) <= max(K, n_local_trials, 20)


@grid("ns", ["array_api_strict", "torch"])
@grid("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_small_chunks_give_the_same_result(ns, dtype, monkeypatch):
    # Many row chunks, the last one short: the chunked distances, sums and
    # relocation must still equal scikit-learn's.
    monkeypatch.setattr(seeding, "_CHUNK_ELEMENTS", 97)
    X, w, K = _data((300, 3, 5, 2.0), dtype, True, 4)
    Xd, wd = _on(ns, X, w)
    expected = sk_kmeans_plusplus(X, K, random_state=np.random.RandomState(4), sample_weight=w)[1]
    np.testing.assert_array_equal(seeding.kmeans_plusplus(Xd, K, 4, sample_weight=wd), expected)
    km = KMeans(K, n_init=1, random_state=4).fit(X, sample_weight=w)
    got = _host(seeding.kmeans_labels(Xd, K, 4, sample_weight=wd))
    np.testing.assert_array_equal(got, km.labels_)
