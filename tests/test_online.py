"""Stepwise EM: partial_fit on a stream, and learning_method="online" in fit."""

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone

from gaussmix import ChunkedData, GaussianMixture
from gaussmix.engine.schedules import online_step, step_size
from gaussmix.engine.passes import accumulate

from .helpers import blobs


@pytest.fixture(scope="module")
def stream():
    X = blobs(n_per=(3000, 2000, 2000), d=3, seed=2)
    return X[np.random.default_rng(0).permutation(len(X))]


def _quiet_fit(X, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GaussianMixture(**kw).fit(X)


def test_step_size_schedule():
    assert step_size(1, 10.0, 0.7) == 1.0
    assert step_size(2, 10.0, 0.7) == pytest.approx(12.0**-0.7)
    assert step_size(50, 0.0, 1.0) == pytest.approx(1 / 50)
    sizes = [step_size(t, 10.0, 0.7) for t in range(2, 200)]
    assert all(a > b for a, b in zip(sizes, sizes[1:]))


@pytest.mark.parametrize("kind", ["full", "diag", "pooled"])
def test_online_step_is_the_convex_combination_of_the_moments(kind):
    """(1-eta) s + eta s_hat equals the statistics of both batches with each
    row's weight scaled by (1-eta)/W_a or eta/W_b."""
    rng = np.random.default_rng(5)
    A, B = rng.normal(size=(50, 3)) + 100, rng.normal(size=(30, 3)) * 2
    ra, rb = rng.dirichlet([1, 1], 50), rng.dirichlet([1, 1], 30)
    wa, wb = rng.uniform(0, 2, 50), rng.uniform(0, 2, 30)
    first = online_step(None, accumulate(A, ra, wa, kind), wa.sum(), 10.0, 0.7)
    second = online_step(first, accumulate(B, rb, wb, kind), wb.sum(), 10.0, 0.7)
    eta = step_size(2, 10.0, 0.7)
    weights = np.concatenate([wa * (1 - eta) / wa.sum(), wb * eta / wb.sum()])
    direct = accumulate(np.vstack([A, B]), np.vstack([ra, rb]), weights, kind)
    assert second.n_steps == 2
    np.testing.assert_allclose(second.stats.nk, direct.nk, rtol=1e-12)
    np.testing.assert_allclose(second.stats.means, direct.means, rtol=1e-12)
    np.testing.assert_allclose(second.stats.scatter, direct.scatter, rtol=1e-10)


def test_partial_fit_on_a_stream_finds_the_batch_solution(stream):
    batch = _quiet_fit(stream, n_components=3, random_state=0, tol=1e-8, max_iter=500)
    gm = GaussianMixture(3, random_state=0)
    for start in range(0, len(stream), 500):
        gm.partial_fit(stream[start : start + 500])
    assert gm.n_steps_ == math.ceil(len(stream) / 500)
    order_a, order_b = np.argsort(gm.means_[:, 0]), np.argsort(batch.means_[:, 0])
    np.testing.assert_allclose(gm.means_[order_a], batch.means_[order_b], atol=0.1)
    np.testing.assert_allclose(gm.weights_[order_a], batch.weights_[order_b], atol=0.02)
    assert gm.score(stream) == pytest.approx(batch.score(stream), rel=2e-3)
    assert gm.score(stream) <= batch.score(stream) + 1e-9


def test_partial_fit_weights_equal_repeated_rows(stream):
    X, Y = stream[:400], stream[400:800]
    w = np.random.default_rng(0).integers(0, 3, 400).astype(float)
    a = GaussianMixture(2, random_state=0, init_params="random_from_data")
    b = GaussianMixture(2, random_state=0, init_params="random_from_data")
    a.partial_fit(X).partial_fit(Y, sample_weight=w)
    b.partial_fit(X).partial_fit(np.repeat(Y, w.astype(int), axis=0))
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-10)
    np.testing.assert_allclose(a.covariances_, b.covariances_, rtol=1e-10)


def test_partial_fit_after_fit_continues_from_it(stream):
    gm = _quiet_fit(stream, n_components=3, random_state=0, batch_size=1000)
    before = gm.means_.copy()
    gm.partial_fit(stream[:700])
    assert gm.n_steps_ == math.ceil(len(stream) / 1000) + 1
    # A small step from the fitted model, not a restart.
    assert np.abs(gm.means_ - before).max() < 0.2


