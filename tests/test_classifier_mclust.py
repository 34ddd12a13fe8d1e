"""GaussianMixtureClassifier against mclust 6.0's MclustDA, EDDA and MclustSSC.

The references are in tests/fixtures/mclust_classifier, made by generate.R
there (with the data, the folds and the label mask it used): for iris, wine
(scikit-learn's) and diabetes, the models mclust chose, its log-likelihood,
degrees of freedom and BIC, its posterior probabilities of the training
rows, and the misclassified rows of each fold of a 10-fold cross-validation.
As in mclust's cvMclustDA, each fold refits the full data's choice of
components and model per class (mclust's retreat included where that fails)
and predicts with the full data's class shares.

mclust's VVE M-step stops short of its optimum (see test_selection), so
where VVE is fitted we ask for a BIC at least as good as mclust's.
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from gaussmix import GaussianMixtureClassifier

FIXTURES = Path(__file__).parent / "fixtures" / "mclust_classifier"
DATA = ["iris", "wine", "diabetes"]
#: mclust's names of its one-component models, and one of our codes for each.
ONE_COMPONENT = {"XXX": "VVV", "XXI": "VVI", "XII": "VII"}


def one_component_name(code):
    """mclust's name of a one-component fit of model ``code``."""
    if code in ("EII", "VII"):
        return "XII"
    return "XXI" if code in ("EEI", "VEI", "EVI", "VVI") else "XXX"


def load(name):
    pd = pytest.importorskip("pandas")
    frame = pd.read_csv(FIXTURES / f"{name}.csv")
    X = frame.iloc[:, 1:].to_numpy(dtype=float)
    y = frame["class"].astype(str).to_numpy()
    return X, y


def reference(name):
    return json.loads((FIXTURES / f"{name}.json").read_text())


@pytest.fixture(scope="module", params=[(name, kind) for name in DATA for kind in ("MclustDA", "EDDA")],
                ids=lambda p: f"{p[0]}-{p[1]}")
def case(request):
    name, kind = request.param
    X, y = load(name)
    ref = reference(name)
    return name, kind, X, y, ref, ref[kind], GaussianMixtureClassifier(model_type=kind).fit(X, y)


def test_iris_is_scikit_learns_iris():
    from sklearn.datasets import load_iris, load_wine

    X, y = load("iris")
    np.testing.assert_array_equal(X, load_iris().data)
    np.testing.assert_array_equal(np.unique(y, return_inverse=True)[1], load_iris().target)
    X, _ = load("wine")
    np.testing.assert_array_equal(X, load_wine().data)


def test_same_models_as_mclust(case):
    name, kind, X, y, ref, expected, clf = case
    assert clf.classes_.tolist() == ref["classes"]
    for label, K, code, model in zip(clf.classes_, clf.n_components_, clf.covariance_types_, expected["models"]):
        assert model["class"] == label
        assert K == model["G"]
        ours = one_component_name(code) if kind == "MclustDA" and K == 1 else code
        assert ours == model["model"], (name, label)
    np.testing.assert_allclose(clf.priors_, expected["prop"], rtol=1e-12)


def test_same_likelihood_df_and_bic(case):
    name, kind, X, y, ref, expected, clf = case
    assert clf.n_parameters_ == expected["df"]
    if "VVE" in clf.covariance_types_:
        assert clf.bic_ <= -expected["bic"] + 0.05
        return
    assert clf.log_likelihood_ == pytest.approx(expected["loglik"], abs=0.02)
    assert clf.bic_ == pytest.approx(-expected["bic"], abs=0.05)
    np.testing.assert_allclose(clf.predict_proba(X), expected["z"], atol=1e-3)


@pytest.mark.parametrize("name", DATA)
def test_edda_bic_of_every_model(name):
    X, y = load(name)
    expected = reference(name)["EDDA"]
    clf = GaussianMixtureClassifier(model_type="EDDA").fit(X, y)
    for entry in expected["edda_bic"]:
        ours = clf.model_bic_[entry["model"]]
        if entry["bic"] is None:
            assert np.isnan(ours)
        elif entry["model"] == "VVE":
            assert ours <= -entry["bic"] + 0.05
        else:
            assert ours == pytest.approx(-entry["bic"], abs=0.05), entry["model"]


def test_same_cross_validated_errors(case):
    name, kind, X, y, ref, expected, clf = case
    folds = np.asarray(ref["folds"])
    if kind == "MclustDA":
        settings = dict(
            n_components={m["class"]: m["G"] for m in expected["models"]},
            covariance_type={m["class"]: ONE_COMPONENT.get(m["model"], m["model"]) for m in expected["models"]},
        )
    else:
        settings = dict(covariance_type=expected["models"][0]["model"])
    ours, theirs = [], []
    for fold in expected["cv"]["per_fold"]:
        test = folds == fold["fold"]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fitted = GaussianMixtureClassifier(model_type=kind, priors=expected["prop"], **settings).fit(
                X[~test], y[~test])
        retreated = any("as mclust's MclustDA does" in str(w.message) for w in caught)
        ours.append(int(np.sum(fitted.predict(X[test]) != y[test])))
        theirs.append(fold["errors"])
        if kind == "MclustDA":  # mclust's retreat where a class's model fails on the fold
            changed = False
            for label, K, code in zip(fitted.classes_, fitted.n_components_, fitted.covariance_types_):
                model = fold["models"][label]
                assert K == model["G"]
                assert (one_component_name(code) if K == 1 else code) == model["model"]
                changed |= model != {"G": settings["n_components"][label],
                                     "model": expected["models"][list(fitted.classes_).index(label)]["model"]}
            assert retreated == changed
    assert np.all(np.abs(np.subtract(ours, theirs)) <= 1), (ours, theirs)
    assert abs(sum(ours) - sum(theirs)) <= 1


def test_semi_supervised_is_mclust_ssc():
    X, names = load("iris")
    ref = reference("iris_ssc")
    classes, y = np.unique(names, return_inverse=True)
    labelled = np.asarray(ref["labelled"])
    assert labelled.sum() == 15  # 10% of the labels, 5 per class
    partial = np.where(labelled, y, -1)
    clf = GaussianMixtureClassifier(model_type="EDDA").fit(X, partial)
    assert clf.covariance_types_[0] == ref["model"] and clf.n_components_.tolist() == [1, 1, 1]
    assert clf.n_parameters_ == ref["df"]
    assert clf.log_likelihood_ == pytest.approx(ref["loglik"], abs=1e-3)
    assert clf.bic_ == pytest.approx(-ref["bic"], abs=1e-2)
    for entry in ref["bic_table"]:
        ours = clf.model_bic_[entry["model"]]
        if entry["model"] == "VVE":
            assert ours <= -entry["bic"] + 0.05
        else:
            assert ours == pytest.approx(-entry["bic"], abs=0.05), entry["model"]
    np.testing.assert_allclose(clf.priors_, ref["pro"], atol=1e-4)  # MclustSSC predicts with them
    np.testing.assert_allclose(clf.mixture_.means_.T, ref["mean"], atol=1e-3)
    np.testing.assert_allclose(clf.predict_proba(X), ref["z"], atol=5e-3)
    predicted = clf.predict(X)
    assert classes[predicted].tolist() == ref["classification"]
    assert int(np.sum(predicted[~labelled] != y[~labelled])) == ref["errors_unlabelled"]
