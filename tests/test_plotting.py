"""Figures: every function draws, and PNGs come out valid and of a sensible size."""

import struct

import numpy as np
import pytest
from sklearn.datasets import load_iris

pytest.importorskip("matplotlib")

from gaussmix import GaussianMixture, plotting, select  # noqa: E402


def png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.fixture(scope="module")
def iris_fit():
    X = load_iris().data
    return X, GaussianMixture(3, random_state=0).fit(X)


def test_each_figure_is_a_valid_png(tmp_path, iris_fit):
    X, gm = iris_fit
    one_d = GaussianMixture(3, covariance_type="V", random_state=0).fit(X[:, [3]])
    result = select(X, n_components=range(1, 4), covariance_types=["VEV", "EEE", "VII"], n_jobs=1)
    figures = {
        "density": plotting.plot_density(one_d, X[:, [3]]),
        "marginal": plotting.plot_density(gm, X, feature=2),
        "hard": plotting.plot_clusters(gm, X, features=(2, 3)),
        "soft": plotting.plot_clusters(gm, X, features=(2, 3), soft=True),
        "pairs": plotting.plot_pairs(gm, X),
        "bic": plotting.plot_criterion(result, "bic"),
        "icl": plotting.plot_criterion(result, "icl"),
        "trace": plotting.plot_loglik(gm),
        "uncertainty": plotting.plot_uncertainty(gm, X, features=(2, 3)),
        "kmeans": plotting.plot_kmeans_vs_gmm(random_state=0),
    }
    for name, fig in figures.items():
        path = plotting.save_figure(fig, tmp_path / f"{name}.png")
        width, height = png_size(path)
        assert 300 <= width <= 3000 and 250 <= height <= 3000, (name, width, height)


def test_soft_colours_blend_and_hard_colours_do_not(iris_fit):
    X, gm = iris_fit
    hard = plotting.base.point_colors(gm, X, soft=False)
    soft = plotting.base.point_colors(gm, X, soft=True)
    palette = {tuple(c) for c in hard}
    assert len(palette) == 3
    resp = gm.predict_proba(X)
    unsure = np.argmin(resp.max(axis=1))
    assert tuple(soft[unsure]) not in palette


def test_kmeans_against_gmm_on_elongated_clusters():
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score

    X, labels = plotting.elongated_clusters(random_state=0)
    km = KMeans(2, n_init=10, random_state=0).fit(X)
    gm = GaussianMixture(2, init_params="random_from_data", n_init=5, random_state=0).fit(X)
    # The point the figure makes: Mahalanobis distance separates what Euclidean cannot.
    assert adjusted_rand_score(labels, gm.predict(X)) > 0.95
    assert adjusted_rand_score(labels, km.labels_) < 0.2


def test_draws_on_given_axes(iris_fit):
    from matplotlib.figure import Figure

    X, gm = iris_fit
    fig = Figure()
    ax = fig.subplots()
    assert plotting.plot_loglik(gm, ax=ax) is fig
