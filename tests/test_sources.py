"""Streamed data: .npy files, memmaps, Parquet and iter_chunks() sources.

Each source must give the in-memory fit from the same start, and read its
rows chunk by chunk with the same checks as arrays in memory.
"""

import warnings

import numpy as np
import pandas as pd
import pytest

from gaussmix import ChunkedData, GaussianMixture, NpySource, ParquetSource
from gaussmix.backends import ArraySource, IterableSource

from .helpers import blobs

KW = dict(n_components=3, random_state=0, tol=0.0, max_iter=15)


@pytest.fixture(scope="module")
def data():
    X = blobs(n_per=(400, 300, 250), d=3, seed=4)
    w = np.random.default_rng(1).uniform(0, 2, X.shape[0])
    return X, w


def _fit(data, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GaussianMixture(**{**KW, **kw}).fit(*data if isinstance(data, tuple) else (data,))


def _fit_w(X, w, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GaussianMixture(**{**KW, **kw}).fit(X, sample_weight=w)


def _same_fit(a, b, rtol=1e-10):
    np.testing.assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=rtol)
    np.testing.assert_allclose(a.means_, b.means_, rtol=rtol, atol=1e-12)
    np.testing.assert_allclose(a.covariances_, b.covariances_, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(a.weights_, b.weights_, rtol=1e-8)


def _chunks(X, size):
    return ChunkedData(lambda: (X[i : i + size] for i in range(0, X.shape[0], size)))


def _sources(X, tmp_path):
    np.save(tmp_path / "x.npy", X)
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    frame.to_parquet(tmp_path / "x.parquet", row_group_size=170)
    (tmp_path / "ds").mkdir()
    frame.iloc[:500].to_parquet(tmp_path / "ds" / "part0.parquet")
    frame.iloc[500:].to_parquet(tmp_path / "ds" / "part1.parquet")
    return {
        "npy path": str(tmp_path / "x.npy"),
        "npy source": NpySource(tmp_path / "x.npy", chunk_size=101),
        "memmap": np.load(tmp_path / "x.npy", mmap_mode="r"),
        "parquet path": tmp_path / "x.parquet",
        "parquet dataset": ParquetSource(tmp_path / "ds", chunk_size=333),
        "chunks of 97": _chunks(X, 97),
        "chunks of 1": _chunks(X[:60], 1),
    }


SOURCE_NAMES = [
    "npy path", "npy source", "memmap", "parquet path", "parquet dataset", "chunks of 97"
]


@pytest.mark.parametrize("name", SOURCE_NAMES)
@pytest.mark.parametrize("covariance_type", ["full", "diag", "VEV"])
def test_streamed_fit_equals_in_memory_fit(data, tmp_path, name, covariance_type):
    X, _ = data
    ref = _fit(X, covariance_type=covariance_type)
    gm = _fit(_sources(X, tmp_path)[name], covariance_type=covariance_type)
    _same_fit(gm, ref)


def test_one_row_chunks_equal_in_memory(data, tmp_path):
    X = data[0][:60]
    _same_fit(_fit(_chunks(X, 1)), _fit(X))


@pytest.mark.parametrize("name", SOURCE_NAMES)
def test_streamed_predict_and_scores_equal_in_memory(data, tmp_path, name):
    X, _ = data
    ref = _fit(X)
    source = _sources(X, tmp_path)[name]
    gm = _fit(source)
    np.testing.assert_array_equal(gm.predict(source), ref.predict(X))
    np.testing.assert_allclose(gm.predict_proba(source), ref.predict_proba(X), rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(gm.score_samples(source), ref.score_samples(X), rtol=1e-10)
    assert gm.score(source) == pytest.approx(ref.score(X), rel=1e-10)
    assert gm.bic(source) == pytest.approx(ref.bic(X), rel=1e-10)
    assert gm.icl(source) == pytest.approx(ref.icl(X), rel=1e-10)


def test_float32_files_are_fitted_in_float32(data, tmp_path):
    X = data[0].astype(np.float32)
    np.save(tmp_path / "x32.npy", X)
    gm = _fit(str(tmp_path / "x32.npy"))
    assert gm.score_samples(str(tmp_path / "x32.npy")).dtype == np.float32
    _same_fit(gm, _fit(X), rtol=1e-10)


def test_weights_with_streamed_sources(data, tmp_path):
    X, w = data
    ref = _fit_w(X, w)
    np.save(tmp_path / "x.npy", X)
    _same_fit(_fit_w(str(tmp_path / "x.npy"), w), ref)
    frame = pd.DataFrame(X, columns=["a", "b", "c"]).assign(weight=w)
    frame.to_parquet(tmp_path / "w.parquet", row_group_size=200)
    _same_fit(_fit(ParquetSource(tmp_path / "w.parquet", weight_column="weight")), ref)
    pairs = ChunkedData(lambda: ((X[i : i + 200], w[i : i + 200]) for i in range(0, len(X), 200)))
    _same_fit(_fit(pairs), ref)
    assert _fit(pairs).score(pairs) == pytest.approx(ref.score(X, sample_weight=w), rel=1e-10)


def test_parquet_columns_and_feature_names(data, tmp_path):
    X, _ = data
    frame = pd.DataFrame({"id": np.arange(len(X)), "a": X[:, 0], "b": X[:, 1], "c": X[:, 2]})
    frame.to_parquet(tmp_path / "x.parquet")
    gm = _fit(ParquetSource(tmp_path / "x.parquet", columns=["a", "b", "c"]))
    assert list(gm.feature_names_in_) == ["a", "b", "c"]
    _same_fit(gm, _fit(X))
    with pytest.raises(ValueError, match=r"columns \['b', 'a', 'c'\].*fitted on"):
        gm.predict(ParquetSource(tmp_path / "x.parquet", columns=["b", "a", "c"]))
    with pytest.raises(ValueError, match="4 features.*fitted with 3"):
        gm.predict(tmp_path / "x.parquet")


def test_init_sample_size_bounds_the_rows_the_start_reads(data, tmp_path):
    X, _ = data
    np.save(tmp_path / "x.npy", X)
    # The start is computed from a sample, EM from every row: the final fit
    # finds the same optimum as the in-memory fit on these separated blobs.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm = GaussianMixture(3, random_state=0, init_sample_size=60).fit(str(tmp_path / "x.npy"))
        ref = GaussianMixture(3, random_state=0).fit(X)
    order = np.argsort(gm.means_[:, 0])
    np.testing.assert_allclose(gm.means_[order], ref.means_[np.argsort(ref.means_[:, 0])], rtol=1e-4)
    # An in-memory array is sampled too when asked.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        small = GaussianMixture(3, random_state=0, init_sample_size=60, max_iter=0).fit(X)
        full = GaussianMixture(3, random_state=0, max_iter=0).fit(X)
    assert not np.allclose(small.means_, full.means_)


def test_sample_is_uniform_bounded_and_reproducible(data):
    X, w = data
    source = IterableSource(_chunks(X, 64))
    rs = np.random.RandomState(0)
    state = rs.get_state()[1].copy()
    rows, weights, n_seen = source.sample(100, rs)
    assert rows.shape == (100, 3) and weights is None and n_seen == X.shape[0]
    # Rows come from X, in X's order, and the caller's random stream is untouched.
    index = [int(np.flatnonzero((X == r).all(axis=1))[0]) for r in rows]
    assert index == sorted(index) and len(set(index)) == 100
    np.testing.assert_array_equal(rs.get_state()[1], state)
    again, _, _ = source.sample(100, np.random.RandomState(0))
    np.testing.assert_array_equal(rows, again)
    other, _, _ = source.sample(100, np.random.RandomState(1))
    assert not np.array_equal(rows, other)
    everything, _, _ = source.sample(10**6, np.random.RandomState(0))
    np.testing.assert_array_equal(everything, X)
    # Uniform: over many draws, every decile of the rows is hit about equally.
    counts = np.zeros(10)
    for seed in range(60):
        r, _, _ = source.sample(50, np.random.RandomState(seed))
        idx = [int(np.flatnonzero((X == row).all(axis=1))[0]) for row in r]
        counts += np.bincount(np.array(idx) * 10 // X.shape[0], minlength=10)
    assert counts.min() > 0.7 * counts.mean() and counts.max() < 1.3 * counts.mean()
    # Weights travel with their rows.
    pairs = IterableSource(ChunkedData(lambda: iter([(X[:500], w[:500]), (X[500:], w[500:])])))
    r, rw, _ = pairs.sample(30, np.random.RandomState(0))
    for row, weight in zip(r, rw):
        assert w[np.flatnonzero((X == row).all(axis=1))[0]] == weight


def test_array_source_is_the_in_memory_path(data):
    X, w = data
    source = ArraySource(X, w, 100)
    assert source.in_memory and source.n_samples == X.shape[0]
    assert sum(c.shape[0] for c, _ in source.compute_chunks()) == X.shape[0]


# ----------------------------------------------------------------- errors
def _inf_in_third_chunk(X):
    Y = X.copy()
    Y[250, 1] = np.inf
    Y[251, 0] = np.nan  # a missing value, which is not an error
    return _chunks(Y, 100)


@pytest.mark.parametrize(
    "make, match",
    [
        (_inf_in_third_chunk, r"1 inf value\(s\), in rows 250\."),
        (lambda X: ChunkedData(lambda: iter([X[:100], X[100:200, :2]])), r"row 100 has shape \(100, 2\)"),
        (lambda X: ChunkedData(lambda: iter([X[:100], X[100:].astype(str)])), "needs numbers"),
        (lambda X: ChunkedData(lambda: iter([(X, np.ones(3), 1)])), "pair"),
        (lambda X: ChunkedData(lambda: iter([(X, np.ones(3))])), "sample weights"),
        (lambda X: ChunkedData(lambda: iter([(X, -np.ones(len(X)))])), "non-negative"),
        (lambda X: ChunkedData(lambda: iter([])), "no chunks"),
    ],
)
def test_bad_chunks_say_what_is_wrong(data, make, match):
    with pytest.raises(ValueError, match=match):
        _fit(make(data[0]))


def test_chunked_data_needs_a_function():
    with pytest.raises(TypeError, match="function"):
        ChunkedData([np.zeros((3, 2))])


def test_bad_files_say_what_is_wrong(tmp_path, data):
    X, w = data
    (tmp_path / "junk.npy").write_bytes(b"not an npy file at all")
    with pytest.raises(ValueError, match="cannot read .*junk.npy"):
        _fit(str(tmp_path / "junk.npy"))
    (tmp_path / "junk.parquet").write_bytes(b"PAR1 truncated")
    with pytest.raises(ValueError, match="cannot read .*junk.parquet' as Parquet"):
        _fit(str(tmp_path / "junk.parquet"))
    with pytest.raises(ValueError, match="no such file"):
        _fit(str(tmp_path / "missing.npy"))
    (tmp_path / "x.txt").write_text("1,2\n")
    with pytest.raises(ValueError, match="reads .npy and Parquet"):
        _fit(str(tmp_path / "x.txt"))
    pd.DataFrame({"a": [1.0, 2, 3, 4], "s": list("wxyz")}).to_parquet(tmp_path / "s.parquet")
    with pytest.raises(ValueError, match=r"\['s'\].*not numeric"):
        _fit(str(tmp_path / "s.parquet"), n_components=1)
    with pytest.raises(ValueError, match=r"\['zz'\] are not in"):
        ParquetSource(tmp_path / "s.parquet", columns=["zz"])
    pd.DataFrame({"a": [1.0, None, 3, 4, 5]}).to_parquet(tmp_path / "null.parquet")
    with pytest.raises(ValueError, match="NaN.*rows 1"):
        _fit(str(tmp_path / "null.parquet"), n_components=1, nan_policy="raise")
    with pytest.raises(ValueError, match="NaN.*rows 1"):
        _fit(_chunks(np.where(np.arange(len(X))[:, None] == 1, np.nan, X), 100), nan_policy="raise")
    np.save(tmp_path / "one.npy", X[:, 0])
    with pytest.raises(ValueError, match="must be 2-D"):
        _fit(str(tmp_path / "one.npy"))
    np.save(tmp_path / "x.npy", X)
    with pytest.raises(ValueError, match="sample_weight has shape"):
        _fit_w(str(tmp_path / "x.npy"), w[:-1])
    with pytest.raises(ValueError, match="fewer than the rows"):
        _fit_w(_chunks(X, 100), w[:-1])
    with pytest.raises(ValueError, match="but the data have"):
        _fit_w(_chunks(X, 100), np.append(w, 1.0))
    with pytest.raises(ValueError, match="resp_init needs X as an array in memory"):
        _fit(_chunks(X, 100), resp_init=np.full((len(X), 3), 1 / 3))
    with pytest.raises(ValueError, match="Expected n_samples >= n_components"):
        _fit(_chunks(X[:2], 1))


def test_npy_columns_and_column_moments(data, tmp_path):
    from gaussmix.backends.base import MappedSource
    from gaussmix.backends.moments import column_moments

    X, w = data
    np.save(tmp_path / "x.npy", X)
    _same_fit(_fit(NpySource(tmp_path / "x.npy", columns=[2, 0])), _fit(X[:, [2, 0]]))
    with pytest.raises(ValueError, match="out of range"):
        NpySource(tmp_path / "x.npy", columns=[3])
    source = _chunks(X, 77)
    mean, sd = column_moments(IterableSource(source))
    np.testing.assert_allclose(mean, X.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(sd, X.std(axis=0, ddof=1), rtol=1e-12)
    z = MappedSource(IterableSource(source), lambda c: (c - mean) / sd)
    np.testing.assert_allclose(np.vstack([c for c, _ in z.iter_chunks()]), (X - mean) / sd)


def test_select_says_it_needs_memory(data, tmp_path):
    from gaussmix import select

    np.save(tmp_path / "x.npy", data[0])
    for X in (str(tmp_path / "x.npy"), _chunks(data[0], 100)):
        with pytest.raises(ValueError, match="select needs X as an array in memory"):
            select(X, n_components=[1, 2], covariance_types=["VVV"])


def test_all_zero_weights_in_a_stream(data):
    X, _ = data
    zero = ChunkedData(lambda: iter([(X[:500], np.zeros(500)), (X[500:], np.zeros(len(X) - 500))]))
    with pytest.raises(ValueError, match="positive weight"):
        _fit(zero)


@pytest.mark.parametrize("name", ["npy path", "chunks of 97"])
def test_proba_and_density_in_one_pass_equal_the_two_methods(data, tmp_path, name):
    X, _ = data
    gm = _fit(X)
    source = _sources(X, tmp_path)[name]
    proba, density = gm.predict_proba_and_score_samples(source)
    np.testing.assert_array_equal(proba, gm.predict_proba(X))
    np.testing.assert_array_equal(density, gm.score_samples(X))
