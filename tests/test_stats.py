"""The sufficient statistics against their direct formulas, and merge."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gaussmix.engine.passes import accumulate
from gaussmix.engine.stats import merge, reduce_stats


def direct(X, resp, w):
    wr = resp * w[:, None]
    nk = wr.sum(0)
    means = (wr.T @ X) / nk[:, None]
    scatter = np.stack(
        [(wr[:, k, None] * (X - means[k])).T @ (X - means[k]) for k in range(resp.shape[1])]
    )
    return nk, means, scatter


def random_case(rng, n, d, K):
    X = rng.normal(size=(n, d)) * rng.uniform(0.5, 3, size=d) + rng.normal(size=d) * 5
    resp = rng.dirichlet(np.ones(K), size=n)
    w = rng.uniform(0, 3, size=n)
    return X, resp, w


def test_accumulate_matches_direct_formulas():
    rng = np.random.default_rng(1)
    X, resp, w = random_case(rng, 50, 4, 3)
    s = accumulate(X, resp, w, kind="full")
    nk, means, scatter = direct(X, resp, w)
    np.testing.assert_allclose(s.nk, nk, rtol=1e-12)
    np.testing.assert_allclose(s.means, means, rtol=1e-12)
    np.testing.assert_allclose(s.scatter, scatter, rtol=1e-10)
    d = accumulate(X, resp, w, kind="diag")
    np.testing.assert_allclose(d.scatter, np.diagonal(scatter, axis1=1, axis2=2), rtol=1e-10)


def test_no_weights_means_unit_weights():
    rng = np.random.default_rng(2)
    X, resp, _ = random_case(rng, 30, 2, 2)
    a = accumulate(X, resp, None)
    b = accumulate(X, resp, np.ones(30))
    np.testing.assert_allclose(a.scatter, b.scatter, rtol=1e-13)


@settings(max_examples=40, deadline=None)
@given(
    n_a=st.integers(1, 40),
    n_b=st.integers(1, 40),
    d=st.integers(1, 4),
    K=st.integers(1, 4),
    kind=st.sampled_from(["full", "diag", "pooled"]),
    seed=st.integers(0, 2**31),
)
def test_merge_equals_stats_of_union(n_a, n_b, d, K, kind, seed):
    rng = np.random.default_rng(seed)
    X, resp, w = random_case(rng, n_a + n_b, d, K)
    whole = accumulate(X, resp, w, kind=kind)
    parts = merge(
        accumulate(X[:n_a], resp[:n_a], w[:n_a], kind=kind),
        accumulate(X[n_a:], resp[n_a:], w[n_a:], kind=kind),
    )
    np.testing.assert_allclose(parts.nk, whole.nk, rtol=1e-12)
    np.testing.assert_allclose(parts.means, whole.means, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(parts.scatter, whole.scatter, rtol=1e-9, atol=1e-9)


def test_merge_is_order_free():
    rng = np.random.default_rng(3)
    X, resp, w = random_case(rng, 90, 3, 3)
    chunks = [accumulate(X[i : i + 20], resp[i : i + 20], w[i : i + 20]) for i in range(0, 90, 20)]
    left = reduce_stats(chunks)
    right = reduce_stats(chunks[::-1])
    tree = merge(merge(chunks[0], chunks[1]), merge(merge(chunks[2], chunks[3]), chunks[4]))
    for other in (right, tree):
        np.testing.assert_allclose(left.scatter, other.scatter, rtol=1e-10)
        np.testing.assert_allclose(left.means, other.means, rtol=1e-12)


def test_empty_component_in_a_chunk_merges_cleanly():
    rng = np.random.default_rng(4)
    X, resp, w = random_case(rng, 20, 2, 2)
    resp[:10] = [1.0, 0.0]  # component 1 gets nothing from the first chunk
    a = accumulate(X[:10], resp[:10], w[:10])
    assert a.nk[1] == 0 and np.all(np.isfinite(a.means))
    m = merge(a, accumulate(X[10:], resp[10:], w[10:]))
    whole = accumulate(X, resp, w)
    np.testing.assert_allclose(m.scatter, whole.scatter, rtol=1e-10)


def test_float32_large_offset_is_accurate():
    """Centred accumulation keeps full precision where raw moments cancel."""
    rng = np.random.default_rng(5)
    X64 = rng.normal(size=(4000, 2)) + 1e6
    X32 = X64.astype(np.float32)
    resp = np.ones((4000, 1))
    chunks = [accumulate(X32[i : i + 500], resp[i : i + 500]) for i in range(0, 4000, 500)]
    s = reduce_stats(chunks)
    exact = np.cov(X32.astype(np.float64).T, bias=True) * 4000
    np.testing.assert_allclose(s.scatter[0], exact, rtol=1e-9)
    # The uncentred formula in float32 loses everything at this offset.
    raw = (X32.T @ X32) - 4000 * np.outer(X32.mean(0), X32.mean(0))
    assert not np.allclose(raw, exact, rtol=1e-2)


def test_bad_kind():
    with pytest.raises(ValueError, match="kind"):
        accumulate(np.zeros((2, 2)), np.ones((2, 1)), kind="tied")
