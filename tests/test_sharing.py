"""Starts shared by fits from one resp_init (``estimators.sharing``): computed once, the same bits, no aliasing."""

import contextlib

import numpy as np
import pytest

import gaussmix.estimators.base as estimator_base
import gaussmix.selection as selection
from gaussmix import GaussianMixture, select
from gaussmix.estimators import sharing
from gaussmix.estimators.sharing import shared, sharing_starts

from .helpers import blobs


@pytest.fixture
def X():
    return blobs(seed=3)


@pytest.fixture
def resp(X):
    labels = np.arange(len(X)) % 3
    return np.eye(3)[labels]


@pytest.fixture
def summed(monkeypatch):
    """``(scatter kind, rows per chunk)`` of every start's statistics actually summed."""
    sums = []
    original = estimator_base.resp_statistics

    def recording(X, sample_weight, resp_for_chunk, scatter, rows):
        sums.append((scatter, rows))
        return original(X, sample_weight, resp_for_chunk, scatter, rows)

    monkeypatch.setattr(estimator_base, "resp_statistics", recording)
    return sums


def kinds(summed):
    return [kind for kind, _ in summed]


CODES = ["VVV", "EEV", "VEV", "EVE", "VVI", "EII", "EEE"]


def _fits(X, resp, codes, **kwargs):
    return [GaussianMixture(3, covariance_type=code, resp_init=resp, **kwargs).fit(X) for code in codes]


def test_shared_starts_give_the_same_fits_bit_for_bit(X, resp, summed):
    alone = _fits(X, resp, CODES)
    assert len(summed) == len(CODES)  # outside the context: one sum a fit
    summed.clear()
    with sharing_starts():
        together = _fits(X, resp, CODES)
    # One sum per scatter kind: full (VVV, EEV, VEV, EVE), diag (VVI, EII), pooled (EEE).
    assert sorted(kinds(summed)) == ["diag", "full", "pooled"]
    for a, b in zip(alone, together):
        np.testing.assert_array_equal(a.means_, b.means_)
        np.testing.assert_array_equal(a.covariances_, b.covariances_)
        assert a.lower_bound_ == b.lower_bound_ and a.n_iter_ == b.n_iter_


def test_equal_arrays_that_are_not_the_same_are_not_shared(X, resp, summed):
    with sharing_starts():
        _fits(X, resp, ["VVV"])
        _fits(X, resp.copy(), ["VVV"])
        _fits(X.copy(), resp, ["VVV"])
    assert kinds(summed) == ["full", "full", "full"]


def test_fits_chunked_otherwise_do_not_share(X, resp, summed):
    """A start's sums are shared only with fits that would chunk its rows alike."""
    alone = _fits(X, resp, ["VVV"], chunk_size=16) + _fits(X, resp, ["VVV"])
    assert summed == [("full", 16), ("full", len(X))]
    summed.clear()
    with sharing_starts():
        together = _fits(X, resp, ["VVV"], chunk_size=16) + _fits(X, resp, ["VVV"]) + _fits(X, resp, ["EEV"])
    assert summed == [("full", 16), ("full", len(X))]  # the third shares the second's
    for a, b in zip(alone, together):
        np.testing.assert_array_equal(a.covariances_, b.covariances_)


def test_a_fit_owns_its_start(X, resp):
    """With max_iter=0 the fitted means are the start's: changing one fit's must not change another's."""
    with sharing_starts():
        first, second = _fits(X, resp, ["VVV", "EEV"], max_iter=0)
        expected = second.means_.copy()
        first.means_[:] = 0.0
        np.testing.assert_array_equal(second.means_, expected)
        third = _fits(X, resp, ["VEV"], max_iter=0)[0]
    np.testing.assert_array_equal(third.means_, expected)


def test_select_shares_and_chooses_as_without(X, monkeypatch):
    with_sharing = select(X, n_components=range(1, 5), n_jobs=1)
    monkeypatch.setattr(selection, "sharing_starts", contextlib.nullcontext)
    without = select(X, n_components=range(1, 5), n_jobs=1)
    np.testing.assert_array_equal(with_sharing.bic_, without.bic_)
    np.testing.assert_array_equal(with_sharing.icl_, without.icl_)
    assert with_sharing.errors_ == without.errors_


def test_select_sums_each_start_once_per_scatter_kind(X, summed):
    select(X, n_components=[2, 3], covariance_types=CODES, n_jobs=1)
    # The tolerance's one-component fit starts from k-means, not resp_init:
    # it sums once; then each K's three kinds once.
    assert len(summed) == 1 + 2 * 3


def test_shared_outside_the_context_makes_every_time():
    made = []
    for _ in range(3):
        shared("x", (made,), lambda: made.append(1), ())
    assert len(made) == 3


def test_shared_holds_at_most_max_shared_values():
    made = []
    objects = [object() for _ in range(sharing.MAX_SHARED + 4)]
    with sharing_starts():
        for obj in objects:
            shared("x", (obj,), lambda: made.append(1) or len(made), ())
        assert len(made) == len(objects)
        assert shared("x", (objects[-1],), lambda: -1, ()) == len(objects)  # the newest is held
        assert shared("x", (objects[0],), lambda: -1, ()) == -1  # the oldest was dropped
        # Settings are part of the key.
        assert shared("x", (objects[-1],), lambda: -2, ("other",)) == -2

