"""Dask collections: the same fit as in memory, lazy predictions, a real cluster.

The cluster tests start a ``LocalCluster`` of 2 worker processes, kill one
mid-fit, and check that the result does not change.
"""

import logging
import os
import warnings

import numpy as np
import pandas as pd
import pytest

da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

from gaussmix import GaussianMixture  # noqa: E402

from .helpers import blobs  # noqa: E402

KW = dict(n_components=3, random_state=0, tol=0.0, max_iter=12)


@pytest.fixture(scope="module")
def data():
    X = blobs(n_per=(400, 300, 250), d=3, seed=4)
    w = np.random.default_rng(1).uniform(0, 2, X.shape[0])
    return X, w


def _fit(X, w=None, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GaussianMixture(**{**KW, **kw}).fit(X, sample_weight=w)


def _same_fit(a, b):
    np.testing.assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=1e-10)
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(a.covariances_, b.covariances_, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("covariance_type", ["full", "spherical", "EVE"])
def test_dask_array_fit_equals_in_memory(data, covariance_type):
    X, _ = data
    ref = _fit(X, covariance_type=covariance_type)
    with_dask = _fit(da.from_array(X, chunks=(111, 3)), covariance_type=covariance_type)
    _same_fit(with_dask, ref)


def test_dask_dataframe_with_dask_weights(data):
    X, w = data
    ref = _fit(X, w)
    frame = dd.from_pandas(pd.DataFrame(X, columns=["a", "b", "c"]), npartitions=5)
    gm = _fit(frame, da.from_array(w, chunks=300))
    _same_fit(gm, ref)
    assert list(gm.feature_names_in_) == ["a", "b", "c"]
    assert gm.score(frame, sample_weight=da.from_array(w, chunks=100)) == pytest.approx(
        ref.score(X, sample_weight=w), rel=1e-10
    )


def test_predictions_are_lazy_and_equal_in_memory(data):
    X, _ = data
    ref = _fit(X)
    dX = da.from_array(X, chunks=(200, 3))
    gm = _fit(dX)
    for method, atol in [("predict", 0), ("predict_proba", 1e-12), ("score_samples", 1e-10)]:
        lazy = getattr(gm, method)(dX)
        assert isinstance(lazy, da.Array), method
        assert lazy.shape[0] == X.shape[0]
        np.testing.assert_allclose(lazy.compute(), getattr(ref, method)(X), atol=atol, rtol=1e-10)
    assert gm.bic(dX) == pytest.approx(ref.bic(X), rel=1e-10)
    frame = dd.from_pandas(pd.DataFrame(X, columns=list("abc")), npartitions=3)
    np.testing.assert_array_equal(gm.predict(frame).compute(), ref.predict(X))


def test_float32_dask_array_stays_float32(data):
    X = data[0].astype(np.float32)
    gm = _fit(da.from_array(X, chunks=(300, 3)))
    assert gm.score_samples(da.from_array(X, chunks=300)).dtype == np.float32
    np.testing.assert_allclose(gm.lower_bounds_, _fit(X).lower_bounds_, rtol=1e-10)


def test_bad_dask_input_says_what_is_wrong(data):
    X, w = data
    with pytest.raises(ValueError, match="learning_method='batch', which runs on the workers"):
        _fit(da.from_array(X, chunks=(100, 3)), learning_method="online")
    Y = X.copy()
    Y[333, 2] = np.inf
    with pytest.raises(ValueError, match=r"inf.*rows 333"):
        _fit(da.from_array(Y, chunks=(100, 3)))
    with pytest.raises(ValueError, match="must be 2-D"):
        _fit(da.from_array(X[:, 0], chunks=100))
    with pytest.raises(ValueError, match="sample_weight has shape"):
        _fit(da.from_array(X, chunks=100), da.from_array(w[:-1], chunks=100))
    with pytest.raises(ValueError, match="non-negative"):
        _fit(da.from_array(X, chunks=100), da.from_array(-w, chunks=100))
    frame = dd.from_pandas(pd.DataFrame({"a": X[:, 0], "s": ["x"] * len(X)}), npartitions=2)
    with pytest.raises(ValueError, match=r"non-numeric column\(s\) \['s'\]"):
        _fit(frame)
    gm = _fit(da.from_array(X, chunks=300))
    with pytest.raises(ValueError, match="2 features.*fitted with 3"):
        gm.predict(da.from_array(X[:, :2], chunks=300))


# ------------------------------------------------------- a real cluster
@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:
        yield cluster, client


class _OnIteration(logging.Handler):
    """Calls ``action`` at a chosen iteration, from the fit's own log records."""

    def __init__(self, at, action):
        super().__init__(logging.DEBUG)
        self.at, self.action, self.seen = at, action, []

    def emit(self, record):
        it = getattr(record, "gaussmix_iteration", None)
        if it is not None:
            self.seen.append(it)
            if it[0] == self.at:
                self.action()


def _listening(handler):
    logger = logging.getLogger("gaussmix")
    logger.addHandler(handler)
    old = logger.level
    logger.setLevel(logging.DEBUG)
    return logger, old


def test_cluster_fit_equals_in_memory_and_reports_progress(data, cluster, capsys):
    X, w = data
    ref = _fit(X, w, verbose=2, verbose_interval=4)
    capsys.readouterr()
    handler = _OnIteration(at=None, action=None)
    logger, old = _listening(handler)
    try:
        gm = _fit(da.from_array(X, chunks=(150, 3)), da.from_array(w, chunks=150), verbose=2, verbose_interval=4)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)
    _same_fit(gm, ref)
    # The client sees every iteration as it happens: log records and verbose lines.
    assert [it[0] for it in handler.seen] == list(range(1, KW["max_iter"] + 1))
    out = capsys.readouterr().out
    assert "Iteration 4" in out and "Iteration 12" in out


def test_a_worker_killed_mid_fit_does_not_change_the_result(data, cluster):
    X, _ = data
    local, client = cluster
    ref = _fit(X)
    killed = []

    def kill_a_worker():
        nanny = next(iter(local.workers.values()))
        killed.append(nanny.process.process.pid)
        os.kill(killed[-1], 9)

    handler = _OnIteration(at=4, action=kill_a_worker)
    logger, old = _listening(handler)
    try:
        gm = _fit(da.from_array(X, chunks=(100, 3)))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)
    assert len(killed) == 1
    _same_fit(gm, ref)
    client.wait_for_workers(2, timeout=60)


def test_misaligned_blocks_are_realigned():
    """distributed can hand a task a block at any byte offset; NumPy is slow on those."""
    from gaussmix.backends.dask import _aligned

    raw = np.arange(1 + 8 * 30, dtype=np.uint8).tobytes()
    block = np.frombuffer(raw, dtype=np.float64, offset=1, count=30).reshape(10, 3)
    assert not block.flags.aligned
    fixed = _aligned(block)
    assert fixed.flags.aligned and fixed.flags.c_contiguous
    np.testing.assert_array_equal(fixed, block)
    good = np.zeros((4, 3))
    assert _aligned(good) is good
