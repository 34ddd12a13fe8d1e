"""Ordinary iterations run compiled (``engine.stretch``): the same fits as the general path.

Each fit runs twice, with the stretch and with it switched off (its table
of models emptied), and must agree with itself to rounding: the iterations,
the trace, the parameters, the warnings. The bail-outs (an empty component,
a collapse, moments that lost their digits, the iteration limit, a warm
start) are made on purpose.
"""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gaussmix import GaussianMixture, compiled
from gaussmix.backends.base import ArraySource
from gaussmix.engine import stretch

from .helpers import blobs

pytestmark = pytest.mark.skipif(not compiled.AVAILABLE, reason="the stretch runs compiled code")

MODELS = sorted(code for code in stretch.M_STEPS if len(code) == 3)


def fit_both(monkeypatch, X, code, sample_weight=None, **params):
    """The fit with the stretch and without it, each with its warnings."""
    fits = []
    for table in (stretch.M_STEPS, {}):
        with monkeypatch.context() as m, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            m.setattr(stretch, "M_STEPS", table)
            gm = GaussianMixture(covariance_type=code, **params).fit(X, sample_weight=sample_weight)
        fits.append((gm, sorted({f"{w.category.__name__}: {w.message}" for w in caught})))
    return fits


def assert_same_fit(a, b, rtol=1e-9):
    (gm, warned), (ref, ref_warned) = a, b
    assert warned == ref_warned
    assert gm.n_iter_ == ref.n_iter_ and gm.converged_ == ref.converged_
    np.testing.assert_allclose(gm.lower_bounds_, ref.lower_bounds_, rtol=rtol, atol=1e-12)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_allclose(getattr(gm, name), getattr(ref, name), rtol=rtol, atol=1e-12, err_msg=name)


@pytest.fixture
def stretch_lengths(monkeypatch):
    """The iterations each stretch ran, in order (a spy on the compiled loops)."""
    done = []

    def spying(loop):
        def spy(*args):
            result = loop(*args)
            done.append(result[0])
            return result
        return spy

    monkeypatch.setattr(stretch, "STRETCHES", tuple(spying(loop) for loop in stretch.STRETCHES))
    return done


