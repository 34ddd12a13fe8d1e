"""The model registry, and each model's constraints on real fitted covariances."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.mixture import GaussianMixture as SKGaussianMixture

from gaussmix import GaussianMixture, available_models
from gaussmix.models import get_model, sklearn_names

from .helpers import assert_obeys_model, decompose


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


@pytest.mark.parametrize("code", available_models(n_features=4))
def test_fitted_covariances_obey_the_model(code):
    X = load_iris().data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm = GaussianMixture(3, covariance_type=code, reg_covar=0.0, random_state=1).fit(X)
    cov = gm.covariances_
    assert_obeys_model(code, cov)
    volume, shape, _ = decompose(cov)
    vol, shp, _ = code
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


def mclust_n_var_params(code, d, G):
    """mclust's nVarParams (R/mclust.R), restated."""
    return {
        "E": 1, "V": G, "EII": 1, "VII": G, "EEI": d, "VEI": G + (d - 1),
        "EVI": 1 + G * (d - 1), "VVI": G * d, "EEE": d * (d + 1) // 2,
        "EVE": 1 + G * (d - 1) + d * (d - 1) // 2,
        "VEE": G + (d - 1) + d * (d - 1) // 2,
        "VVE": G + G * (d - 1) + d * (d - 1) // 2,
        "EEV": 1 + (d - 1) + G * d * (d - 1) // 2,
        "VEV": G + (d - 1) + G * d * (d - 1) // 2,
        "EVV": 1 - G + G * d * (d + 1) // 2,
        "VVV": G * d * (d + 1) // 2,
    }[code]


@pytest.mark.parametrize("code", available_models())
def test_parameter_counts_are_mclusts(code):
    for d in ([1] if get_model(code)[0].univariate else [1, 2, 5]):
        for G in (1, 3, 7):
            expected = mclust_n_var_params(code, d, G) + G * d + G - 1
            assert get_model(code)[0].n_parameters(G, d) == expected


@pytest.mark.parametrize("code", available_models(n_features=4))
def test_criteria_at_one_component_are_the_closed_form(code):
    from scipy.stats import multivariate_normal

    X = load_iris().data
    n, d = X.shape
    S = np.cov(X.T, bias=True)
    # At K = 1 every model is a single Gaussian of its family.
    if code.endswith("II"):
        cov, p = np.eye(d) * np.trace(S) / d, 1
    elif code.endswith("I"):
        cov, p = np.diag(np.diag(S)), d
    else:
        cov, p = S, d * (d + 1) // 2
    loglik = multivariate_normal(X.mean(0), cov).logpdf(X).sum()
    gm = GaussianMixture(1, covariance_type=code, reg_covar=0.0).fit(X)
    assert gm.bic(X) == pytest.approx(-2 * loglik + (p + d) * np.log(n), rel=1e-10)
    assert gm.aic(X) == pytest.approx(-2 * loglik + 2 * (p + d), rel=1e-10)
    assert gm.icl(X) == pytest.approx(gm.bic(X), rel=1e-12)  # no uncertainty with K = 1


ITERATIVE = ["VEI", "VEE", "EVE", "VVE", "VEV"]


@pytest.mark.parametrize("code", ITERATIVE)
def test_iterative_m_steps_are_monotone(code, monkeypatch):
    """Every inner update lowers the M-step objective, from any start."""
    from gaussmix.engine.passes import accumulate
    from gaussmix.models import diagonal, ellipsoidal, iterative

    X = load_iris().data
    resp = np.random.default_rng(0).dirichlet(np.ones(3), size=150)
    stats = accumulate(X, resp, kind=get_model(code)[0].scatter)
    seen = []
    def recorded(compiled):  # every iterative M-step now iterates in compiled code
        return lambda *args, **kwargs: compiled(*args, **kwargs, trace=seen)

    compiled = {name: recorded(getattr(iterative, name))
                for name in ("volumes_and_common_shape", "volumes_and_common_matrix", "common_orientation")}
    for module in (iterative, ellipsoidal, diagonal):
        for name, function in compiled.items():
            monkeypatch.setattr(module, name, function, raising=False)
    get_model(code)[0].covariance_m_step(stats)
    assert len(seen) >= 3
    steps = np.diff(seen)
    assert np.all(steps <= 1e-10 * np.abs(seen[1:]))
    assert steps.sum() < 0  # the start was not already optimal: the loop did work


def test_hc_start_of_the_estimator_equals_selects_cell():
    from gaussmix import select

    X = load_iris().data
    r = select(X, n_components=[3], covariance_types=["VEV"])
    gm = GaussianMixture(3, covariance_type="VEV", init_params="hc", reg_covar=0.0,
                         tol=r.best_.tol).fit(X)
    np.testing.assert_allclose(gm.means_, r.best_.means_, rtol=1e-10)
    assert gm.bic(X) == pytest.approx(r.bic_[0, 0], rel=1e-12)


