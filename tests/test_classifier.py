"""GaussianMixtureClassifier: scikit-learn's checks, its parameters, its errors, and its invariants.

The comparisons with mclust are in test_classifier_mclust.py.
"""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_iris
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.utils.estimator_checks import check_estimator

from gaussmix import GaussianMixture, GaussianMixtureClassifier, select
from gaussmix.engine.passes import resp_statistics
from gaussmix.estimators import discriminant
from gaussmix.estimators.labelled import LabelledMixture
from gaussmix.models import get_model
from gaussmix.updaters import FixedLabels, MaximumLikelihood

#: scikit-learn's checks give classes -1 and 1 in one problem; -1 marks an
#: unlabelled row here, as in scikit-learn's semi-supervised estimators, which
#: its own test suite lets through that problem by name.
EXPECTED_FAILURES = {"check_classifiers_classes": "-1 marks unlabelled rows (semi-supervised convention)"}

IRIS_X, IRIS_Y = load_iris(return_X_y=True)


def blobs(seed=0, n_per=(40, 30, 30), d=2, spread=4.0):
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(size=(n, d)) @ (rng.normal(size=(d, d)) * 0.3 + np.eye(d)) + spread * k
                   for k, n in enumerate(n_per)])
    y = np.repeat(np.arange(len(n_per)), n_per)
    return X, y


@pytest.mark.parametrize("params", [
    dict(model_type="EDDA"),
    dict(n_components=range(1, 3), covariance_type=["EEE", "VVV", "VII"]),
], ids=["EDDA", "MclustDA-small-grid"])
def test_check_estimator(params):
    check_estimator(GaussianMixtureClassifier(**params), expected_failed_checks=EXPECTED_FAILURES)


@pytest.mark.slow
def test_check_estimator_with_mclusts_defaults():
    """mclust's full default grid (1-5 x 14 models per class): 1 minute on 2 cores, so slow;
    test_check_estimator runs every check on EDDA and on a small MclustDA grid."""
    check_estimator(GaussianMixtureClassifier(), expected_failed_checks=EXPECTED_FAILURES)


def test_the_expected_failure_is_only_the_minus_one_class():
    X, y = blobs()
    clf = GaussianMixtureClassifier(model_type="EDDA").fit(X, np.where(y == 0, -1, y))
    assert clf.classes_.tolist() == [1, 2]  # -1 rows are unlabelled, not a class
    with pytest.raises(ValueError, match="at least two classes"):
        GaussianMixtureClassifier(model_type="EDDA").fit(X[y < 2], np.where(y[y < 2] == 0, -1, 1))


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("make,match", [
    (lambda X, y: (X, y[:-1]), "inconsistent numbers of samples"),
    (lambda X, y: (X, np.zeros_like(y)), "at least two classes"),
    (lambda X, y: (np.where(np.arange(X.size).reshape(X.shape) == 3, np.nan, X), y), "NaN"),
    (lambda X, y: (X, np.where(np.arange(len(y)) < 5, -1, y)), "model_type='EDDA'"),
    (lambda X, y: (X, y + 0.5), "Unknown label type"),
])
def test_bad_y_and_X_say_what_to_do(make, match):
    X, y = blobs()
    with pytest.raises(ValueError, match=match):
        GaussianMixtureClassifier(n_components=1, covariance_type="VVV").fit(*make(X, y))


@pytest.mark.parametrize("params,match", [
    (dict(model_type="EDDA", n_components=2), "n_components must be 1"),
    (dict(model_type="EDDA", covariance_type={0: "VVV", 1: "VVV", 2: "VVV"}), "not a dict"),
    (dict(n_components={0: 1, 1: 2}), "missing \\[2\\]"),
    (dict(covariance_type={0: "VVV", 1: "VVV", 2: "VVV", 7: "EEE"}), "unknown \\[7\\]"),
    (dict(n_components=[0, 1]), "positive int"),
    (dict(covariance_type="nope"), "not a known covariance model"),
    (dict(covariance_type=[]), "empty"),
    (dict(priors=[1.0, 2.0]), "one non-negative number per class"),
    (dict(priors=[0.0, 0.0, 0.0]), "not all zero"),
])
def test_bad_parameters_say_what_to_do(params, match):
    X, y = blobs()
    with pytest.raises(ValueError, match=match):
        GaussianMixtureClassifier(**params).fit(X, y)