@pytest.mark.parametrize("code", MODELS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
def test_same_fit_as_the_general_path(monkeypatch, stretch_lengths, code, dtype, weighted):
    X = blobs(seed=3).astype(dtype)
    w = np.random.default_rng(0).uniform(0.2, 3.0, len(X)) if weighted else None
    for reg_covar in (0.0, 1e-4):
        stretch_lengths.clear()
        a, b = fit_both(monkeypatch, X, code, w, n_components=3, reg_covar=reg_covar, tol=1e-10,
                        max_iter=300, random_state=0, init_params="random")
        assert a[0].n_iter_ > 3 and stretch_lengths == [a[0].n_iter_]  # every iteration compiled
        assert_same_fit(a, b, rtol=1e-6 if dtype == np.float32 else 1e-9)


@pytest.mark.parametrize("code", ["E", "V"])
def test_univariate_models(monkeypatch, code):
    X = np.random.default_rng(1).normal(size=(200, 1)) * [[1.0]] + np.repeat([0.0, 5.0], 100)[:, None]
    assert_same_fit(*fit_both(monkeypatch, X, code, n_components=2, tol=1e-10, random_state=0))


def test_the_stretch_takes_the_passes(monkeypatch):
    """With it, no pass of a converged small fit runs on the general path; without, every one does."""
    calls = []
    original = ArraySource.statistics

    def counted(self, inputs, scatter):
        calls.append(1)
        return original(self, inputs, scatter)

    monkeypatch.setattr(ArraySource, "statistics", counted)
    X = blobs(seed=4)
    gm = GaussianMixture(3, covariance_type="full", random_state=0).fit(X)
    assert gm.converged_ and gm.n_iter_ > 2 and calls == []
    with monkeypatch.context() as m:
        m.setattr(stretch, "M_STEPS", {})
        GaussianMixture(3, covariance_type="full", random_state=0).fit(X)
    assert len(calls) == gm.n_iter_
    # Chunks of 50 rows are not one chunk: the general path.
    calls.clear()
    gm = GaussianMixture(3, covariance_type="full", random_state=0, chunk_size=50).fit(X)
    assert len(calls) == gm.n_iter_


def test_not_for_other_updaters_or_models(monkeypatch):
    """MAP (a subclass of maximum likelihood), a noise component and stepwise EM take the general path."""
    from gaussmix.updaters.map import MaximumAPosteriori
    from gaussmix.updaters.ml import MaximumLikelihood
    from gaussmix.models import get_model

    model, _ = get_model("VVV")
    assert MaximumLikelihood(model, 0.0).ordinary_m_step() == ("VVV", 0.0)
    # A subclass inherits ordinary_m_step, and must not inherit the stretch.
    assert issubclass(MaximumAPosteriori, MaximumLikelihood)
    assert MaximumAPosteriori.__new__(MaximumAPosteriori).ordinary_m_step() is None
    calls = []
    original = ArraySource.statistics
    monkeypatch.setattr(ArraySource, "statistics", lambda *a: calls.append(1) or original(*a))
    X = blobs(seed=5)
    gm = GaussianMixture(3, covariance_type="full", prior="default", random_state=0).fit(X)
    assert len(calls) == gm.n_iter_
    calls.clear()  # a noise component: its own updater
    gm = GaussianMixture(3, covariance_type="VEV", noise_init="knn", random_state=0).fit(X)
    assert len(calls) == gm.n_iter_
    # Stepwise EM: a pass over each of the 3 mini-batches of 100 rows, per iteration.
    calls.clear()
    gm = GaussianMixture(3, learning_method="online", batch_size=100, max_iter=3, random_state=0).fit(X)
    assert len(X) == 300 and len(calls) == 3 * gm.n_iter_


def test_iteration_limit_and_warm_start(monkeypatch):
    X = blobs(seed=6)
    a, b = fit_both(monkeypatch, X, "VVV", n_components=3, max_iter=4, tol=0.0, random_state=0)
    assert a[0].n_iter_ == 4 and not a[0].converged_ and any("ConvergenceWarning" in w for w in a[1])
    assert_same_fit(a, b)
    fits = []
    for table in (stretch.M_STEPS, {}):
        with monkeypatch.context() as m, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m.setattr(stretch, "M_STEPS", table)
            gm = GaussianMixture(3, covariance_type="VVI", max_iter=3, warm_start=True, random_state=0)
            trace = [gm.fit(X).lower_bounds_ for _ in range(4)]
        fits.append((gm, trace))
    (gm, trace), (ref, ref_trace) = fits
    for t, r in zip(trace, ref_trace):
        np.testing.assert_allclose(t, r, rtol=1e-10)
    np.testing.assert_allclose(gm.means_, ref.means_, rtol=1e-10)


def test_a_component_that_empties(monkeypatch, stretch_lengths):
    """A start far from every row: its component empties at once, and keeps its mean, as on the general path.

    The stretch stops before its first iteration (no iteration was
    ordinary) and the general path runs the whole fit.
    """
    X = blobs(seed=7)
    means = np.vstack([X[:3].mean(axis=0), X[-3:].mean(axis=0), [1e3, 1e3, 1e3]])
    a, b = fit_both(monkeypatch, X, "VVI", n_components=3, means_init=means, random_state=0)
    assert stretch_lengths == [0] and a[0].n_iter_ > 1
    assert_same_fit(a, b)
    np.testing.assert_array_equal(a[0].means_[2], means[2])


def test_a_component_that_collapses(monkeypatch):
    """Without regularisation a component on identical rows keeps its covariance, warned, on both paths."""
    rng = np.random.default_rng(30)
    X = np.vstack([np.tile([5.0, 5.0], (40, 1)), rng.normal(size=(60, 2))])
    a, b = fit_both(monkeypatch, X, "VVV", n_components=2, means_init=[[4.5, 4.5], [0.0, 0.0]],
                    precisions_init=np.array([np.eye(2)] * 2), weights_init=[0.4, 0.6], reg_covar=0.0,
                    max_iter=50)
    assert a[0].n_iter_ > 2 and any("became singular" in w for w in a[1])
    assert_same_fit(a, b)


def test_moments_that_lost_their_digits(monkeypatch, stretch_lengths):
    """Narrow components far from the origin, started far from their rows: exact moments, on both paths.

    The first iteration's moments about the starting means lose their
    digits: the stretch stops before it, and the general path computes
    them exactly.
    """
    rng = np.random.default_rng(8)
    X = 1e7 + np.vstack([rng.normal(size=(100, 2)) * 1e-3, 1.0 + rng.normal(size=(100, 2)) * 1e-3])
    means = np.array([[1e7 - 50.0, 1e7], [1e7 + 50.0, 1e7]])
    a, b = fit_both(monkeypatch, X, "VVV", n_components=2, means_init=means, random_state=0)
    assert stretch_lengths == [0]
    assert_same_fit(a, b)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(12, 150), d=st.integers(1, 4), K=st.integers(1, 4),
       code=st.sampled_from(MODELS), weighted=st.booleans(), scale=st.sampled_from([1e-3, 1.0, 1e4]))
