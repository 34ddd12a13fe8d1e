"""Each public parameter does what its documentation says."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning

from gaussmix import GaussianMixture

from .helpers import blobs


@pytest.fixture
def X():
    return blobs(seed=40)


def test_fit_predict_equals_fit_then_predict(X):
    for init in ("kmeans", "random"):
        kw = dict(init_params=init, random_state=1, max_iter=5, tol=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            labels = GaussianMixture(3, **kw).fit_predict(X)
            gm = GaussianMixture(3, **kw).fit(X)
        np.testing.assert_array_equal(labels, gm.predict(X))


def test_random_state_makes_fits_reproducible(X):
    a = GaussianMixture(3, init_params="random", random_state=4).fit(X)
    b = GaussianMixture(3, init_params="random", random_state=4).fit(X)
    np.testing.assert_array_equal(a.means_, b.means_)
    np.testing.assert_array_equal(a.sample(10)[0], b.sample(10)[0])


def test_n_init_keeps_the_best_run(X):
    rs = np.random.RandomState(7)
    runs = []
    for _ in range(4):  # four runs drawing from the same stream as n_init=4
        gm = GaussianMixture(3, init_params="random", random_state=rs).fit(X)
        runs.append(gm.lower_bound_)
    best = GaussianMixture(3, init_params="random", n_init=4, random_state=7).fit(X)
    assert best.lower_bound_ == pytest.approx(max(runs), rel=1e-12)
    assert len(set(runs)) > 1  # the runs really differ


def test_warm_start_continues_from_the_last_fit(X):
    gm = GaussianMixture(3, warm_start=True, max_iter=2, tol=0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm.fit(X)
        first = list(gm.lower_bounds_)
        gm.fit(X)
    cold = GaussianMixture(3, max_iter=4, tol=0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        cold.fit(X)
    np.testing.assert_allclose(first + gm.lower_bounds_, cold.lower_bounds_, rtol=1e-12)
    np.testing.assert_allclose(gm.means_, cold.means_, rtol=1e-12)


def test_max_iter_zero_returns_the_start(X):
    means = X[[0, 150, 299]]
    gm = GaussianMixture(3, max_iter=0, means_init=means).fit(X)
    np.testing.assert_array_equal(gm.means_, means)
    assert gm.n_iter_ == 0 and gm.lower_bounds_ == []


def test_tol_controls_convergence(X):
    loose = GaussianMixture(3, tol=1e-1, random_state=0).fit(X)
    tight = GaussianMixture(3, tol=1e-10, random_state=0, max_iter=500).fit(X)
    assert loose.converged_ and tight.converged_
    assert loose.n_iter_ < tight.n_iter_
    assert abs(tight.lower_bounds_[-1] - tight.lower_bounds_[-2]) < 1e-10


def test_reg_covar_is_added_to_the_diagonal(X):
    start = dict(means_init=X[[0, 150, 299]], weights_init=[1 / 3] * 3,
                 precisions_init=np.tile(np.eye(3), (3, 1, 1)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = GaussianMixture(3, max_iter=1, reg_covar=0.0, **start).fit(X)
        b = GaussianMixture(3, max_iter=1, reg_covar=0.5, **start).fit(X)
    np.testing.assert_allclose(b.covariances_ - a.covariances_, np.tile(0.5 * np.eye(3), (3, 1, 1)), atol=1e-12)


@pytest.mark.parametrize("verbose, expected", [(1, "  Iteration 2\n"), (2, "ll change")])
def test_verbose_prints_progress_every_interval(X, capsys, verbose, expected):
    GaussianMixture(3, verbose=verbose, verbose_interval=2, random_state=0).fit(X)
    out = capsys.readouterr().out
    assert "Initialization 0" in out and expected in out
    assert "Iteration 1\t" not in out and "  Iteration 1\n" not in out


def test_silent_by_default(X, capsys):
    GaussianMixture(3, random_state=0).fit(X)
    assert capsys.readouterr().out == ""


def test_score_is_weighted_mean_of_score_samples(X):
    gm = GaussianMixture(3, random_state=0).fit(X)
    w = np.linspace(0, 1, len(X))
    assert gm.score(X, sample_weight=w) == pytest.approx(np.average(gm.score_samples(X), weights=w))
    assert gm.score(X) == pytest.approx(gm.score_samples(X).mean())


def test_bic_and_aic_closed_form_at_one_component(X):
    from scipy.stats import multivariate_normal

    gm = GaussianMixture(1, reg_covar=0.0).fit(X)
    n, d = X.shape
    cov = np.cov(X.T, bias=True)
    loglik = multivariate_normal(X.mean(0), cov).logpdf(X).sum()
    p = d + d * (d + 1) / 2
    assert gm.bic(X) == pytest.approx(-2 * loglik + p * np.log(n), rel=1e-10)
    assert gm.aic(X) == pytest.approx(-2 * loglik + 2 * p, rel=1e-10)


def test_sample_draws_from_the_mixture(X):
    gm = GaussianMixture(3, random_state=0).fit(X)
    Xs, y = gm.sample(20_000)
    for k in range(3):
        np.testing.assert_allclose((y == k).mean(), gm.weights_[k], atol=0.02)
        np.testing.assert_allclose(Xs[y == k].mean(0), gm.means_[k], atol=0.1)
        np.testing.assert_allclose(np.cov(Xs[y == k].T), gm.covariances_[k], atol=0.15)


def test_mclust_code_takes_full_matrices_for_precisions_init(X):
    d = X.shape[1]
    diag_prec = np.array([[1.0, 2.0, 3.0], [0.5, 0.5, 0.5], [2.0, 1.0, 1.0]])
    full_prec = np.stack([np.diag(p) for p in diag_prec])
    kw = dict(covariance_type="VVI", means_init=X[[0, 150, 299]], weights_init=[1 / 3] * 3,
              max_iter=3, tol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = GaussianMixture(3, precisions_init=diag_prec, **kw).fit(X)
        b = GaussianMixture(3, precisions_init=full_prec, **kw).fit(X)
    np.testing.assert_allclose(a.covariances_, b.covariances_, rtol=1e-12)
    assert a.covariances_.shape == (3, d, d)


def test_parameter_validation_is_skipped_where_scikit_learn_skips_it():
    """As scikit-learn's estimators: ``skip_parameter_validation`` skips the check (select uses it)."""
    from sklearn import config_context
    from sklearn.utils._param_validation import InvalidParameterError

    X = np.random.default_rng(0).normal(size=(40, 2))
    bad = GaussianMixture(2, tol="loose", random_state=0)
    with pytest.raises(InvalidParameterError, match="tol"):
        bad.fit(X)
    with config_context(skip_parameter_validation=True):
        with pytest.raises((TypeError, ValueError)):  # unchecked, the bad tol fails where it is first used
            bad.fit(X)


