"""The noise component: mclust's outputs, independent densities, the invariants, bad input.

The fixtures in tests/fixtures/mclust_noise come from mclust 6.0 and prabclus
(generate.R there): Old Faithful plus 100 uniform points, a simulated set
with 10% uniform outliers, and iris plus 20 uniform outliers, each with
NNclean's first guess of the noise.
"""

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.special import logsumexp

from gaussmix import GaussianMixture, ModelFileError, select
from gaussmix.engine import kernels
from gaussmix.outliers import hypervolume, nearest_neighbour_noise
from gaussmix.structures import STRUCTURES
from gaussmix.updaters.ml import estep_inputs
from gaussmix.updaters.noise import with_noise_column

from .helpers import kernel_namespace, random_params

FIXTURES = Path(__file__).parent / "fixtures" / "mclust_noise"
SETS = ["faithful_noise", "sim_outliers", "iris_outliers"]


def load_set(name):
    frame = pd.read_csv(FIXTURES / f"{name}-data.csv")
    X = frame.drop(columns=[c for c in ("noise_init", "true_noise", "true_class") if c in frame]).to_numpy()
    return X, frame["noise_init"].to_numpy().astype(bool), frame


def mclust(name, what):
    return json.loads((FIXTURES / f"{name}-{what}.json").read_text())


# ------------------------------------------------------------------ the start
def test_hypervolume_is_mclusts_hypvol():
    table = pd.read_csv(FIXTURES / "hypvol.csv").set_index("name")
    data = {name: load_set(name)[0] for name in SETS}
    data["faithful"] = pd.read_csv(FIXTURES / "faithful_noise-data.csv").iloc[:272, :2].to_numpy()
    shared = Path(__file__).resolve().parents[2] / "shared" / "data"
    if (shared / "mclust_acidity.csv").exists():
        data["acidity"] = pd.read_csv(shared / "mclust_acidity.csv").to_numpy()
        data["diabetes"] = pd.read_csv(shared / "mclust_diabetes.csv").iloc[:, 1:].to_numpy()
    from sklearn.datasets import load_iris

    data["iris"] = load_iris().data
    for name, X in data.items():
        assert hypervolume(X) == pytest.approx(table.loc[name, "hypvol"], rel=1e-10), name


@pytest.mark.parametrize("name", SETS)
def test_knn_rule_is_nncleans(name):
    X, noise, _ = load_set(name)
    np.testing.assert_array_equal(nearest_neighbour_noise(X, 5), noise)
    gm = GaussianMixture(2, noise_init="knn", max_iter=0).fit(X)
    # The start's noise weight is the share of rows the rule deems noise.
    assert gm.noise_weight_ == pytest.approx(noise.mean())


# ------------------------------------------------------- EM from mclust's start
def fixed_start_cases():
    for name in SETS:
        for cell, fit in mclust(name, "me")["fits"].items():
            if fit.get("loglik") is not None:
                yield pytest.param(name, cell, id=f"{name}-{cell}")


