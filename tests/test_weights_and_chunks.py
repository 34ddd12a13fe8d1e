"""Sample weights, chunking and memory: the properties the engine promises."""

import tracemalloc
import warnings
from importlib.util import find_spec

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

from gaussmix import GaussianMixture
from gaussmix.engine import kernels
from gaussmix.engine.chunks import MIN_CHUNK_ROWS, auto_chunk_size, chunk_slices
from gaussmix.engine.passes import chunk_rows

from .helpers import blobs

TYPES = ["full", "tied", "diag", "spherical"]

#: The kernels behind the routes, and each one's bytes per row ``(K, d, itemsize)``.
ROUTE_KERNEL = {"row": kernels.get("numba-rows"), "triangular": kernels.get("numba-triangular"),
                "blas": kernels.get("numpy")}
ROUTE_COST = {name: kernel.bytes_per_row for name, kernel in ROUTE_KERNEL.items()}


def fixed_start(X, covariance_type="full", K=3):
    """Weights, means and precisions that do not depend on any random state."""
    rng = np.random.default_rng(0)
    d = X.shape[1]
    scale = 1.0 / X.var()
    precisions = {
        "full": np.tile(np.eye(d) * scale, (K, 1, 1)),
        "tied": np.eye(d) * scale,
        "diag": np.full((K, d), scale),
        "spherical": np.full(K, scale),
    }[covariance_type]
    return dict(
        weights_init=np.full(K, 1.0 / K),
        means_init=X[rng.choice(len(X), K, replace=False)],
        precisions_init=precisions,
    )


def fit_quiet(est, X, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, **kw)


@pytest.mark.parametrize("covariance_type", TYPES)
def test_integer_weights_equal_repeated_rows(covariance_type):
    X = blobs(seed=10)
    counts = np.random.default_rng(1).integers(0, 4, size=len(X))
    Xrep = np.repeat(X, counts, axis=0)
    # precisions from a fixed start so that the two fits start identically
    kw = dict(covariance_type=covariance_type, tol=0, max_iter=25, **fixed_start(X, covariance_type))
    a = fit_quiet(GaussianMixture(3, **kw), X, sample_weight=counts)
    b = fit_quiet(GaussianMixture(3, **kw), Xrep)
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-9, err_msg=name)
    np.testing.assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=1e-10)
    np.testing.assert_allclose(a.bic(X, sample_weight=counts), b.bic(Xrep), rtol=1e-10)
    np.testing.assert_allclose(a.aic(X, sample_weight=counts), b.aic(Xrep), rtol=1e-10)
    np.testing.assert_allclose(a.score(X, sample_weight=counts), b.score(Xrep), rtol=1e-10)


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++"])
def test_weights_enter_the_initialisation(init_params):
    """k-means and k-means++ treat a weight of 2 as the row twice."""
    X = blobs(seed=11)
    counts = np.random.default_rng(2).integers(1, 3, size=len(X))
    kw = dict(init_params=init_params, random_state=3, max_iter=200)
    a = GaussianMixture(3, **kw).fit(X, sample_weight=counts)
    b = GaussianMixture(3, **kw).fit(np.repeat(X, counts, axis=0))
    order_a, order_b = np.argsort(a.means_[:, 0]), np.argsort(b.means_[:, 0])
    np.testing.assert_allclose(a.means_[order_a], b.means_[order_b], rtol=1e-6)


@pytest.mark.filterwarnings("ignore::gaussmix.DegenerateComponentWarning")  # seeds are points
@pytest.mark.parametrize("init_params", ["random_from_data", "k-means++"])
def test_zero_weight_rows_are_never_chosen_as_seeds(init_params):
    X = blobs(seed=12)
    w = np.zeros(len(X))
    keep = np.arange(0, len(X), 7)
    w[keep] = 1.0
    for seed in range(5):
        gm = GaussianMixture(3, init_params=init_params, random_state=seed, max_iter=0).fit(
            X, sample_weight=w
        )
        # With max_iter=0 the means are the seed rows themselves.
        dist = np.abs(gm.means_[:, None, :] - X[keep][None]).sum(-1).min(1)
        np.testing.assert_allclose(dist, 0.0, atol=1e-12)