def test_fewer_unlabelled_rows_than_classes():
    X, y = blobs()
    partial = y.copy()
    partial[:2] = -1
    with pytest.raises(ValueError, match="at least one unlabelled row per class"):
        LabelledMixture(3, covariance_type="VVV").fit(X, partial)


def test_a_class_of_one_row():
    X, y = blobs()
    y = y.copy()
    y[0] = 5
    with pytest.raises(ValueError, match="class 5 has one row"):
        GaussianMixtureClassifier(n_components=1).fit(X, y)
    clf = GaussianMixtureClassifier(model_type="EDDA", covariance_type="EEE").fit(X, y)
    assert clf.classes_.tolist() == [0, 1, 2, 5]
    np.testing.assert_allclose(clf.mixtures_[3].means_[0], X[0])  # its one row


# --------------------------------------------------------------- parameters
def test_mclustda_per_class_fits_are_selections_of_each_class():
    X, y = blobs(n_per=(60, 50, 40))
    grid = dict(n_components=[1, 2, 3], covariance_type=["EII", "VVV", "EEE"])
    clf = GaussianMixtureClassifier(**grid).fit(X, y)
    for c, (mixture, selection) in enumerate(zip(clf.mixtures_, clf.selections_)):
        alone = select(X[y == c], grid["n_components"], grid["covariance_type"], n_jobs=1)
        assert (mixture.n_components, mixture.covariance_type) == \
            (alone.best_.n_components, alone.best_.covariance_type)
        np.testing.assert_allclose(selection.bic_, alone.bic_, rtol=1e-10)
        np.testing.assert_allclose(mixture.means_, alone.best_.means_, rtol=1e-10)
    assert clf.covariance_types_ == [m.covariance_type for m in clf.mixtures_]
    assert clf.n_components_.tolist() == [m.n_components for m in clf.mixtures_]


def test_predict_proba_is_bayes_rule_with_the_priors():
    X, y = blobs()
    default = GaussianMixtureClassifier(n_components=[1, 2], covariance_type="VVV").fit(X, y)
    np.testing.assert_allclose(default.priors_, np.bincount(y) / len(y))
    priors = np.array([0.7, 0.2, 0.1])
    clf = GaussianMixtureClassifier(n_components=[1, 2], covariance_type="VVV", priors=priors * 3).fit(X, y)
    np.testing.assert_allclose(clf.priors_, priors)
    joint = np.column_stack([m.score_samples(X) for m in clf.mixtures_]) + np.log(priors)
    expected = np.exp(joint - joint.max(axis=1, keepdims=True))
    np.testing.assert_allclose(clf.predict_proba(X), expected / expected.sum(axis=1, keepdims=True),
                               rtol=1e-10)
    np.testing.assert_array_equal(clf.predict(X), np.argmax(expected, axis=1))
    assert clf.score(X, y) == np.mean(clf.predict(X) == y)
    # A prior of 0 removes its class.
    assert 2 not in GaussianMixtureClassifier(n_components=1, priors=[1, 1, 0]).fit(X, y).predict(X)


def test_n_components_int_and_per_class_dict():
    X, y = blobs(n_per=(60, 50, 40))
    fixed = GaussianMixtureClassifier(n_components=2, covariance_type="VVV").fit(X, y)
    assert fixed.n_components_.tolist() == [2, 2, 2]
    per = GaussianMixtureClassifier(n_components={0: 1, 1: 2, 2: 3},
                                    covariance_type={0: "EII", 1: "VVV", 2: "EEE"}).fit(X, y)
    assert per.n_components_.tolist() == [1, 2, 3]
    assert per.covariance_types_ == ["EII", "VVV", "EEE"]


def test_edda_eee_is_linear_discriminant_analysis():
    # EEE shares one covariance, the pooled within-class scatter over n: LDA's.
    clf = GaussianMixtureClassifier(model_type="EDDA", covariance_type="EEE").fit(IRIS_X, IRIS_Y)
    lda = LinearDiscriminantAnalysis(solver="lsqr").fit(IRIS_X, IRIS_Y)
    np.testing.assert_allclose(clf.predict_proba(IRIS_X), lda.predict_proba(IRIS_X), atol=1e-8)