@pytest.mark.parametrize("name, cell", list(fixed_start_cases()))
def test_em_from_mclusts_start_equals_me(name, cell):
    """From mclust's own starting z, ``me()``'s iterations, to rounding.

    mclust's ``me`` ends with an E-step: after its n iterations the
    parameters are those of n M-steps, which our EM reaches after n - 1
    iterations from the same responsibilities. VEV and VVE iterate inside
    their M-step, from different inner starts, so there only the
    log-likelihood and BIC agree, to what their inner tolerances allow.
    """
    X, _, _ = load_set(name)
    me = mclust(name, "me")
    fit = me["fits"][cell]
    model, K = fit["modelName"], fit["G"]
    z0 = pd.read_csv(FIXTURES / f"{name}-z0-{model}-{K}.csv").to_numpy()
    noise = z0[:, -1] == 1
    gm = GaussianMixture(K, covariance_type=model, resp_init=z0[:, :-1] + noise[:, None] / K,
                         noise_init=noise, noise_density=me["Vinv"], reg_covar=0, tol=0,
                         max_iter=fit["iterations"] - 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # not converged: we stop where mclust stopped
        gm.fit(X)
    log_likelihood = gm.score(X) * X.shape[0]
    assert -gm.bic(X) == pytest.approx(fit["bic"], abs=0.05)
    if model in ("VEV", "VVE"):
        assert log_likelihood == pytest.approx(fit["loglik"], abs=0.02)
        return
    assert log_likelihood == pytest.approx(fit["loglik"], rel=1e-10)
    np.testing.assert_allclose(np.append(gm.weights_, gm.noise_weight_), fit["pro"], rtol=1e-8)
    # mclust's arrays: mean is d x G and sigma d x d x G.
    np.testing.assert_allclose(gm.means_, np.asarray(fit["mean"]).T, rtol=1e-8)
    np.testing.assert_allclose(gm.covariances_, np.moveaxis(np.asarray(fit["sigma"]), -1, 0), rtol=1e-7)
    z = pd.read_csv(FIXTURES / f"{name}-zme-{model}-{K}.csv").to_numpy()
    np.testing.assert_allclose(gm.predict_proba(X), z, atol=1e-9)
    assert gm.n_parameters() == fit["df"]


@pytest.mark.parametrize("name", SETS)
def test_select_with_noise_chooses_as_mclust(name):
    """The issue's check: the same model and K, BIC within 0.5, the same noise on 98% of rows."""
    X, noise, _ = load_set(name)
    best = mclust(name, "best")
    table = pd.read_csv(FIXTURES / f"{name}-bic.csv").set_index("G")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = select(X, noise_init=noise, n_jobs=1)
    gm = result.best_
    assert (gm.covariance_type, gm.n_components) == (best["modelName"], best["G"])
    assert -gm.bic(X) == pytest.approx(best["bic"], abs=0.5)
    assert -gm.icl(X) == pytest.approx(best["icl"], abs=0.5)  # the noise's column counts in max_k r_ik
    assert np.mean((gm.predict(X) == -1) == (np.asarray(best["classification"]) == 0)) >= 0.98
    # K = 0, the noise alone, is mclust's G = 0 row.
    np.testing.assert_allclose(-result.bic_[0], table.loc[0, result.covariance_types].to_numpy(), rtol=1e-12)
    assert result.n_parameters_[0, 0] == 1
    i, j = result.n_components.index(best["G"]), result.covariance_types.index(best["modelName"])
    assert result.n_parameters_[i, j] == best["df"]


# ---------------------------------------------------------- the density itself
def test_densities_and_labels_are_the_mixture_with_a_uniform_component():
    X, noise, _ = load_set("sim_outliers")
    gm = GaussianMixture(3, covariance_type="VVV", noise_init=noise, random_state=0).fit(X)
    assert gm.weights_.sum() + gm.noise_weight_ == pytest.approx(1.0, abs=1e-12)
    parts = [np.log(w) + stats.multivariate_normal(m, c).logpdf(X)
             for w, m, c in zip(gm.weights_, gm.means_, gm.covariances_)]
    parts.append(np.full(len(X), np.log(gm.noise_weight_ * gm.noise_density_)))
    parts = np.column_stack(parts)
    expected = logsumexp(parts, axis=1)
    np.testing.assert_allclose(gm.score_samples(X), expected, rtol=1e-10)
    resp = gm.predict_proba(X)
    assert resp.shape == (len(X), 4)
    np.testing.assert_allclose(resp, np.exp(parts - expected[:, None]), atol=1e-12)
    labels = gm.predict(X)
    np.testing.assert_array_equal(labels, np.where(resp.argmax(1) == 3, -1, resp.argmax(1)))
    assert gm.noise_density_ == pytest.approx(1 / hypervolume(X))
    assert gm.bic(X) == pytest.approx(-2 * expected.sum() + (3 * (3 + 2) + (3 - 1) + 2) * np.log(len(X)))


def kernel_cases():
    for kernel in kernels.KERNELS:
        if kernel.available:
            for structure in ("full", "shared", "diag", "spherical"):
                target = "full" if structure == "shared" else structure
                if target in kernel.structures:
                    yield pytest.param(kernel, structure, id=f"{kernel.name}-{structure}")


@pytest.mark.parametrize("kernel, structure", list(kernel_cases()))
def test_every_kernel_computes_the_noise_column(kernel, structure):
    """The noise is a component of zero precision: every kernel must give it its constant."""
    rng = np.random.default_rng(3)
    K, d, n = 3, 4, 90
    params = random_params(rng, structure, K, d, offset=20.0)
    X = params.means[rng.integers(0, K, n)] + rng.normal(size=(n, d)) * 4
    inputs = with_noise_column(estep_inputs(params), 0.0, math.log(1e-4))
    inputs.log_norm[:-1] += math.log(0.8)  # the Gaussians share what the noise leaves
    inputs.log_norm[-1] = math.log(0.2 * 1e-4)
    cov = STRUCTURES[structure].to_full(params.covariances, K, d)
    parts = np.column_stack([np.log(0.8 * w) + stats.multivariate_normal(m, c).logpdf(X)
                             for w, m, c in zip(params.weights, params.means, cov)]
                            + [np.full(n, math.log(0.2e-4))])
    xp, to_kernel, to_numpy = kernel_namespace(kernel)
    ep = inputs.for_chunk(xp, xp.float64)
    log_prob, resp = (to_numpy(a) for a in kernel.e_step(to_kernel(X), ep))
    np.testing.assert_allclose(log_prob, logsumexp(parts, axis=1), rtol=1e-10)
    np.testing.assert_allclose(resp, np.exp(parts - logsumexp(parts, axis=1)[:, None]), atol=1e-10)


def test_pooled_models_leave_the_noise_out_of_the_pooled_scatter():
    """One M-step from given responsibilities, against the formula for EEE."""
    X, noise, _ = load_set("faithful_noise")
    rng = np.random.default_rng(0)
    resp = rng.dirichlet(np.ones(2), size=len(X))
    gm = GaussianMixture(2, covariance_type="EEE", resp_init=resp, noise_init=noise, max_iter=0,
                         reg_covar=0).fit(X)
    r = np.where(noise[:, None], 0.0, resp)
    nk = r.sum(0)
    means = r.T @ X / nk[:, None]
    W = sum((r[:, k, None] * (X - means[k])).T @ (X - means[k]) for k in range(2))
    np.testing.assert_allclose(gm.covariances_[0], W / nk.sum(), rtol=1e-12)
    np.testing.assert_allclose(gm.weights_, nk / len(X), rtol=1e-12)
    assert gm.noise_weight_ == pytest.approx(noise.mean())


# -------------------------------------------------------------------- invariants
@st.composite
def noisy_data(draw):
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    d = draw(st.integers(1, 3))
    n_per = draw(st.integers(15, 60))
    K = draw(st.integers(1, 3))
    centres = rng.normal(size=(K, d)) * 6
    X = np.vstack([c + rng.normal(size=(n_per, d)) for c in centres])
    low, high = X.min(0) - 3, X.max(0) + 3
    outliers = rng.uniform(low, high, size=(draw(st.integers(2, 20)), d))
    return np.vstack([X, outliers]), K, seed


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=noisy_data(), model=st.sampled_from(["full", "tied", "diag", "spherical", "EEE", "VEV", "EVE"]),
       weighted=st.booleans())