def test_zero_weights_equal_dropping_rows():
    X = blobs(seed=13)
    w = (np.arange(len(X)) % 3 != 0).astype(float)
    kw = dict(tol=0, max_iter=15, **fixed_start(X[w > 0]))
    a = fit_quiet(GaussianMixture(3, **kw), X, sample_weight=w)
    b = fit_quiet(GaussianMixture(3, **kw), X[w > 0])
    np.testing.assert_allclose(a.covariances_, b.covariances_, rtol=1e-10)


@pytest.mark.parametrize("covariance_type", TYPES)
@pytest.mark.parametrize("chunk_size", [1, 7, 299, 300, 10_000])
def test_chunk_size_does_not_change_the_fit(covariance_type, chunk_size):
    X = blobs(seed=14)  # 300 rows: 7 and 299 leave a last partial chunk
    kw = dict(covariance_type=covariance_type, tol=0, max_iter=10, **fixed_start(X, covariance_type))
    ref = fit_quiet(GaussianMixture(3, chunk_size=300, **kw), X)
    gm = fit_quiet(GaussianMixture(3, chunk_size=chunk_size, **kw), X)
    np.testing.assert_allclose(gm.covariances_, ref.covariances_, rtol=1e-9)
    np.testing.assert_allclose(gm.predict_proba(X), ref.predict_proba(X), atol=1e-10)
    np.testing.assert_allclose(gm.score_samples(X), ref.score_samples(X), rtol=1e-10)


def test_fit_never_holds_an_n_by_k_array():
    rng = np.random.default_rng(15)
    n, d, K = 200_000, 2, 16
    X = rng.normal(size=(n, d))
    means = rng.normal(size=(K, d))
    gm = GaussianMixture(
        K, tol=0, max_iter=2, chunk_size=2000, means_init=means,
        weights_init=np.full(K, 1 / K), precisions_init=np.tile(np.eye(d), (K, 1, 1)),
    )
    # Compiling on a first call allocates too (Numba's, not the fit's): the
    # same fit and predict on two chunks' rows first, for a cold cache.
    fit_quiet(clone(gm), X[:4000]).predict(X[:4000])
    tracemalloc.start()
    fit_quiet(gm, X)
    labels = gm.predict(X)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    n_by_k = n * K * 8  # 25.6 MB
    assert peak < n_by_k / 4, f"peak {peak / 1e6:.1f} MB"
    assert labels.shape == (n,)


def test_default_chunks_keep_fit_memory_small():
    """With the default chunk size, a fit allocates little beyond the data."""
    rng = np.random.default_rng(19)
    n, d, K = 100_000, 8, 8
    X = rng.normal(size=(n, d))
    start = dict(weights_init=np.full(K, 1 / K), means_init=X[:K],
                 precisions_init=np.tile(np.eye(d), (K, 1, 1)))
    # Compiling a kernel on its first call allocates too (Numba's, not the fit's).
    fit_quiet(GaussianMixture(K, tol=0, max_iter=1, **start), X[:5000])
    tracemalloc.start()
    fit_quiet(GaussianMixture(K, tol=0, max_iter=2, **start), X)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # The chunk budget is 4 MiB; the only other large array is the row
    # weights' and log-likelihoods' per-chunk slices. One n x K float64
    # array alone would be 6.4 MB; the data 6.4 MB.
    assert peak < 12 * 2**20, f"peak {peak / 2**20:.1f} MiB"
    assert peak < X.nbytes * 1.5