# Nearly tied eigenvalues of a component's scatter: its eigenvectors are
# ill-conditioned, so both paths must decompose alike (models.eigen).
@example(seed=0, n=12, d=4, K=2, code="EEV", weighted=False, scale=1.0)
@example(seed=0, n=12, d=3, K=3, code="EEV", weighted=False, scale=1e-3)
# Components on 3 rows in 4 dimensions: not compared (below).
@example(seed=12, n=12, d=4, K=4, code="EEV", weighted=True, scale=1e-3)
@example(seed=152318, n=12, d=4, K=4, code="VVE", weighted=False, scale=1e4)
def test_property_same_fit(monkeypatch, seed, n, d, K, code, weighted, scale):
    rng = np.random.default_rng(seed)
    X = (rng.normal(size=(n, d)) + rng.integers(0, 3, size=(n, 1)) * 3.0) * scale
    w = rng.uniform(0.0, 2.0, n) if weighted else None
    outcomes = []
    for table in (stretch.M_STEPS, {}):
        with monkeypatch.context() as m, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m.setattr(stretch, "M_STEPS", table)
            try:
                gm = GaussianMixture(K, covariance_type=code, reg_covar=1e-6 * scale**2, tol=1e-8,
                                     random_state=seed, init_params="random_from_data")
                outcomes.append(gm.fit(X, sample_weight=w))
            except ValueError as exc:  # a degenerate covariance, raised alike on both paths
                outcomes.append(type(exc))
    a, b = outcomes
    if isinstance(b, type):
        assert a is b
        return
    if code in ("EEV", "VEV", "EVE", "VVE") and (b.predict_proba(X) > 1e-6).sum(axis=0).min() <= d - 1:
        # A component on at most d - 1 rows has two or more eigenvalues of
        # its scatter at the regularisation. The models that orient by
        # eigenvectors then turn that null space by what rounding alone
        # picks (EEV and VEV give it the common shape; EVE and VVE's profile
        # has flat wells there), so neither path's fit is a stable function
        # of the data. Before models.eigen, with LAPACK's decompositions,
        # the two parted on the example above too (11 iterations against 9),
        # and VVE on 3 rows a component in 4 dimensions (seed 152318)
        # differed by 1e-9 near the tolerance, enough to stop an iteration apart.
        return
    assert a.n_iter_ == b.n_iter_ and a.converged_ == b.converged_
    np.testing.assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-7, atol=1e-7 * scale)
    np.testing.assert_allclose(a.weights_, b.weights_, rtol=1e-7, atol=1e-9)


def test_a_stretch_cut_short_goes_on_on_the_general_path(monkeypatch):
    """A stretch that ends while its iterations are still ordinary: the driver goes on from its last update."""
    monkeypatch.setattr(stretch, "MAX_STRETCH", 3)
    calls = []
    original = ArraySource.statistics
    monkeypatch.setattr(ArraySource, "statistics", lambda *a: calls.append(1) or original(*a))
    X = blobs(seed=9)
    a, b = fit_both(monkeypatch, X, "EEE", n_components=3, tol=1e-10, random_state=0, init_params="random")
    assert a[0].n_iter_ > 6
    assert len(calls) == (a[0].n_iter_ - 3) + b[0].n_iter_
    assert_same_fit(a, b)