def test_noise_log_likelihood_never_falls_with_reg_covar_zero(data, model, weighted):
    X, K, seed = data
    w = np.random.default_rng(seed).uniform(0.2, 3, size=len(X)) if weighted else None
    gm = GaussianMixture(K, covariance_type=model, noise_init="knn", reg_covar=0, tol=1e-8,
                         max_iter=60, random_state=seed)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gm.fit(X, sample_weight=w)
    except ValueError:
        return  # a degenerate start or component: reported, not a trace to check
    trace = np.asarray(gm.lower_bounds_)
    scale = 1 + np.abs(trace).max()
    assert np.all(np.diff(trace) >= -1e-9 * scale)
    resp = gm.predict_proba(X)
    np.testing.assert_allclose(resp.sum(1), 1.0, rtol=1e-12)
    assert np.all(np.isfinite(gm.means_)) and 0 <= gm.noise_weight_ <= 1
    assert gm.weights_.sum() + gm.noise_weight_ == pytest.approx(1.0, abs=1e-12)


def test_scaling_every_weight_changes_nothing():
    X, noise, _ = load_set("sim_outliers")
    w = np.random.default_rng(1).uniform(0.5, 2, size=len(X))
    fits = [GaussianMixture(3, noise_init=noise, random_state=0).fit(X, sample_weight=w * c) for c in (1, 1e6)]
    np.testing.assert_allclose(fits[0].means_, fits[1].means_, rtol=1e-9)
    assert fits[0].noise_weight_ == pytest.approx(fits[1].noise_weight_, rel=1e-9)


