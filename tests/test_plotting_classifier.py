"""The classifier's figure: it draws, and its regions are the classifier's decisions."""

import struct

import numpy as np
import pytest
from sklearn.datasets import load_iris

pytest.importorskip("matplotlib")

from gaussmix import GaussianMixtureClassifier, plotting  # noqa: E402

X, Y = load_iris(return_X_y=True)


def test_classifier_figures_are_valid_pngs(tmp_path):
    clfs = {
        "mclustda": GaussianMixtureClassifier(n_components=range(1, 3), covariance_type=["VVV", "EEE"]).fit(X, Y),
        "edda": GaussianMixtureClassifier(model_type="EDDA").fit(X, Y),
    }
    for name, clf in clfs.items():
        fig = plotting.plot_classifier(clf, X, Y, features=(2, 3))
        path = plotting.save_figure(fig, tmp_path / f"{name}.png")
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = struct.unpack(">II", data[16:24])
        assert 300 <= width <= 3000 and 250 <= height <= 3000
        ax = fig.axes[0]
        wrong = int(np.sum(clf.predict(X) != Y))
        assert f"{wrong} of 150 rows misclassified" in ax.get_title()
        assert len(ax.patches) == int(clf.n_components_.sum())  # one ellipse per component
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["0", "1", "2"]


def test_regions_of_a_two_feature_classifier_are_its_predictions():
    X2 = X[:, 2:]
    clf = GaussianMixtureClassifier(n_components=range(1, 3), covariance_type=["VVV", "VII"]).fit(X2, Y)
    for mixture in clf.mixtures_:
        np.testing.assert_allclose(plotting.marginal_log_density(mixture, X2, [0, 1]),
                                   mixture.score_samples(X2), rtol=1e-10)
    joint = np.array([plotting.marginal_log_density(m, X2, [0, 1]) for m in clf.mixtures_])
    regions = np.argmax(joint + np.log(clf.priors_)[:, None], axis=0)
    np.testing.assert_array_equal(clf.classes_[regions], clf.predict(X2))


def test_without_y_points_take_the_prediction(tmp_path):
    clf = GaussianMixtureClassifier(model_type="EDDA", covariance_type="EEE").fit(X, Y)
    fig = plotting.plot_classifier(clf, X, features=(0, 1), title="LDA", feature_names=list("abcd"))
    ax = fig.axes[0]
    assert ax.get_title() == "LDA" and ax.get_xlabel() == "a" and ax.get_ylabel() == "b"


def test_unlabelled_rows_are_drawn_apart_and_never_counted_wrong():
    iris = load_iris()
    X, y = iris.data[:, 2:], iris.target.copy()
    y[np.random.default_rng(0).random(len(y)) < 0.8] = -1
    clf = GaussianMixtureClassifier(model_type="EDDA", covariance_type="VVV").fit(X, y)
    ax = plotting.plot_classifier(clf, X, y).axes[0]
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "unlabelled" in texts
    labelled = y >= 0
    wrong = int(np.sum(clf.predict(X[labelled]) != y[labelled]))
    assert f"{wrong} of {int(labelled.sum())} labelled rows misclassified" in ax.get_title()
