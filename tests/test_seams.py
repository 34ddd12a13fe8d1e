"""The seams work: a toy updater and a toy kernel plug in without touching the engine.

Each toy is under 50 lines and lives here, in a test file: an updater that
keeps the means where they started (the covariances then follow the scatter
about those means), and a kernel whose log-densities come from scipy.
"""

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from gaussmix import GaussianMixture
from gaussmix.backends import ArraySource
from gaussmix.engine import driver, kernels
from gaussmix.engine.kernels.reference import ReferenceKernel
from gaussmix.engine.schedules import Batch
from gaussmix.engine.stats import SuffStats
from gaussmix.models import get_model
from gaussmix.updaters import MaximumLikelihood, Updater

from .helpers import blobs


# ------------------------------------------------------------- a toy updater
class FrozenMeans(Updater):
    """Maximum likelihood with the means held fixed: the scatter is taken about them."""

    def __init__(self, model, reg_covar, means):
        self.inner, self.means = MaximumLikelihood(model, reg_covar), np.asarray(means, float)
        self.scatter = self.inner.scatter

    def estep_inputs(self, state):
        return self.inner.estep_inputs(state)

    def update(self, stats, previous=None):
        stats = stats.to_numpy()
        shift = stats.means - self.means  # S_k(mu) = S_k + n_k (xbar_k - mu)(xbar_k - mu)^T
        about = stats.scatter + stats.nk[:, None, None] * shift[:, :, None] * shift[:, None, :]
        return self.inner.update(SuffStats(stats.nk, self.means, about), previous)

    def objective(self, loglik, weight, entering, stats, state):
        return self.inner.objective(loglik, weight, entering, stats, state)


class FrozenMeansMixture(GaussianMixture):
    """A second estimator is a small subclass: only its updater differs."""

    def _make_updater(self):
        return FrozenMeans(get_model(self.covariance_type)[0], self.reg_covar, self.means_init)


def test_a_toy_updater_plugs_into_the_driver_and_the_estimator():
    X = blobs(d=2)
    means = np.array([[0.0, 0.0], [4.0, 4.0], [8.0, 8.0]])
    gm = FrozenMeansMixture(3, means_init=means, reg_covar=0.0, tol=0.0, max_iter=30).fit(X)
    np.testing.assert_array_equal(gm.means_, means)  # held, through 30 updates
    # Still EM for a constrained model: the log-likelihood never falls.
    assert np.all(np.diff(gm.lower_bounds_) >= -1e-12 * abs(gm.lower_bounds_[-1]))
    # The free fit moves the means and reaches a higher likelihood.
    free = GaussianMixture(3, means_init=means, reg_covar=0.0, tol=0.0, max_iter=30).fit(X)
    assert free.lower_bound_ > gm.lower_bound_
    # The driver runs it directly too: one more step from the fitted state
    # gives the responsibility-weighted scatter about the fixed means.
    updater = FrozenMeans(get_model("full")[0], 0.0, means)
    resp = gm.predict_proba(X)
    result = driver.run(ArraySource(X, None, 64), updater, gm._state(), Batch(), tol=0.0, max_iter=1)
    np.testing.assert_array_equal(result.state.means, means)
    for k in range(3):
        z = X - means[k]
        expected = (resp[:, k, None] * z).T @ z / resp[:, k].sum()
        np.testing.assert_allclose(result.state.covariances[k], expected, rtol=1e-10)