def test_edda_chooses_the_lowest_bic_and_reports_failures():
    X, y = blobs()
    clf = GaussianMixtureClassifier(model_type="EDDA", covariance_type=["EII", "full", "tied"]).fit(X, y)
    assert set(clf.model_bic_) == {"EII", "VVV", "EEE"}  # scikit-learn's names are mclust's codes
    assert clf.bic_ == min(clf.model_bic_.values())
    assert clf.covariance_types_[0] == min(clf.model_bic_, key=clf.model_bic_.get)
    flat = np.column_stack([X[:, 0], np.zeros(len(X))])
    failed = GaussianMixtureClassifier(model_type="EDDA", covariance_type=["VVV", "EII"]).fit(flat, y)
    assert np.isnan(failed.model_bic_["VVV"]) and "VVV" in failed.errors_
    with pytest.raises(ValueError, match="positive reg_covar"):
        GaussianMixtureClassifier(model_type="EDDA", covariance_type="VVV").fit(flat, y)
    regularised = GaussianMixtureClassifier(model_type="EDDA", covariance_type="VVV", reg_covar=1e-3).fit(flat, y)
    assert regularised.mixture_.reg_covar == 1e-3
    assert np.linalg.eigvalsh(regularised.mixture_.covariances_).min() >= 1e-3 * (1 - 1e-9)


def test_edda_rejects_a_class_on_too_few_rows_as_mclust_does():
    # Three rows in three dimensions: that class's VVV covariance is singular,
    # up to rounding that would otherwise give it a spike and the best BIC.
    rng = np.random.default_rng(0)
    # Exactly singular, but the accumulated scatter's rounding leaves its
    # Cholesky test at 4e-7: only the test on the rows (as mclust factors
    # them) sees it.
    three = np.array([[131.0, 593, 126], [131, 573, 114], [143, 647, 72]])
    X = np.vstack([rng.normal([90, 350, 170], [9, 40, 70], size=(40, 3)),
                   rng.normal([100, 500, 250], [10, 60, 100], size=(30, 3)), three])
    y = np.repeat([0, 1, 2], [40, 30, 3])
    clf = GaussianMixtureClassifier(model_type="EDDA", covariance_type=["VVV", "EEE"]).fit(X, y)
    assert np.isnan(clf.model_bic_["VVV"]) and "singular" in clf.errors_["VVV"]
    assert clf.covariance_types_[0] == "EEE"


def test_settings_reach_every_selection(monkeypatch):
    seen = []

    def spy(X, ks, codes, **kw):
        seen.append(kw)
        return select(X, ks, codes, **kw)

    monkeypatch.setattr(discriminant, "select", spy)
    X, y = blobs()
    GaussianMixtureClassifier(n_components=[1, 2], covariance_type="VVV", tol=1e-3, reg_covar=1e-4,
                              max_iter=7, random_state=3, n_jobs=1).fit(X, y)
    assert seen == [dict(reg_covar=1e-4, tol=1e-3, max_iter=7, random_state=3, n_jobs=1)] * 3


def test_max_iter_and_tol_reach_semi_supervised_em():
    X, y = blobs()
    partial = np.where(np.arange(len(y)) % 4 == 0, y, -1)
    short = GaussianMixtureClassifier(model_type="EDDA", covariance_type="VVV", max_iter=2).fit(X, partial)
    assert short.n_iter_.tolist() == [2]
    loose = GaussianMixtureClassifier(model_type="EDDA", covariance_type="VVV", tol=10.0).fit(X, partial)
    tight = GaussianMixtureClassifier(model_type="EDDA", covariance_type="VVV", tol=1e-9).fit(X, partial)
    assert loose.n_iter_[0] < tight.n_iter_[0]


def test_retreat_when_a_fixed_model_fails_warns():
    X, y = blobs(n_per=(40, 30, 4), d=3)
    with pytest.warns(UserWarning, match="as mclust's MclustDA does"):
        clf = GaussianMixtureClassifier(n_components=2, covariance_type="VVV").fit(X, y)
    assert clf.covariance_types_[2] != "VVV" or clf.n_components_[2] < 2