@pytest.mark.parametrize("code", MODELS)
def test_univariate_data_run_whole_stretches(monkeypatch, stretch_lengths, code):
    """At d = 1 a matrix model's factors and a diagonal one's have the same shape; each still runs to the end."""
    rng = np.random.default_rng(2)
    X = np.concatenate([rng.normal(0.0, 1.0, 150), rng.normal(3.0, 0.5, 100)])[:, None]
    a, b = fit_both(monkeypatch, X, code, n_components=2, tol=1e-10, means_init=[[-1.0], [4.0]],
                    random_state=0)
    assert a[0].converged_ and a[0].n_iter_ > 3
    assert stretch_lengths == [a[0].n_iter_]
    assert_same_fit(a, b)


def test_a_stretch_that_meets_a_collapse_after_ordinary_iterations(monkeypatch, stretch_lengths):
    """A component grows from a weight of 1e-12 onto one outlying row: ordinary iterations, then not."""
    done = stretch_lengths
    X = np.random.default_rng(0).normal(size=(200, 2))
    a, b = fit_both(monkeypatch, X, "VVI", n_components=3, means_init=[[-0.5, 0], [0.5, 0], [2.5, 0]],
                    precisions_init=np.array([[1.0, 1.0], [1.0, 1.0], [4.0, 4.0]]),
                    weights_init=[0.5, 0.5 - 1e-12, 1e-12], tol=1e-12, max_iter=60)
    assert 0 < done[0] < a[0].n_iter_ and len(done) == 1  # the stretch ran, then the general path
    assert any("singular" in w for w in a[1])
    assert_same_fit(a, b)


def test_iterations_are_reported_as_on_the_general_path_when_the_last_update_fails(monkeypatch, stretch_lengths,
                                                                                   capsys):
    """An update that raises: the iterations before it were reported, that one was not, on both paths.

    With the stretch, its last update is the one the driver takes from it
    (``ordinary_update``); on the general path, the same iteration's.
    """
    from gaussmix.updaters.ml import MaximumLikelihood

    original = MaximumLikelihood.update
    X = blobs(seed=6)
    printed = []

    def fails(*args, **kwargs):
        raise ArithmeticError("an update that fails")

    for table in (stretch.M_STEPS, {}):
        calls = []

        def failing(self, stats, previous=None):
            calls.append(previous is not None)  # the start's M-step has no previous state
            if calls[-1] and sum(calls) == stretch_lengths[0]:
                raise ArithmeticError("an update that fails")
            return original(self, stats, previous)

        with monkeypatch.context() as m:
            m.setattr(stretch, "M_STEPS", table)
            m.setattr(MaximumLikelihood, "update", failing)
            m.setattr(MaximumLikelihood, "ordinary_update", fails)
            capsys.readouterr()
            with pytest.raises(ArithmeticError):
                GaussianMixture(3, covariance_type="VVV", random_state=0, init_params="random", tol=1e-10,
                                verbose=1, verbose_interval=1).fit(X)
        printed.append([line.strip() for line in capsys.readouterr().out.splitlines() if "Iteration" in line])
        # The stretch ran every ordinary iteration, and none on the general path.
        assert calls == [False] if table else len(calls) == stretch_lengths[0] + 1
    assert stretch_lengths[0] > 3  # enough iterations reported for the comparison to mean something
    assert printed[0] == printed[1] == [f"Iteration {i}" for i in range(1, stretch_lengths[0])]


def test_a_stretch_logs_each_iteration_to_a_listener_and_builds_no_record_without_one(monkeypatch):
    """Without ``verbose``, the iteration records reach a DEBUG handler, as on the general path; unheard, none is made."""
    import logging

    from gaussmix.engine import driver

    X = blobs(seed=6)
    logger = logging.getLogger("gaussmix")
    seen, reported = [], []

    class Handler(logging.Handler):
        def emit(self, record):
            if hasattr(record, "gaussmix_iteration"):
                seen.append(record.gaussmix_iteration[0])

    original = driver.report_iteration
    monkeypatch.setattr(driver, "report_iteration", lambda *a: reported.append(a[0]) or original(*a))
    for table in (stretch.M_STEPS, {}):
        handler, level = Handler(logging.DEBUG), logger.level
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
        try:
            with monkeypatch.context() as m:
                m.setattr(stretch, "M_STEPS", table)
                gm = GaussianMixture(3, covariance_type="VVV", random_state=0).fit(X)
        finally:
            logger.removeHandler(handler)
            logger.setLevel(level)
        assert gm.n_iter_ > 3 and seen == list(range(1, gm.n_iter_ + 1))
        seen.clear()
    reported.clear()
    gm = GaussianMixture(3, covariance_type="VVV", random_state=0).fit(X)
    assert gm.n_iter_ > 3 and reported == []  # the stretch's replay: no listener, no records