def test_noise_with_a_prior_and_every_start():
    X, noise, _ = load_set("faithful_noise")
    for init in ("kmeans", "k-means++", "random", "random_from_data", "hc"):
        gm = GaussianMixture(2, init_params=init, noise_init=noise, random_state=0).fit(X)
        assert gm.weights_.sum() + gm.noise_weight_ == pytest.approx(1.0)
    gm = GaussianMixture(2, covariance_type="VVV", prior="default", noise_init=noise, random_state=0).fit(X)
    assert np.isfinite(gm.bic(X)) and 0 < gm.noise_weight_ < 0.5
    given = GaussianMixture(2, weights_init=[0.5, 0.5], means_init=gm.means_, precisions_init=gm.precisions_,
                            noise_init=noise, max_iter=0).fit(X)
    np.testing.assert_allclose(given.weights_, (1 - noise.mean()) / 2)


def test_save_and_load_keep_the_noise(tmp_path):
    X, noise, _ = load_set("faithful_noise")
    gm = GaussianMixture(2, covariance_type="tied", noise_init=noise, random_state=0).fit(X)
    path = tmp_path / "noise.gmm"
    gm.save(path)
    back = GaussianMixture.load(path)
    assert back.noise_weight_ == gm.noise_weight_ and back.noise_density_ == gm.noise_density_
    np.testing.assert_array_equal(back.predict(X), gm.predict(X))
    np.testing.assert_allclose(back.score_samples(X), gm.score_samples(X), rtol=1e-14)


def test_a_tampered_noise_weight_is_refused(tmp_path):
    from gaussmix.io.models import read_model, write_model
    from gaussmix.estimators.files import OPTIONAL_ARRAYS
    from gaussmix.io.models import ARRAYS

    X, noise, _ = load_set("faithful_noise")
    path = tmp_path / "noise.gmm"
    GaussianMixture(2, noise_init=noise, random_state=0).fit(X).save(path)
    meta, arrays = read_model(path, ARRAYS, optional=OPTIONAL_ARRAYS)
    for weight, message in ((0.9, "mixing weights"), (np.nan, "noise_weight")):
        arrays["noise_weight"] = np.array([weight])
        write_model(path, meta, arrays)
        with pytest.raises(ModelFileError, match=message):
            GaussianMixture.load(path)
    del arrays["noise_weight"]
    write_model(path, meta, arrays)
    with pytest.raises(ModelFileError, match="noise"):
        GaussianMixture.load(path)