def test_partial_fit_checks_its_chunks(stream):
    with pytest.raises(ValueError, match="Expected n_samples >= n_components but got n_components = 3"):
        GaussianMixture(3).partial_fit(stream[:2])
    gm = GaussianMixture(3, random_state=0).partial_fit(stream[:100])
    with pytest.raises(ValueError, match="2 features"):
        gm.partial_fit(stream[:100, :2])
    with pytest.raises(ValueError, match="inf"):
        gm.partial_fit(np.full((5, 3), np.inf))
    with pytest.raises(ValueError, match="NaN"):
        clone(gm).set_params(nan_policy="raise").partial_fit(np.full((5, 3), np.nan))
    before = gm.means_.copy()
    gm.partial_fit(np.full((5, 3), np.nan))  # nothing observed: no information, no step
    np.testing.assert_array_equal(gm.means_, before)
    gm.partial_fit(stream[100:101])  # one row is a valid chunk once started
    assert np.isfinite(gm.means_).all()


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    sizes=st.lists(st.integers(1, 60), min_size=1, max_size=8),
    covariance_type=st.sampled_from(["full", "tied", "diag", "spherical", "VEV", "EVI"]),
)
def test_partial_fit_keeps_parameters_valid(stream, seed, sizes, covariance_type):
    rng = np.random.default_rng(seed)
    gm = GaussianMixture(3, covariance_type=covariance_type, random_state=seed, reg_covar=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm.partial_fit(stream[rng.choice(len(stream), 40, replace=False)])
        for n in sizes:
            gm.partial_fit(stream[rng.choice(len(stream), n, replace=False)])
    assert np.isfinite(gm.means_).all() and np.isfinite(gm.covariances_).all()
    assert gm.weights_.sum() == pytest.approx(1.0)
    cov = gm.covariances_
    if covariance_type in ("full", "VEV", "EVI"):
        assert (np.linalg.eigvalsh(cov) > 0).all()
    elif covariance_type == "tied":
        assert (np.linalg.eigvalsh(cov) > 0).all()
    else:
        assert (cov > 0).all()
    np.testing.assert_allclose(gm.predict_proba(stream[:50]).sum(axis=1), 1.0, rtol=1e-12)


def test_online_fit_nears_batch_em_in_a_few_passes(stream):
    batch = _quiet_fit(stream, n_components=3, random_state=0, tol=1e-8, max_iter=500)
    online = _quiet_fit(
        stream, n_components=3, random_state=0, learning_method="online", batch_size=500,
        max_iter=4, tol=0.0,
    )
    assert online.n_iter_ == 4 and len(online.lower_bounds_) == 4
    assert online.score(stream) == pytest.approx(batch.score(stream), rel=1e-3)
    again = _quiet_fit(
        stream, n_components=3, random_state=0, learning_method="online", batch_size=500,
        max_iter=4, tol=0.0,
    )
    np.testing.assert_array_equal(online.means_, again.means_)


@pytest.mark.parametrize(
    "change", [dict(batch_size=250), dict(learning_decay=1.0), dict(learning_offset=0.0)]
)
def test_online_parameters_are_used(stream, change):
    kw = dict(n_components=3, random_state=0, learning_method="online", max_iter=2, tol=0.0)
    base = _quiet_fit(stream, **kw)
    other = _quiet_fit(stream, **{**kw, **change})
    assert not np.allclose(base.means_, other.means_, rtol=1e-9, atol=0)


def test_online_fit_reads_streamed_sources(stream):
    data = ChunkedData(lambda: (stream[i : i + 900] for i in range(0, len(stream), 900)))
    gm = _quiet_fit(data, n_components=3, random_state=0, learning_method="online", max_iter=3)
    assert gm.score(stream) == pytest.approx(
        _quiet_fit(stream, n_components=3, random_state=0).score(stream), rel=2e-3
    )


@pytest.mark.parametrize(
    "bad, match",
    [
        (dict(learning_method="sgd"), "learning_method"),
        (dict(batch_size=0), "batch_size"),
        (dict(learning_decay=0.5), r"'learning_decay' parameter of GaussianMixture must be a float in the range \(0.5, 1.0\]"),
        (dict(learning_decay=1.5), "learning_decay"),
        (dict(learning_offset=-1.0), "learning_offset"),
        (dict(init_sample_size=0), "init_sample_size"),
    ],
)
def test_bad_online_parameters(stream, bad, match):
    with pytest.raises(ValueError, match=match):
        GaussianMixture(2, **bad).fit(stream[:100])
    with pytest.raises(ValueError, match=match):
        GaussianMixture(2, **bad).partial_fit(stream[:100])


def test_online_is_refused_for_dask(stream):
    da = pytest.importorskip("dask.array")
    with pytest.raises(ValueError, match="for a Dask collection use learning_method='batch'"):
        GaussianMixture(2, learning_method="online").fit(da.from_array(stream, chunks=1000))
