"""The model registry, and each model's constraints on real fitted covariances."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.mixture import GaussianMixture as SKGaussianMixture

from gaussmix import GaussianMixture, available_models
from gaussmix.models import get_model, sklearn_names


def test_registry_names():
    assert set(sklearn_names()) == {"full", "tied", "diag", "spherical"}
    for name, code in {"full": "VVV", "tied": "EEE", "diag": "VVI", "spherical": "VII"}.items():
        model, is_sklearn = get_model(name)
        assert model.code == code and is_sklearn
        assert get_model(code) == (model, False)
    with pytest.raises(ValueError, match="not a known covariance model"):
        get_model("XYZ")


@pytest.mark.parametrize("name", ["full", "tied", "diag", "spherical"])
def test_parameter_count_matches_sklearn(name):
    X = load_iris().data
    sk = SKGaussianMixture(3, covariance_type=name, random_state=0).fit(X)
    gm = GaussianMixture(3, covariance_type=name, random_state=0).fit(X)
    assert gm._n_parameters() == sk._n_parameters()


def decompose(cov):
    """Volume, sorted shape and eigenvectors of each (d, d) covariance."""
    d = cov.shape[-1]
    eigval, eigvec = np.linalg.eigh(cov)
    volume = np.prod(eigval, axis=1) ** (1.0 / d)
    return volume, eigval / volume[:, None], eigvec


@pytest.mark.parametrize("code", available_models(n_features=4))
def test_fitted_covariances_obey_the_model(code):
    X = load_iris().data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm = GaussianMixture(3, covariance_type=code, reg_covar=0.0, random_state=1).fit(X)
    cov = gm.covariances_
    volume, shape, _ = decompose(cov)
    vol, shp, orient = code
    if vol == "E":
        np.testing.assert_allclose(volume, volume[0], rtol=1e-8)
    if shp == "E":
        np.testing.assert_allclose(shape, np.broadcast_to(shape[0], shape.shape), rtol=1e-8)
    if shp == "I":
        np.testing.assert_allclose(shape, 1.0, rtol=1e-8)
    if orient == "I":
        off = cov - np.stack([np.diag(np.diag(c)) for c in cov])
        assert np.all(off == 0.0)
    if orient == "E":
        # Equal orientation: the matrices commute pairwise.
        for a in cov:
            for b in cov:
                np.testing.assert_allclose(a @ b, b @ a, atol=1e-8 * np.abs(a @ b).max())
    # A V really varies here, so the E checks above are not vacuous.
    if vol == "V":
        assert np.ptp(volume) > 1e-3 * volume.max()
    if shp == "V":
        assert np.ptp(shape, axis=0).max() > 1e-3


def test_univariate_models():
    assert available_models(n_features=1) == ["E", "V"]
    rng = np.random.default_rng(0)
    x = np.r_[rng.normal(0, 1, 200), rng.normal(6, 2, 100)][:, None]
    e = GaussianMixture(2, covariance_type="E", random_state=0).fit(x)
    v = GaussianMixture(2, covariance_type="V", random_state=0).fit(x)
    assert e.covariances_.shape == (2, 1, 1)
    assert e.covariances_[0, 0, 0] == e.covariances_[1, 0, 0]
    assert np.ptp(v.covariances_) > 1.0
    assert e._n_parameters() == 1 + 2 + 1 and v._n_parameters() == 2 + 2 + 1
    with pytest.raises(ValueError, match="one-dimensional model"):
        GaussianMixture(2, covariance_type="V").fit(np.c_[x, x])