# ------------------------------------------------------------------- bad input
def test_bad_noise_arguments_say_what_to_do(tmp_path):
    X, noise, _ = load_set("faithful_noise")
    with pytest.raises(ValueError, match="noise_init is None"):
        GaussianMixture(2, noise_density=0.1).fit(X)
    with pytest.raises(ValueError, match="one value per row"):
        GaussianMixture(2, noise_init=noise[:-1]).fit(X)
    with pytest.raises(ValueError, match="one value per row"):
        GaussianMixture(2, noise_init=np.where(noise, 2, 0)).fit(X)
    with pytest.raises(ValueError, match="fewer than n_components"):
        GaussianMixture(2, noise_init=np.arange(len(X)) > 0).fit(X)
    with pytest.raises(ValueError, match="noise_density"):
        GaussianMixture(2, noise_density=-1.0, noise_init=noise).fit(X)
    holes = X.copy()
    holes[0, 0] = np.nan
    with pytest.raises(ValueError, match="nan_policy='omit'"):
        GaussianMixture(2, noise_init=noise).fit(holes)
    fitted = GaussianMixture(2, noise_init=noise, random_state=0).fit(X)
    with pytest.raises(ValueError, match="nan_policy='omit'"):
        fitted.predict(holes)
    with pytest.raises(ValueError, match="batch EM"):
        GaussianMixture(2, noise_init=noise).partial_fit(X)
    with pytest.raises(ValueError, match="batch EM"):
        GaussianMixture(2, noise_init=noise, learning_method="online").fit(X)
    np.save(tmp_path / "X.npy", X)
    with pytest.raises(ValueError, match="in memory"):
        GaussianMixture(2, noise_init=noise).fit(tmp_path / "X.npy")
    with pytest.raises(ValueError, match="no volume"):
        GaussianMixture(1, noise_init="knn").fit(np.column_stack([X[:, 0], np.ones(len(X))]))
    with pytest.raises(ValueError, match="noise_init is None"):
        select(X, noise_density=0.1)
    for density in (-1.0, 0.0, np.inf, "0.1", True):  # checked by select itself: its cells skip it
        with pytest.raises(ValueError, match="noise_density must be a positive finite number"):
            select(X, n_components=[1], covariance_types=["VVV"], noise_init=noise, noise_density=density)


# ------------------------------------------------------------ CLI and figures
def test_cli_fits_predicts_and_selects_with_noise(tmp_path):
    from .test_cli import run, valid_png

    X, noise, frame = load_set("faithful_noise")
    frame[["eruptions", "waiting"]].to_csv(tmp_path / "data.csv", index=False)
    run(["fit", "data.csv", "-k", "2", "--noise", "knn", "--plot", "fit.png", "-q"], tmp_path)
    valid_png(tmp_path / "fit.png")
    run(["predict", "model.gmm", "data.csv", "-o", "pred.csv"], tmp_path)
    pred = pd.read_csv(tmp_path / "pred.csv")
    assert list(pred.columns) == ["label", "prob_0", "prob_1", "prob_noise", "log_density"]
    gm = GaussianMixture.load(tmp_path / "model.gmm")
    np.testing.assert_array_equal(pred["label"], gm.predict(frame[["eruptions", "waiting"]]))
    assert set(pred["label"]) == {-1, 0, 1}
    out = run(["select", "data.csv", "--noise", "knn", "-k", "0-3", "-c", "VVV", "-c", "EEE", "-j", "1",
               "--json", "-o", "best.gmm"], tmp_path)
    summary = json.loads(out.stdout)
    assert summary["best"]["noise_weight"] > 0.1
    assert {cell["n_components"] for cell in summary["cells"]} == {0, 1, 2, 3}
    bad = run(["fit", "data.csv", "--noise", "sometimes"], tmp_path, ok=False)
    assert bad.returncode != 0 and "choose none or knn" in bad.stderr