def test_float32_stays_float32_and_matches_float64():
    X = blobs(seed=16).astype(np.float32)
    kw = dict(tol=0, max_iter=20, **fixed_start(X.astype(np.float64)))
    a = fit_quiet(GaussianMixture(3, **kw), X)
    b = fit_quiet(GaussianMixture(3, **kw), X.astype(np.float64))
    assert a.score_samples(X).dtype == np.float32
    assert a.predict_proba(X).dtype == np.float32
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-5)
    np.testing.assert_allclose(a.covariances_, b.covariances_, rtol=1e-4)


@pytest.mark.parametrize("covariance_type", TYPES)
def test_float32_far_from_origin_stays_accurate(covariance_type):
    """Data offset by 1e6 in float32: as accurate as float64 on the same values."""
    X32 = (blobs(seed=17) * 10 + 1e6).astype(np.float32)
    X64 = X32.astype(np.float64)
    kw = dict(covariance_type=covariance_type, tol=0, max_iter=20, **fixed_start(X64, covariance_type))
    a = fit_quiet(GaussianMixture(3, chunk_size=50, **kw), X32)
    b = fit_quiet(GaussianMixture(3, chunk_size=50, **kw), X64)
    # The attributes are published in float32 (as scikit-learn's), so at 1e6
    # the means are rounded to 1/16; the float64 parameters behind them, which
    # every prediction uses, agree with the float64 fit.
    assert a.means_.dtype == np.float32
    np.testing.assert_allclose(a.means_, b.means_.astype(np.float32), rtol=0, atol=0.0625)
    np.testing.assert_allclose(a._state().means - 1e6, b.means_ - 1e6, atol=1e-3)
    np.testing.assert_allclose(a.covariances_, b.covariances_, rtol=1e-4)
    np.testing.assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=1e-6)
    np.testing.assert_array_equal(a.predict(X32), b.predict(X64))
    np.testing.assert_allclose(a.score_samples(X32), b.score_samples(X64), rtol=1e-5)


def test_float32_components_far_apart_keep_their_own_precision():
    """Each component is centred on its own (rounded) mean, not on a global one."""
    rng = np.random.default_rng(18)
    X32 = np.vstack([rng.normal(0, 0.01, (200, 1)), rng.normal(1e6, 1, (200, 1))]).astype(np.float32)
    kw = dict(weights_init=[0.5, 0.5], means_init=[[0.0], [1e6]],
              precisions_init=np.array([[[1e4]], [[1.0]]]), max_iter=5, tol=0)
    a = fit_quiet(GaussianMixture(2, **kw), X32)
    b = fit_quiet(GaussianMixture(2, **kw), X32.astype(np.float64))
    np.testing.assert_allclose(a.score_samples(X32), b.score_samples(X32.astype(np.float64)),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=1e-6)


@pytest.mark.parametrize("n_rows, K, d, threads, route", [
    (10_000, 3, 16, 2, "row"),  # the budget alone: one chunk; both threads: two of 5000
    (100_000, 16, 16, 2, "row"),
    (100_000, 64, 64, 2, "blas"),
    (100_000, 64, 64, 2, "triangular"),
    (20_000, 8, 8, 4, "row"),
    (10_000, 3, 16, 2, "blas"),  # the budget alone: 6898 + 3102 rows
    (10_000, 16, 16, 2, "blas"),  # the budget alone: 4096 + 4096 + 1808 rows
    (12_345, 8, 8, 3, "blas"),
])
def test_auto_chunks_split_the_rows_evenly_over_the_threads(n_rows, K, d, threads, route):
    cost = ROUTE_COST[route](K, d, 8)
    size = auto_chunk_size(K, d, cost, n_rows=n_rows, n_threads=threads)
    assert size <= auto_chunk_size(K, d, cost)  # never over the budget
    sizes = [s.stop - s.start for s in chunk_slices(n_rows, size)]
    assert sum(sizes) == n_rows
    assert len(sizes) % threads == 0
    assert max(sizes) - min(sizes) <= len(sizes)


def test_row_kernel_chunks_are_larger():
    # The row kernel forms no (n, d) copies, so the same budget holds more rows.
    assert auto_chunk_size(3, 64, ROUTE_COST["row"](3, 64, 8)) > 3 * auto_chunk_size(3, 64, ROUTE_COST["blas"](3, 64, 8))