def test_each_class_has_its_own_parameter_names():
    """The names read once per class from its constructor: a subclass's own, and a copy each time."""
    from sklearn.base import clone

    class Extended(GaussianMixture):
        def __init__(self, n_components=1, *, extra=0.5, **kwargs):
            super().__init__(n_components, **kwargs)
            self.extra = extra

    assert "extra" not in GaussianMixture(2).get_params()
    assert Extended(2, extra=0.25).get_params()["extra"] == 0.25
    assert "extra" not in GaussianMixture._get_param_names()
    names = GaussianMixture._get_param_names()
    names.append("mutated")
    assert "mutated" not in GaussianMixture._get_param_names()
    assert clone(GaussianMixture(3, tol=1e-2)).get_params() == GaussianMixture(3, tol=1e-2).get_params()


# Values for the memo of checked scalars: valid and invalid, of several types.
_CANDIDATES = {
    "n_components": [1, 3, 0, -2, 2.0, True, "3", None, np.int64(2)],
    "tol": [1e-3, 0.0, -1.0, float("nan"), 1, "loose", None, np.float64(1e-3), True],
    "reg_covar": [1e-6, 0, -1e-6, np.float64(-1.0), float("inf"), "x"],
    "max_iter": [100, 0, -1, 2.5, False, np.int32(5)],
    "init_params": ["kmeans", "random", "hc", "nope", 3, None],
    "verbose": [0, 2, -1, True, "loud"],
    "warm_start": [False, True, 0, 1, "yes", np.bool_(True)],
    "chunk_size": [None, 100, 0, 1.5],
    # Arrays where "array-like" is allowed pass unchecked (scikit-learn's test is of the type).
    "means_init": [None, np.zeros((3, 2)), np.zeros(()), np.array(["a"]), [[0.0, 1.0]], 3.0, "means"],
    "weights_init": [None, np.ones(3) / 3, np.array([np.nan]), (0.5, 0.5), object()],
}