# --------------------------------------------------------- fixed labels seam
@pytest.mark.parametrize("code", ["VVV", "EEE", "VVI", "EII", "VEV"])
def test_labelled_log_likelihood_from_statistics_equals_the_rows(code):
    X, y = blobs(d=3)
    mixture = LabelledMixture(3, covariance_type=code, reg_covar=0).fit(X, y)
    one_hot = np.eye(3)[y]
    stats = resp_statistics(X, None, one_hot.__getitem__, "full", 32)
    updater = FixedLabels(MaximumLikelihood(get_model(code)[0], 0.0), stats)
    log_joint = np.log(mixture.predict_proba(X)) + mixture.score_samples(X)[:, None]
    direct = log_joint[np.arange(len(y)), y].sum()
    assert updater.labelled_log_likelihood(mixture._state()) == pytest.approx(direct, rel=1e-10)
    assert mixture.log_likelihood_ == pytest.approx(direct, rel=1e-10)


def test_labelled_mixture_without_labels_is_a_gaussian_mixture():
    X, _ = blobs()
    ours = LabelledMixture(3, covariance_type="VVV", random_state=0).fit(X)
    theirs = GaussianMixture(3, covariance_type="VVV", random_state=0).fit(X)
    np.testing.assert_allclose(ours.means_, theirs.means_, rtol=1e-12)


# ---------------------------------------------------------------- properties
@st.composite
def labelled_data(draw):
    seed = draw(st.integers(0, 2**31))
    K = draw(st.integers(2, 4))
    d = draw(st.integers(1, 3))
    rng = np.random.default_rng(seed)
    n_per = rng.integers(d + 3, 40, size=K)
    centres = rng.normal(size=(K, d)) * draw(st.floats(0.5, 5.0))
    X = np.vstack([centres[k] + rng.normal(size=(n, d)) * rng.uniform(0.3, 2, size=d)
                   for k, n in enumerate(n_per)])
    y = np.repeat(np.arange(K), n_per)
    return X * draw(st.sampled_from([1e-3, 1.0, 1e3])), y, rng


SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(labelled_data(), st.sampled_from(["MclustDA", "EDDA"]))
def test_predict_proba_rows_sum_to_one(data, model_type):
    X, y, rng = data
    kw = dict(n_components=[1, 2], covariance_type=["VVV", "EII"]) if model_type == "MclustDA" else {}
    clf = GaussianMixtureClassifier(model_type=model_type, reg_covar=1e-6, **kw).fit(X, y)
    far = X[:5] + 100 * X.std()
    for rows in (X, far):
        proba = clf.predict_proba(rows)
        assert np.all(np.isfinite(proba)) and np.all(proba >= 0)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)


@SETTINGS
@given(labelled_data(), st.sampled_from(["VVV", "VVI", "VII"]))
def test_a_fully_labelled_fit_equals_per_class_fits(data, code):
    # Models whose components share nothing: the classes decouple, so EDDA
    # and MclustDA with one component both give each class its own Gaussian.
    X, y, _ = data
    edda = GaussianMixtureClassifier(model_type="EDDA", covariance_type=code).fit(X, y)
    da = GaussianMixtureClassifier(n_components=1, covariance_type=code).fit(X, y)
    for c in range(len(edda.classes_)):
        Xc = X[y == c]
        alone = GaussianMixture(1, covariance_type=code, reg_covar=0).fit(Xc)
        for clf in (edda, da):
            np.testing.assert_allclose(clf.mixtures_[c].means_, alone.means_, rtol=1e-9, atol=1e-12 * X.std())
            np.testing.assert_allclose(clf.mixtures_[c].covariances_, alone.covariances_, rtol=1e-7)
    np.testing.assert_allclose(edda.predict_proba(X), da.predict_proba(X), atol=1e-7)


@SETTINGS
@given(labelled_data(), st.sampled_from(["VVV", "EEE", "VII", "EEI", "VEV", "EVE"]), st.floats(0.05, 0.5))
def test_semi_supervised_log_likelihood_never_falls(data, code, kept):
    X, y, rng = data
    partial = np.where(rng.random(len(y)) < kept, y, -1)
    partial[np.searchsorted(y, np.arange(y.max() + 1))] = np.arange(y.max() + 1)  # every class labelled
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            mixture = LabelledMixture(y.max() + 1, covariance_type=code, reg_covar=0, tol=0,
                                      max_iter=40).fit(X, partial)
        except ValueError:  # a singular covariance on these draws: nothing to trace
            return
    trace = np.asarray(mixture.lower_bounds_)
    assert np.all(np.diff(trace) >= -1e-10 * (1 + np.abs(trace[1:])))