@pytest.mark.parametrize("code", ITERATIVE)
def test_an_inner_loop_that_never_settles_warns(code, monkeypatch):
    from sklearn.exceptions import ConvergenceWarning

    from gaussmix.models import iterative

    monkeypatch.setattr(iterative, "INNER_MAX_ITER", 1)
    monkeypatch.setattr(iterative, "INNER_TOL", 0.0)
    X = load_iris().data
    resp = np.random.default_rng(0).dirichlet(np.ones(3), size=150)
    from gaussmix.engine.passes import accumulate

    with pytest.warns(ConvergenceWarning, match="inner iterations"):
        get_model(code)[0].covariance_m_step(accumulate(X, resp, kind=get_model(code)[0].scatter))


def _pair_sweep_reference(D, W, kind, weight):
    """One profiled sweep in plain NumPy, pair by pair, as ``iterative.common_orientation`` describes it."""
    from gaussmix.models import iterative, sweeps

    D = D.copy()
    M = np.einsum("ji,kjl,lm->kim", D, W, D)
    p = D.shape[1]

    def profile(B_a_times_b, rest):
        if kind == sweeps.WEIGHTED_LOG:
            return np.sum(weight * np.log(B_a_times_b), axis=-1)
        return np.log(np.sum(rest * B_a_times_b ** (1.0 / p), axis=-1))

    for a in range(p - 1):
        for b in range(a + 1, p):
            P, Q, R = (M[:, a, a] + M[:, b, b]) / 2, (M[:, a, a] - M[:, b, b]) / 2, M[:, a, b]
            others = [j for j in range(p) if j not in (a, b)]
            rest = np.exp(np.log(M[:, others, others]).sum(axis=1) / p)

            def at(phi):
                u = np.cos(phi)[:, None] * Q + np.sin(phi)[:, None] * R
                return profile((P + u) * (P - u), rest)

            wells = np.mod(np.arctan2(R, Q) + np.pi / 2, np.pi) - np.pi / 2
            candidates = np.concatenate([iterative.PAIR_ANGLES, wells])
            values = at(candidates)
            phi, step = candidates[np.argmin(values)], iterative.PAIR_ANGLES[1] - iterative.PAIR_ANGLES[0]
            for _ in range(iterative.PAIR_REFINEMENTS):
                finer = phi + step * iterative.PAIR_ZOOM
                values = at(finer)
                phi, value, step = finer[np.argmin(values)], values.min(), 2 * step / iterative.PAIR_GRID
            if not value < profile(M[:, a, a] * M[:, b, b], rest):
                continue
            c, s = np.cos(phi / 2), np.sin(phi / 2)
            G = np.array([[c, -s], [s, c]])
            D[:, [a, b]] = D[:, [a, b]] @ G
            M = np.einsum("ji,kjl,lm->kim", D, W, D)
    return D


@pytest.mark.parametrize("kind", [0, 1])
def test_compiled_profiled_sweep_equals_numpy_reference(kind):
    """The compiled pair sweep of EVE (ROOT_SUM) and VVE (WEIGHTED_LOG) against plain NumPy."""
    from gaussmix.models import iterative, sweeps

    rng = np.random.default_rng(kind)
    d, K = 5, 3
    A = rng.normal(size=(K, d + 2, d))
    W = np.einsum("kij,kil->kjl", A, A)
    W[0] += 1e-9 * np.eye(d) - np.outer(W[0, 0], W[0, 0]) / W[0, 0, 0]  # nearly flat: a deep well
    W[0] = (W[0] + W[0].T) / 2 + 1e-6 * np.eye(d)
    weight = np.array([4.0, 7.0, 5.0])
    D = np.linalg.qr(rng.normal(size=(d, d)))[0]
    expected = _pair_sweep_reference(D, W, kind, weight)
    got = D.copy()
    assert sweeps.profiled_pair_sweep(got, W, kind, weight, iterative.PAIR_ANGLES, iterative.PAIR_ZOOM,
                                     iterative.PAIR_REFINEMENTS)
    assert not np.allclose(got, D)  # the sweep turned something
    np.testing.assert_allclose(got, expected, atol=1e-9)
    np.testing.assert_allclose(got.T @ got, np.eye(d), atol=1e-12)