def _verdict(check, estimator):
    try:
        check(estimator)
    except Exception as exc:  # noqa: BLE001 - the comparison is of the exact error
        return type(exc), str(exc)
    return None


@settings(max_examples=150, deadline=None)
@given(st.lists(st.fixed_dictionaries({name: st.sampled_from(values) for name, values in _CANDIDATES.items()}),
                min_size=1, max_size=6))
def test_memoised_checks_give_scikit_learns_verdicts(settings_list):
    """``_validate_params`` memoises scalars that passed: in any order of calls, the same errors as scikit-learn's."""
    from sklearn.base import BaseEstimator

    for params in settings_list:
        estimator = GaussianMixture(**params)
        assert _verdict(type(estimator)._validate_params, estimator) == _verdict(BaseEstimator._validate_params,
                                                                                 estimator)


def test_a_value_checked_once_is_not_checked_again_but_a_bad_one_always_is(monkeypatch):
    import sklearn.utils._param_validation as validation
    from sklearn.utils._param_validation import InvalidParameterError

    from gaussmix.estimators import base

    checked = []
    original = validation.validate_parameter_constraints
    monkeypatch.setattr(base, "validate_parameter_constraints",
                        lambda constraints, params, caller_name: checked.append(set(params)) or original(
                            constraints, params, caller_name))

    class Fresh(GaussianMixture):  # a class of its own: an empty memo
        pass

    objects = dict(means_init=np.zeros((3, 2)), random_state=np.random.RandomState(0))
    Fresh(3, tol=1e-3, **objects)._validate_params()
    Fresh(3, tol=1e-3, **objects)._validate_params()
    assert "tol" in checked[0] and "tol" not in checked[1]
    assert checked[1] == {"random_state"}  # objects: every time; an ndarray where "array-like" is: never
    Fresh(3, tol=1e-3, means_init=[[0.0, 0.0]] * 3)._validate_params()
    assert "means_init" in checked[-1]  # a list is checked
    for _ in range(2):
        with pytest.raises(InvalidParameterError, match="tol"):
            Fresh(3, tol=-1.0)._validate_params()
    Fresh(3, tol=np.float64(1e-3))._validate_params()
    assert "tol" in checked[-1]  # a float subclass is not memoised


def test_a_subclass_that_adds_a_parameter_has_it_checked():
    """A subclass may name a parameter of its own in ``_get_param_names`` (scikit-learn's hook): it is checked too."""
    from numbers import Integral

    from sklearn.utils._param_validation import InvalidParameterError, Interval

    class Extra(GaussianMixture):
        _parameter_constraints = {**GaussianMixture._parameter_constraints,
                                  "extra": [Interval(Integral, 1, None, closed="left")]}
        extra = 1

        @classmethod
        def _get_param_names(cls):
            return super()._get_param_names() + ["extra"]

    model = Extra()
    model._validate_params()
    model.extra = -5
    with pytest.raises(InvalidParameterError, match="extra"):
        model._validate_params()