def test_cluster_figure_draws_noise_rows_apart():
    pytest.importorskip("matplotlib")
    from gaussmix.plotting import plot_clusters, plot_uncertainty

    X, noise, _ = load_set("iris_outliers")
    gm = GaussianMixture(2, covariance_type="VEV", noise_init=noise, random_state=0).fit(X)
    for soft in (False, True):
        ax = plot_clusters(gm, X, soft=soft).axes[0]
        crosses = [c for c in ax.collections if len(c.get_offsets()) == np.count_nonzero(gm.predict(X) == -1)]
        assert crosses, "the noise rows are drawn as their own collection"
        assert "noise" in ax.get_legend().get_texts()[0].get_text()
    plot_uncertainty(gm, X)


# ------------------------------------------------------------- review findings
def test_wide_data_keep_the_noise_density_as_a_logarithm():
    rng = np.random.default_rng(0)
    for scale in (100.0, 1e-6):
        X = rng.normal(size=(300, 120)) * scale
        gm = GaussianMixture(2, covariance_type="diag", noise_init="knn", random_state=0).fit(X)
        from gaussmix.outliers import log_hypervolume

        assert gm.noise_log_density_ == pytest.approx(-log_hypervolume(X))
        assert gm.noise_density_ in (0.0, np.inf)  # the density itself: past a float's range
        assert np.isfinite(gm.score(X)) and 0 <= gm.noise_weight_ <= 1


def test_a_large_noise_mask_is_saved_beside_the_parameters(tmp_path):
    n = 200_000
    X = np.random.default_rng(0).normal(size=(n, 1))
    mask = np.zeros(n, dtype=bool)
    mask[:100] = True
    gm = GaussianMixture(1, covariance_type="V", noise_init=mask, max_iter=3).fit(X)
    gm.save(tmp_path / "big.gmm")
    back = GaussianMixture.load(tmp_path / "big.gmm")
    np.testing.assert_array_equal(back.noise_init, mask)
    assert back.noise_weight_ == gm.noise_weight_ and back.noise_log_density_ == gm.noise_log_density_


def test_warm_start_refits_and_stale_noise_attributes():
    X, noise, _ = load_set("sim_outliers")
    plain = GaussianMixture(3, warm_start=True, random_state=0).fit(X)
    with pytest.raises(ValueError, match="cannot add one"):
        plain.set_params(noise_init=noise).fit(X)
    noisy = GaussianMixture(3, noise_init=noise, random_state=0).fit(X)
    assert hasattr(noisy, "noise_weight_")
    noisy.set_params(noise_init=None, warm_start=True).fit(X)
    assert not hasattr(noisy, "noise_weight_") and not hasattr(noisy, "noise_density_")
    assert noisy.weights_.sum() == pytest.approx(1.0)


def test_omit_keeps_the_mask_aligned_with_the_rows_given():
    X, noise, _ = load_set("sim_outliers")
    holes = X.copy()
    holes[[3, int(np.flatnonzero(noise)[0])], 0] = np.nan
    kept = ~np.isnan(holes).any(axis=1)
    a = GaussianMixture(3, noise_init=noise, nan_policy="omit", random_state=0).fit(holes)
    b = GaussianMixture(3, noise_init=noise[kept], random_state=0).fit(X[kept])
    np.testing.assert_allclose(a.means_, b.means_)
    assert a.noise_weight_ == b.noise_weight_
    only_holes = np.zeros(len(X), dtype=bool)
    only_holes[3] = True  # the one row deemed noise holds a NaN
    for fit in (lambda: GaussianMixture(3, noise_init=only_holes, nan_policy="omit").fit(holes),
                lambda: select(holes, n_components=[2], covariance_types=["VVV"], noise_init=only_holes,
                               nan_policy="omit")):
        with pytest.raises(ValueError, match="of the rows without NaN, no row noise"):
            fit()


def test_a_mask_without_noise_and_the_noise_alone_in_select():
    X, noise, _ = load_set("sim_outliers")
    with pytest.raises(ValueError, match="no row noise"):
        GaussianMixture(2, noise_init=np.zeros(len(X), dtype=bool)).fit(X)
    with pytest.warns(UserWarning, match="noise alone"):
        result = select(X, n_components=[0], noise_init=noise)
    assert result.best_ is None and result.n_parameters_[0, 0] == 1