@pytest.mark.parametrize("code, dtype", [(code, np.float64) for code in MODELS]
                         # float32: one model of each family of compiled loops (closed form, eigen, orientation)
                         + [(code, np.float32) for code in ("VVV", "VEV", "EVE")])
def test_a_fit_scores_its_own_rows_as_criteria_does(code, dtype):
    """``scoring_fits``: the sums of the stretch's last pass are ``criteria``'s, at the fitted parameters."""
    from gaussmix.estimators import scoring_fits

    X = blobs(seed=2).astype(dtype)
    with scoring_fits() as scores:
        gm = GaussianMixture(3, covariance_type=code, random_state=0, tol=1e-8).fit(X)
    crit = gm.criteria(X)
    assert len(scores) == 1 and scores[0] is not None
    np.testing.assert_allclose(scores[0][:3], (crit.log_likelihood, crit.log_map, crit.n_samples), rtol=1e-12)
    assert scores[0].responsibilities is None  # not asked for


@pytest.mark.parametrize("code, dtype", [(code, np.float64) for code in MODELS]
                         + [(code, np.float32) for code in ("VVV", "VEV", "EVE")])
def test_a_fit_gives_its_rows_responsibilities_as_predict_proba_does(code, dtype):
    """``scoring_fits(responsibilities=True)``: the last pass's responsibilities are ``predict_proba``'s."""
    from gaussmix.estimators import scoring_fits

    X = blobs(seed=4).astype(dtype)
    w = np.random.default_rng(1).uniform(0.0, 2.0, len(X))
    with scoring_fits(responsibilities=True) as scores:
        gm = GaussianMixture(3, covariance_type=code, random_state=0).fit(X)
        weighted = GaussianMixture(3, covariance_type=code, random_state=0).fit(X, sample_weight=w)
    # float32 rows: predict_proba's E-step runs in float32, the last pass's in float64.
    tol = dict(rtol=1e-12, atol=1e-300) if dtype == np.float64 else dict(rtol=0, atol=1e-6)
    for record, fitted in zip(scores, (gm, weighted)):
        assert record.responsibilities.shape == (len(X), 3)
        np.testing.assert_allclose(record.responsibilities, fitted.predict_proba(X), **tol)


def test_a_fit_scores_none_where_its_last_update_was_not_compiled(monkeypatch):
    """A fit that went on on the general path, or that never ran compiled, records None; outside the context, nothing."""
    from gaussmix.estimators import scoring_fits

    X = blobs(seed=2)
    with scoring_fits() as scores:
        GaussianMixture(3, covariance_type="VVV", random_state=0, max_iter=0).fit(X)
        with monkeypatch.context() as m:
            m.setattr(stretch, "MAX_STRETCH", 2)  # two compiled iterations, then the general path
            gm = GaussianMixture(3, covariance_type="VVV", random_state=0, tol=1e-10).fit(X)
        holed = X.copy()
        holed[0, 0] = np.nan
        GaussianMixture(3, covariance_type="VVV", random_state=0, nan_policy="marginalize").fit(holed)
        GaussianMixture(3, covariance_type="VVV", random_state=0).fit(X)
    assert gm.n_iter_ > 2
    assert scores[:3] == [None, None, None] and scores[3] is not None
    assert scores[3].responsibilities is None
    GaussianMixture(3, covariance_type="VVV", random_state=0).fit(X)
    assert len(scores) == 4


