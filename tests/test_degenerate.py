"""Degenerate components: documented handling, a warning, never NaN."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from gaussmix import DegenerateComponentWarning, DegenerateCovarianceError, GaussianMixture

from .helpers import blobs

TYPES = ["full", "tied", "diag", "spherical"]


def assert_finite_and_pd(gm):
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        assert np.all(np.isfinite(getattr(gm, name))), name
    cov = np.asarray(gm.covariances_)
    if cov.ndim == 3 or gm.covariance_type == "tied":
        assert np.linalg.eigvalsh(cov).min() > 0
    else:
        assert np.all(cov > 0)


def duplicated_points():
    rng = np.random.default_rng(30)
    return np.vstack([np.tile([5.0, 5.0], (40, 1)), rng.normal(size=(60, 2))])


@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical"])
def test_duplicated_points_collapse_with_a_warning(covariance_type):
    X = duplicated_points()
    with pytest.warns(DegenerateComponentWarning, match="singular.*reg_covar"):
        gm = GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(X)
    assert_finite_and_pd(gm)
    assert np.isfinite(gm.score(X))


def test_the_collapse_test_runs_once_for_the_run_kept(monkeypatch):
    # Each run's collapsed components are worked out only when read: the
    # best of n_init's runs is warned about, the others never are.
    from gaussmix.updaters.ml import MaximumLikelihood

    calls = []
    real = MaximumLikelihood.collapsed
    monkeypatch.setattr(MaximumLikelihood, "collapsed", lambda self, stats: calls.append(1) or real(self, stats))
    with pytest.warns(DegenerateComponentWarning, match="singular.*reg_covar"):
        gm = GaussianMixture(2, n_init=3, random_state=0).fit(duplicated_points())
    assert len(calls) == 1
    assert_finite_and_pd(gm)


def test_duplicated_points_do_not_collapse_a_shared_covariance():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gm = GaussianMixture(2, covariance_type="tied", random_state=0).fit(duplicated_points())
    assert_finite_and_pd(gm)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag"])
def test_constant_feature_warns_and_stays_finite(covariance_type):
    X = blobs(seed=31)
    X[:, 1] = 3.0
    with pytest.warns(DegenerateComponentWarning, match="constant feature"):
        gm = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    assert_finite_and_pd(gm)
    np.testing.assert_allclose(gm.means_[:, 1], 3.0)


def test_singular_covariance_without_reg_covar_is_a_clear_error():
    X = np.vstack([np.tile([1.0, 2.0], (30, 1)), np.random.default_rng(32).normal(size=(30, 2)) + 9])
    with pytest.raises(DegenerateCovarianceError, match="increase reg_covar"):
        GaussianMixture(2, reg_covar=0.0, random_state=0).fit(X)
    with pytest.raises(ValueError):  # it is a ValueError, for code that catches those
        GaussianMixture(2, reg_covar=0.0, covariance_type="diag", random_state=0).fit(X)


@pytest.mark.parametrize("covariance_type", TYPES)
def test_component_that_loses_all_its_points_keeps_its_parameters(covariance_type):
    X = blobs(seed=33, n_per=(100, 100))
    far = np.full(X.shape[1], 1e4)
    means = np.vstack([X[:100].mean(0), X[100:].mean(0), far])
    with pytest.warns(DegenerateComponentWarning, match=r"component\(s\) \[2\] lost all their weight"):
        gm = GaussianMixture(
            3,
            covariance_type=covariance_type,
            means_init=means,
            weights_init=[0.45, 0.45, 0.1],
            random_state=0,
        ).fit(X)
    assert_finite_and_pd(gm)
    np.testing.assert_allclose(gm.means_[2], far)
    assert gm.weights_[2] < 1e-12
    assert np.all(np.diff(gm.lower_bounds_) >= -1e-12)
    assert set(np.unique(gm.predict(X))) == {0, 1}


def test_not_converging_warns():
    X = blobs(seed=34)
    with pytest.warns(ConvergenceWarning, match="max_iter=1"):
        gm = GaussianMixture(3, max_iter=1, tol=1e-12, random_state=0).fit(X)
    assert not gm.converged_ and gm.n_iter_ == 1


def test_well_posed_fit_gives_no_warning():
    X = blobs(seed=35)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gm = GaussianMixture(3, random_state=0).fit(X)
    assert gm.converged_


@pytest.mark.parametrize("code", ["EII", "EEI", "VEI", "EVI", "EEV", "VEV", "EVE", "VVE", "EVV", "VEE", "EEE"])
def test_an_emptied_component_keeps_the_models_constraints(code):
    from gaussmix.models import get_model

    X = blobs(seed=36, n_per=(100, 100))
    far = np.full(X.shape[1], 1e4)
    means = np.vstack([X[:100].mean(0), X[100:].mean(0), far])
    with pytest.warns(DegenerateComponentWarning, match="lost all their weight"):
        gm = GaussianMixture(3, covariance_type=code, means_init=means,
                             weights_init=[0.45, 0.45, 0.1], reg_covar=0.0).fit(X)
    assert_finite_and_pd(gm)
    cov = gm.covariances_
    vol = np.linalg.det(cov) ** (1 / cov.shape[-1])
    if code[0] == "E":
        np.testing.assert_allclose(vol, vol[0], rtol=1e-6)
    if code[1] == "E":
        shapes = np.sort(np.linalg.eigvalsh(cov), axis=1) / vol[:, None]
        np.testing.assert_allclose(shapes, np.broadcast_to(shapes[0], shapes.shape), rtol=1e-6)
    if code[2] == "I":
        assert np.all(cov - np.stack([np.diag(np.diag(c)) for c in cov]) == 0)
    assert get_model(code)[0].coupling != "independent"


@pytest.mark.parametrize("code", ["EVI", "EVV", "VEV", "VVE"])
def test_collapse_is_seen_in_coupled_models_too(code):
    X = blobs(seed=37)
    X[:120, 1] = 2.0  # component 0 is constant in one feature
    with pytest.warns(DegenerateComponentWarning, match=r"component\(s\) \[.*\] is singular"):
        gm = GaussianMixture(3, covariance_type=code, random_state=0).fit(X)
    assert_finite_and_pd(gm)