# -------------------------------------------------------------- a toy kernel
class ScipyKernel(ReferenceKernel):
    """NumPy float64 chunks, log-densities from scipy.stats; counts its calls."""

    name, namespaces, dtypes, calls = "scipy-toy", ("numpy",), ("float64",), 0
    structures = ("full", "shared")

    def weighted_log_prob(self, X, eparams):
        ScipyKernel.calls += 1
        host = eparams.host
        K, d = host.means.shape
        precision = host.prec_chol @ np.swapaxes(host.prec_chol, -1, -2)  # full or shared
        cov = np.linalg.inv(np.broadcast_to(precision, (K, d, d)))
        # log_norm_k is log pi_k + log det U_k - d/2 log 2 pi: recover log pi_k.
        log_det_u = -0.5 * np.linalg.slogdet(cov)[1]
        log_pi = host.log_norm - log_det_u + 0.5 * d * np.log(2 * np.pi)
        return np.stack([multivariate_normal(host.means[k], cov[k]).logpdf(X).reshape(-1) + log_pi[k]
                         for k in range(K)], axis=1)


@pytest.fixture
def scipy_kernel():
    kernel = kernels.register(ScipyKernel())
    yield kernel
    kernels.unregister(kernel.name)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "VEV"])
def test_a_toy_kernel_plugs_into_the_registry(scipy_kernel, covariance_type):
    X = blobs(d=3)
    kw = dict(covariance_type=covariance_type, random_state=0, tol=0.0, max_iter=10)
    ScipyKernel.calls = 0
    toy = GaussianMixture(3, **kw).fit(X)
    assert ScipyKernel.calls >= 10  # every E-step of the fit went through it
    kernels.unregister(scipy_kernel.name)
    own = GaussianMixture(3, **kw).fit(X)
    kernels.register(scipy_kernel)
    np.testing.assert_allclose(toy.lower_bounds_, own.lower_bounds_, rtol=1e-10)
    np.testing.assert_allclose(toy.covariances_, own.covariances_, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(toy.predict_proba(X), own.predict_proba(X), atol=1e-10)


def test_the_registry_names_what_no_kernel_takes():
    with pytest.raises(TypeError, match="no kernel takes int8 chunks"):
        kernels.select("numpy", np.int8, "full", 2, 2)


# ------------------------------------------------------------- a start's test
def test_a_caller_vets_each_start_before_em():
    """``vetting_starts``: called on every start (one per n_init), before EM, never outside its context."""
    import threading

    from gaussmix.estimators import vetting_starts

    X = blobs(seed=2).astype(np.float32)
    seen = []

    def vet(estimator, state, start, dtype):
        seen.append((estimator, state, dtype, hasattr(estimator, "converged_")))

    gm = GaussianMixture(3, n_init=2, random_state=0)
    with vetting_starts(vet):
        gm.fit(X)
        # A fit on another thread is not in this context.
        other = threading.Thread(target=GaussianMixture(2, random_state=0).fit, args=(X,))
        other.start()
        other.join()
    assert len(seen) == 2 and all(e is gm for e, *_ in seen)
    for _, state, dtype, fitted in seen:
        assert dtype == np.float32 and state.means.dtype == np.float64 and state.means.shape == (3, 3)
        assert not fitted  # before EM: the estimator has no fit yet
    # The start vetted is the one EM goes from: with max_iter=0 it is the fit itself.
    one = GaussianMixture(3, random_state=0, max_iter=0)
    with vetting_starts(lambda e, state, s, d: seen.append(state)):
        one.fit(X)
    np.testing.assert_allclose(seen[-1].means, one.means_, rtol=1e-6)
    seen.clear()
    GaussianMixture(3, random_state=0).fit(X)
    gm.set_params(warm_start=True)
    with vetting_starts(vet):
        gm.fit(X)  # a warm start makes no start
    assert seen == []


def test_a_vetted_start_that_fails_ends_the_fit():
    from gaussmix.estimators import vetting_starts

    def refuse(estimator, state, start, dtype):
        raise ValueError("not this start")

    gm = GaussianMixture(2, random_state=0)
    with pytest.raises(ValueError, match="not this start"), vetting_starts(refuse):
        gm.fit(blobs(seed=2))
    assert not hasattr(gm, "means_")
    GaussianMixture(2, random_state=0).fit(blobs(seed=2))  # the context is gone with the error
