"""Invariants of EM held by hypothesis: monotone, normalised, finite, PD."""

import warnings

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gaussmix import (DegenerateComponentWarning, DegenerateCovarianceError, GaussianMixture,
                      available_models)

MODELS = ["full", "tied", "diag", "spherical", *available_models(n_features=2)]


@st.composite
def mixture_data(draw):
    seed = draw(st.integers(0, 2**31))
    K_true = draw(st.integers(1, 4))
    d = draw(st.integers(1, 4))
    n = draw(st.integers(20, 150))
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(K_true, d)) * draw(st.floats(0.5, 6.0))
    labels = rng.integers(0, K_true, size=n)
    scale = draw(st.sampled_from([1e-3, 1.0, 1e3]))
    offset = draw(st.sampled_from([0.0, 1e4]))
    X = (centres[labels] + rng.normal(size=(n, d)) * rng.uniform(0.2, 2, size=d)) * scale + offset
    return X, seed


def check_fitted(gm, X):
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        assert np.all(np.isfinite(getattr(gm, name))), name
    np.testing.assert_allclose(gm.weights_.sum(), 1.0, rtol=1e-12)
    cov = np.asarray(gm.covariances_)
    if gm.covariance_type in ("full", "tied") or cov.ndim == 3:
        assert np.linalg.eigvalsh(cov).min() > 0
    else:
        assert cov.min() > 0
    resp = gm.predict_proba(X)
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, rtol=1e-10)
    np.testing.assert_array_equal(gm.predict(X), resp.argmax(axis=1))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=mixture_data(),
    K=st.integers(1, 4),
    model=st.sampled_from(MODELS),
    init=st.sampled_from(["kmeans", "random"]),
    weighted=st.booleans(),
    chunk_size=st.sampled_from([None, 13]),
)
def test_em_never_decreases_the_log_likelihood(data, K, model, init, weighted, chunk_size):
    """Pure EM (reg_covar=0): the log-likelihood trace never falls.

    reg_covar > 0 changes the M-step, so that the plain log-likelihood is no
    longer what each step maximises; this property is EM's own.
    """
    X, seed = data
    w = np.random.default_rng(seed).uniform(0.1, 3, size=len(X)) if weighted else None
    gm = GaussianMixture(
        K, covariance_type=model, init_params=init, tol=0, max_iter=15,
        reg_covar=0.0, random_state=seed, chunk_size=chunk_size,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            gm.fit(X, sample_weight=w)
        except DegenerateCovarianceError:
            assume(False)  # a component collapsed: no pure-EM step exists
    # A covariance singular at reg_covar=0 (kept, or factorised only by
    # rounding) makes the likelihood unbounded: its trace is then rounding.
    assume(not any(issubclass(c.category, DegenerateComponentWarning) and "singular" in str(c.message)
                   for c in caught))
    lb = np.asarray(gm.lower_bounds_)
    # Iterative M-steps stop at a relative change of sqrt(eps) in their
    # objective; allow rounding at that level.
    assert np.all(np.diff(lb) >= -1e-8 * (1 + np.abs(lb[1:])))
    check_fitted(gm, X)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=mixture_data(),
    K=st.integers(1, 4),
    model=st.sampled_from(MODELS),
    init=st.sampled_from(["kmeans", "k-means++", "random", "random_from_data"]),
    weighted=st.booleans(),
)
def test_regularised_fits_are_finite_and_normalised(data, K, model, init, weighted):
    X, seed = data
    w = np.random.default_rng(seed).uniform(0.1, 3, size=len(X)) if weighted else None
    gm = GaussianMixture(
        K, covariance_type=model, init_params=init, max_iter=15,
        reg_covar=1e-6 * X.var(), random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm.fit(X, sample_weight=w)
    check_fitted(gm, X)