@pytest.mark.parametrize("scatter_scale", [1.0, 1e-12])
@pytest.mark.parametrize("code", sorted(stretch.FROM_STATISTICS_ALONE))
def test_a_start_made_compiled_is_the_python_m_step(monkeypatch, code, scatter_scale):
    """``compiled_m_step``: a start from statistics alone, compiled, is the updater's own M-step to rounding."""
    from gaussmix.engine.passes import accumulate
    from gaussmix.models import get_model
    from gaussmix.updaters import MaximumLikelihood

    d = 1 if len(code) == 1 else 3
    X = blobs(seed=5)[:, :d] * scatter_scale
    resp = np.random.default_rng(2).dirichlet(np.ones(3), size=len(X))
    model, _ = get_model(code)
    updater = MaximumLikelihood(model, 1e-6 * scatter_scale)
    stats = accumulate(X, resp, None, kind=updater.scatter)
    made = []
    real = stretch.compiled_m_step
    with monkeypatch.context() as m:
        m.setattr(stretch, "compiled_m_step", lambda *args: made.append(real(*args)) or made[-1])
        compiled_state = updater.update(stats).state
    assert made and made[0] is compiled_state  # the updater took the compiled M-step
    monkeypatch.setattr(stretch, "M_STEPS", {})  # switches the compiled path off
    assert stretch.compiled_m_step(code, updater.reg_covar, stats, model.structure, updater.scatter) is None
    python_state = updater.update(stats).state
    for name in ("weights", "means", "covariances", "precisions_cholesky"):
        np.testing.assert_allclose(getattr(compiled_state, name), getattr(python_state, name), rtol=1e-10,
                                   atol=0, err_msg=name)


def test_a_start_the_compiled_m_step_cannot_make_is_the_updater_s():
    """An empty component, an iterative model or a singular covariance: None, and the updater's policy."""
    from gaussmix.engine.passes import accumulate
    from gaussmix.exceptions import DegenerateCovarianceError
    from gaussmix.models import get_model
    from gaussmix.updaters import MaximumLikelihood

    X = blobs(seed=5)
    resp = np.zeros((len(X), 3))
    resp[:, :2] = np.random.default_rng(2).dirichlet(np.ones(2), size=len(X))
    model, _ = get_model("VVV")
    stats = accumulate(X, resp, None, kind="full")
    assert stretch.compiled_m_step("VVV", 1e-6, stats, "full", "full") is None  # an empty component
    full = accumulate(X, np.random.default_rng(2).dirichlet(np.ones(3), size=len(X)), None, kind="full")
    assert stretch.compiled_m_step("VEV", 1e-6, full, "full", "full") is None  # reads previous covariances
    flat = X.copy()
    flat[:, 2] = 1.0  # a constant feature: singular without reg_covar
    singular = accumulate(flat, np.random.default_rng(2).dirichlet(np.ones(3), size=len(X)), None, kind="full")
    assert stretch.compiled_m_step("VVV", 0.0, singular, "full", "full") is None
    with pytest.raises(DegenerateCovarianceError):
        MaximumLikelihood(model, 0.0).update(singular)
    overflowed = accumulate(X * 1e160, np.random.default_rng(2).dirichlet(np.ones(3), size=len(X)), None, kind="full")
    assert not np.isfinite(overflowed.scatter).all()
    for code in ("EVV", "EEV", "VVV"):  # compiled LAPACK would raise its own error
        assert stretch.compiled_m_step(code, 1e-6, overflowed, "full", "full") is None
    with pytest.raises(DegenerateCovarianceError):
        MaximumLikelihood(get_model("EVV")[0], 1e-6).update(overflowed)


def test_a_start_beyond_the_row_kernel_is_the_updater_s():
    """Shapes the stretch never takes (many features) start on the updater's own M-step."""
    from gaussmix.engine.kernels import rows
    from gaussmix.engine.passes import accumulate

    d = rows.ROW_KERNEL_MAX_D_MATRIX + 1
    X = np.random.default_rng(3).normal(size=(200, d))
    stats = accumulate(X, np.random.default_rng(2).dirichlet(np.ones(3), size=len(X)), None, kind="full")
    assert stretch.compiled_m_step("VVV", 1e-6, stats, "full", "full") is None
    small = accumulate(X[:, :3], np.random.default_rng(2).dirichlet(np.ones(3), size=len(X)), None, kind="full")
    assert stretch.compiled_m_step("VVV", 1e-6, small, "full", "full") is not None