def test_rows_of_weight_zero_do_not_shape_the_noise():
    X, noise, _ = load_set("sim_outliers")
    w = np.ones(len(X))
    w[:30] = 0.0
    weighted = GaussianMixture(3, noise_init="knn", random_state=0).fit(X, sample_weight=w)
    subset = GaussianMixture(3, noise_init="knn", random_state=0).fit(X[30:])
    assert weighted.noise_log_density_ == pytest.approx(subset.noise_log_density_, rel=1e-12)
    assert weighted.noise_weight_ == pytest.approx(subset.noise_weight_, rel=1e-6)


def test_noise_tags_memmaps_and_collinear_rows(tmp_path):
    X, noise, _ = load_set("faithful_noise")
    assert GaussianMixture(2, noise_init="knn").__sklearn_tags__().input_tags.allow_nan is False
    assert GaussianMixture(2).__sklearn_tags__().input_tags.allow_nan is True
    np.save(tmp_path / "X.npy", X)
    mm = np.load(tmp_path / "X.npy", mmap_mode="r")
    a = GaussianMixture(2, noise_init=noise, random_state=0).fit(mm)
    b = GaussianMixture(2, noise_init=noise, random_state=0).fit(X)
    np.testing.assert_array_equal(a.means_, b.means_)
    t = np.random.default_rng(0).normal(size=200)
    flat = np.column_stack([t, 2 * t + 1, np.random.default_rng(1).normal(size=200)])
    with pytest.raises(ValueError, match="span no volume"):
        GaussianMixture(2, noise_init="knn").fit(flat)


def test_the_command_line_density_is_in_the_datas_units():
    from gaussmix.cli.common import noise_density_of

    transform = {"center": np.zeros(2), "scale": np.array([2.0, 5.0])}
    assert noise_density_of(0.001, transform) == pytest.approx(0.01)
    assert noise_density_of(0.001, None) == 0.001 and noise_density_of(None, transform) is None


def test_one_dimensional_density_figure_adds_the_noise():
    pytest.importorskip("matplotlib")
    from gaussmix.plotting import plot_density

    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, 300), rng.uniform(-10, 10, 40)])[:, None]
    gm = GaussianMixture(1, covariance_type="V", noise_init="knn", random_state=0).fit(x)
    ax = plot_density(gm, x).axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(label.startswith("noise") for label in labels)
    grid, total = ax.lines[-1].get_data()
    assert np.trapezoid(total, grid) == pytest.approx(1.0, abs=0.05)


def test_a_labelled_fit_refuses_a_noise_component():
    from gaussmix.estimators.labelled import LabelledMixture

    X, noise, frame = load_set("sim_outliers")
    y = np.where(np.arange(len(X)) % 3 == 0, frame["true_class"].to_numpy().astype(int) % 3, -1)
    with pytest.raises(ValueError, match="neither a noise component"):
        LabelledMixture(3, noise_init=noise).fit(X, y)


def test_partial_fit_is_not_offered_with_noise_or_a_prior():
    from sklearn.utils.estimator_checks import check_estimator

    assert hasattr(GaussianMixture(2), "partial_fit")
    for gm in (GaussianMixture(2, noise_init="knn"), GaussianMixture(2, prior="default")):
        assert not hasattr(gm, "partial_fit")
        with pytest.raises(ValueError, match="batch EM"):
            gm.partial_fit(np.zeros((4, 2)))
    # scikit-learn's checks that call partial_fit where it exists now pass for a noise model.
    results = check_estimator(GaussianMixture(2, noise_init="knn"), on_fail=None)
    failed = {r["check_name"] for r in results if r["status"] == "failed"}
    assert not failed & {"check_fit_score_takes_y", "check_n_features_in_after_fitting"}