def test_profiled_sweep_refuses_a_singular_scatter():
    from gaussmix.exceptions import DegenerateCovarianceError
    from gaussmix.engine.stats import SuffStats
    from gaussmix.models import iterative, sweeps

    W = np.stack([np.eye(3), np.diag([1.0, 1.0, 0.0])])  # flat along the third axis
    assert not sweeps.profiled_pair_sweep(np.eye(3), W, sweeps.WEIGHTED_LOG, np.ones(2), iterative.PAIR_ANGLES,
                                          iterative.PAIR_ZOOM, iterative.PAIR_REFINEMENTS)
    stats = SuffStats(np.array([10.0, 10.0]), np.zeros((2, 3)), W * 10)
    with pytest.raises(DegenerateCovarianceError, match="VVE"):
        get_model("VVE")[0].covariance_m_step(stats)


def _vee_reference(stats, previous=None):
    """VEE's M-step as plain NumPy alternation (Celeux & Govaert's [lambda_k C])."""
    W, d = stats.scatter, stats.means.shape[1]
    n = stats.nk + 10 * np.finfo(float).eps
    volume = (np.exp(np.linalg.slogdet(previous)[1] / d) if previous is not None
              else np.trace(W, axis1=1, axis2=2) / (d * n))

    def shape_and_objective(volume):
        M = (W / volume[:, None, None]).sum(axis=0)
        C = M / np.linalg.det(M) ** (1 / d)
        traces = np.trace(np.linalg.solve(C, W), axis1=1, axis2=2)
        return C, traces, np.sum(stats.nk * d * np.log(volume) + traces / volume)

    C, traces, current = shape_and_objective(volume)
    for _ in range(10_000):
        volume = traces / (d * n)
        C, traces, new = shape_and_objective(volume)
        if abs(current - new) <= np.sqrt(np.finfo(float).eps) * (1 + abs(new)):
            break
        current = new
    return volume[:, None, None] * C


@pytest.mark.parametrize("warm", [False, True])
def test_compiled_vee_equals_a_plain_alternation(warm):
    from gaussmix.engine.passes import accumulate

    X = load_iris().data
    resp = np.random.default_rng(1).dirichlet(np.ones(3), size=150)
    stats = accumulate(X, resp)
    previous = get_model("VVV")[0].covariance_m_step(stats) if warm else None
    got = get_model("VEE")[0].covariance_m_step(stats, previous=previous)
    np.testing.assert_allclose(got, _vee_reference(stats, previous), rtol=1e-7)
    shapes = got / np.linalg.det(got)[:, None, None] ** (1 / 4)  # one shape and orientation
    np.testing.assert_allclose(shapes, shapes[[0, 0, 0]], rtol=1e-12, atol=1e-12)


def _best_start_reference(Wa, previous, kind, weight):
    """The start rule in NumPy: eigenvectors of the previous, pooled and own scatters, nanargmin of the profile."""
    from gaussmix.models import sweeps

    starts = [np.linalg.eigh(Wa.sum(axis=0))[1][None], np.linalg.eigh(Wa)[1]]
    if previous is not None:
        starts.insert(0, np.linalg.eigh(previous)[1][None])
    starts = np.concatenate(starts)
    B = np.einsum("sji,kjl,sli->ski", starts, Wa, starts)
    with np.errstate(divide="ignore", invalid="ignore"):
        if kind == sweeps.WEIGHTED_LOG:
            scores = (np.log(B).sum(axis=-1) * weight).sum(axis=-1)
        else:
            scores = np.log(np.exp(np.log(B).mean(axis=-1)).sum(axis=-1))
    return starts[int(np.nanargmin(scores))] if np.isfinite(scores).any() else starts[0]


@pytest.mark.parametrize("kind", [0, 1])
@pytest.mark.parametrize("case", ["plain", "previous", "flat", "negative"])
def test_best_start_follows_the_numpy_rule(kind, case):
    """The compiled start: the same candidate as NumPy's nanargmin, -inf counting and NaN not."""
    from gaussmix.models import sweeps

    rng = np.random.default_rng(kind)
    d, K = 4, 3
    A = rng.normal(size=(K, d + 3, d))
    Wa = np.einsum("kij,kil->kjl", A, A)
    previous = None
    if case == "previous":
        previous = Wa[1] + np.diag([5.0, 1.0, 0.5, 0.1])
    elif case == "flat":  # one component exactly flat along an axis: its own start is a -inf well
        Wa[2] = np.diag([3.0, 2.0, 1.0, 0.0])
    elif case == "negative":  # a scatter below zero along an axis: NaN scores for some starts
        Wa[2] = np.diag([3.0, 2.0, 1.0, -1e-3])
    weight = np.array([5.0, 7.0, 4.0])
    got = sweeps.best_start(Wa, np.zeros((0, 0)) if previous is None else previous, kind, weight)
    expected = _best_start_reference(Wa, previous, kind, weight)
    # Eigenvectors are defined up to sign: compare the projections.
    np.testing.assert_allclose(np.abs(got.T @ expected), np.eye(d), atol=1e-8)
