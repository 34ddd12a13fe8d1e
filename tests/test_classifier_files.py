"""A GaussianMixtureClassifier saved to a model file and loaded back: the same predictions, checked files."""

import json

import numpy as np
import pytest
from sklearn.datasets import load_iris

import gaussmix
from gaussmix import GaussianMixture, GaussianMixtureClassifier, ModelFileError
from gaussmix.estimators.files import OPTIONAL_ARRAYS
from gaussmix.io.models import ARRAYS, read_model, write_model

IRIS = load_iris()
X, NAMES = IRIS.data, IRIS.target_names[IRIS.target]  # string classes


def names_of(K):
    return [f"class{c}.{name}" for c in range(K) for name in ARRAYS + OPTIONAL_ARRAYS]


@pytest.mark.parametrize("make", [
    lambda: GaussianMixtureClassifier(n_components=range(1, 3), covariance_type=["VVV", "EEE"]).fit(X, NAMES),
    lambda: GaussianMixtureClassifier(model_type="EDDA", covariance_type=["EEE", "VVV"]).fit(X, IRIS.target + 3),
    lambda: GaussianMixtureClassifier(model_type="EDDA", covariance_type="VEV").fit(
        X, np.where(np.arange(150) % 10 == 0, IRIS.target, -1)),
], ids=["MclustDA-strings", "EDDA-ints", "SSC"])
def test_a_saved_classifier_predicts_as_before(make, tmp_path):
    clf = make()
    path = tmp_path / "clf.gmm"
    clf.save(path)
    for back in (GaussianMixtureClassifier.load(path), gaussmix.load(path)):
        assert isinstance(back, GaussianMixtureClassifier)
        np.testing.assert_array_equal(back.classes_, clf.classes_)
        assert back.classes_.dtype == clf.classes_.dtype
        np.testing.assert_array_equal(back.predict(X), clf.predict(X))
        np.testing.assert_allclose(back.predict_proba(X), clf.predict_proba(X), rtol=1e-12, atol=1e-15)
        assert back.get_params() == clf.get_params()
        assert list(back.covariance_types_) == list(clf.covariance_types_)
        assert back.bic_ == clf.bic_ and back.selections_ is None


def test_feature_names_travel_with_the_classifier(tmp_path):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    clf = GaussianMixtureClassifier(model_type="EDDA", covariance_type="VVV").fit(frame, NAMES)
    clf.save(tmp_path / "clf.gmm")
    back = gaussmix.load(tmp_path / "clf.gmm")
    assert list(back.feature_names_in_) == ["a", "b", "c", "d"]
    np.testing.assert_array_equal(back.predict(frame), clf.predict(frame))


def test_a_tampered_classifier_file_is_refused(tmp_path):
    clf = GaussianMixtureClassifier(model_type="EDDA", covariance_type="VVV").fit(X, NAMES)
    path = tmp_path / "clf.gmm"
    clf.save(path)
    meta, arrays = read_model(path, names=("priors_",), optional=names_of(3))
    for change, message in [
        (lambda m, a: a.update(priors_=np.array([0.5, 0.6, -0.1])), "priors"),
        (lambda m, a: m.update(classes=["setosa", "setosa", "virginica"]), "classes"),
        (lambda m, a: a.update({"class1.weights_": np.array([0.5])}), "weights_"),
        (lambda m, a: m.update(mixtures=m["mixtures"][:1]), "fewer than two"),
        (lambda m, a: m["fit"].update(bic_="high"), "bic_"),
    ]:
        m, a = {**meta, "mixtures": list(meta["mixtures"]), "fit": dict(meta["fit"])}, dict(arrays)
        change(m, a)
        write_model(path, {k: v for k, v in m.items() if k not in ("format", "format_version", "gaussmix_version")}, a)
        with pytest.raises(ModelFileError, match=message):
            GaussianMixtureClassifier.load(path)


def test_a_mixture_reader_says_a_classifier_file_is_not_a_mixture(tmp_path):
    GaussianMixtureClassifier(model_type="EDDA", covariance_type="VVV").fit(X, NAMES).save(tmp_path / "clf.gmm")
    with pytest.raises(ModelFileError, match="not a GaussianMixture: read it with gaussmix.load"):
        GaussianMixture.load(tmp_path / "clf.gmm")
    from gaussmix.estimators import load_model

    with pytest.raises(ModelFileError, match="gaussmix.load"):
        load_model(tmp_path / "clf.gmm")


def test_the_command_line_classifies_and_predicts(tmp_path):
    pd = pytest.importorskip("pandas")
    from .test_cli import run

    frame = pd.DataFrame(X, columns=["sl", "sw", "pl", "pw"]).assign(species=NAMES)
    frame.to_csv(tmp_path / "iris.csv", index=False)
    out = run(["classify", "iris.csv", "-l", "species", "-m", "EDDA", "-c", "VVV", "-c", "EEE", "-j", "1",
               "--json", "-o", "clf.gmm"], tmp_path)
    summary = json.loads(out.stdout)
    clf = GaussianMixtureClassifier(model_type="EDDA", covariance_type=["VVV", "EEE"]).fit(frame.iloc[:, :4], NAMES)
    assert [c["covariance_type"] for c in summary["classes"]] == list(clf.covariance_types_)
    assert summary["training_errors"] == int(np.sum(clf.predict(frame.iloc[:, :4]) != NAMES))
    run(["predict", "clf.gmm", "iris.csv", "-o", "pred.csv"], tmp_path)
    pred = pd.read_csv(tmp_path / "pred.csv")
    assert list(pred.columns) == ["label", "prob_setosa", "prob_versicolor", "prob_virginica"]
    np.testing.assert_array_equal(pred["label"], clf.predict(frame.iloc[:, :4]))
    np.testing.assert_allclose(pred.iloc[:, 1:].to_numpy(), clf.predict_proba(frame.iloc[:, :4]), atol=1e-12)
    bad = run(["info", "clf.gmm"], tmp_path, ok=False)
    assert bad.returncode != 0 and "gaussmix predict" in bad.stderr
    frame.assign(species=frame["species"].where(np.arange(150) % 7 > 0)).to_csv(tmp_path / "holes.csv", index=False)
    bad = run(["classify", "holes.csv", "-l", "species"], tmp_path, ok=False)
    assert "no label" in bad.stderr