def test_triangular_chunks_follow_the_dtype():
    # One (n, d) buffer in the chunk's dtype: float32 rows cost less, and
    # both cost less than on the BLAS route's float64 copies.
    f64 = auto_chunk_size(16, 64, ROUTE_COST["triangular"](16, 64, 8))
    f32 = auto_chunk_size(16, 64, ROUTE_COST["triangular"](16, 64, 4))
    assert auto_chunk_size(16, 64, ROUTE_COST["blas"](16, 64, 8)) < f64 < f32
    # Within the budget: two (n, K) float64 arrays and the buffer.
    assert f32 * (2 * 8 * 16 + 4 * 64) <= 4 * 2**20


@pytest.mark.parametrize("cov, d, dtype, route", [
    ("full", 64, np.float32, "triangular"),
    ("full", 64, np.float64, "triangular"),
    ("full", 4, np.float64, "row"),
    ("diag", 64, np.float32, "row"),
    ("tied", 64, np.float64, "row"),
])
def test_em_chunks_are_sized_by_their_route(cov, d, dtype, route):
    from gaussmix.compiled import AVAILABLE
    from gaussmix.models import get_model

    if not AVAILABLE:
        pytest.skip("the compiled routes need numba")
    structure = get_model(cov)[0].structure
    assert kernels.select("numpy", dtype, structure, 16, d) is ROUTE_KERNEL[route]
    expected = auto_chunk_size(16, d, ROUTE_COST[route](16, d, np.dtype(dtype).itemsize))
    assert chunk_rows(structure, 16, d, kernel_dtype=dtype) == expected
    # Work other than an EM pass or a fused E-step keeps the costliest budget.
    assert chunk_rows(structure, 16, d) == auto_chunk_size(16, d, ROUTE_COST["blas"](16, d, 8))


def test_little_work_stays_in_one_chunk():
    # 10 000 rows, d=2, K=3: two chunks would cost more to hand over and
    # merge than they save.
    assert auto_chunk_size(3, 2, ROUTE_COST["row"](3, 2, 8), n_rows=10_000, n_threads=2) == 10_000
    assert auto_chunk_size(3, 16, ROUTE_COST["row"](3, 16, 8), n_rows=10_000, n_threads=2) == 5_000


def test_balanced_chunks_keep_the_fewest_rows():
    # 16 threads would cut 10 000 rows into chunks of 625; a chunk's finish
    # and merge must stay small beside its products.
    size = auto_chunk_size(16, 20, ROUTE_COST["row"](16, 20, 8), n_rows=10_000, n_threads=16)
    assert size >= 1024


@settings(max_examples=300, deadline=None)
@given(n_rows=st.integers(1, MIN_CHUNK_ROWS), K=st.integers(1, 128), d=st.integers(1, 512),
       threads=st.integers(1, 64), kernel=st.sampled_from([k.name for k in kernels.KERNELS if k.name != "torch" or find_spec("torch")]),
       dtype=st.sampled_from([np.float32, np.float64]), budget=st.sampled_from([None, 1, 2**20, 2**40]))
def test_so_few_rows_make_one_chunk_whatever_the_kernel(n_rows, K, d, threads, kernel, dtype, budget):
    """``chunk_rows`` answers at most MIN_CHUNK_ROWS rows with one chunk without choosing a kernel:
    the sizing it skips says the same for every kernel's budget (and any other), and any threads."""
    kernel = kernels.get(kernel)
    mine, most = kernel.chunk_budget(None)
    assert most >= MIN_CHUNK_ROWS  # the kernels' contract (Kernel.chunk_budget)
    cost = kernel.bytes_per_row(K, d, np.dtype(dtype).itemsize)
    assert auto_chunk_size(K, d, cost, budget=mine if budget is None else budget, n_rows=n_rows,
                           n_threads=threads, max_rows=most) == n_rows
