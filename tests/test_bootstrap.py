"""bootstrap_lrt against mclust's mclustBootstrapLRT (fixtures from generate.R), and its contract."""

import io
import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

import gaussmix
from gaussmix import BootstrapLRTResult, bootstrap_lrt
from gaussmix.exceptions import DegenerateCovarianceError
from gaussmix.selection import bootstrap as bootstrap_module
from gaussmix.selection import replicates as replicates_module

FIXTURES = Path(__file__).parent / "fixtures" / "mclust_bootstrap"
CASES = {"faithful": "EEE", "acidity": "E"}  # the models mclust's BIC chooses


def reference(name):
    return json.loads((FIXTURES / f"lrt-{name}.json").read_text())


def data(name):
    return np.loadtxt(FIXTURES / "data" / f"{name}.csv", delimiter=",", skiprows=1, ndmin=2)


@pytest.fixture(scope="module")
def blobs():
    """Two clear groups: 1 vs 2 is significant, 2 vs 3 should not be."""
    rng = np.random.default_rng(0)
    return np.vstack([rng.normal(0, 1, (50, 2)), rng.normal(6, 1, (50, 2))])


@pytest.mark.parametrize("name", CASES)
def test_hc_started_log_likelihoods_equal_mclusts(name):
    # n_boot=1 and every test: the observed fits for G = 1..9 only.
    ref = reference(name)
    result = bootstrap_lrt(data(name), CASES[name], max_components=8, n_boot=1,
                           sequential=False, random_state=0)
    np.testing.assert_allclose(result.log_likelihoods_, ref["loglik"], rtol=1e-9)


@pytest.mark.parametrize("name", CASES)
def test_matches_mclust_bootstrap_lrt(name):
    """Statistics as mclust's; p-values and distributions within Monte Carlo error; same G."""
    ref = reference(name)
    n_boot = 99
    result = bootstrap_lrt(data(name), CASES[name], n_boot=n_boot, level=ref["level"], random_state=0)
    # Same hc start and EM stopping rule: the same numbers, to rounding.
    np.testing.assert_allclose(result.statistics_, ref["obs"], rtol=1e-6, atol=1e-9)
    assert result.n_components_ == ref["chosen_G"]
    assert result.n_components.tolist() == ref["G"]
    assert result.bootstrap_.shape == (n_boot, len(ref["G"]))
    for j, observed in enumerate(ref["obs"]):
        theirs = np.asarray(ref["boot"][j])
        ours = result.bootstrap_[:, j]
        # Exceedance proportions of two binomial samples: the difference over
        # its pooled standard error (4 sigma; 0 exceedances on both sides
        # leave no spread, and then they must agree exactly).
        k_ours, k_theirs = np.sum(ours >= observed), np.sum(theirs >= observed)
        pooled = (k_ours + k_theirs) / (n_boot + ref["nboot"])
        se = np.sqrt(pooled * (1 - pooled) * (1 / n_boot + 1 / ref["nboot"]))
        assert abs(k_ours / n_boot - k_theirs / ref["nboot"]) <= 4 * se + 1e-12
        # The null distributions themselves: a two-sample KS test.
        assert stats.ks_2samp(ours, theirs).pvalue > 1e-3


def test_p_value_formula(blobs):
    result = bootstrap_lrt(blobs, "VII", max_components=2, n_boot=29, sequential=False, random_state=3)
    for j, observed in enumerate(result.statistics_):
        exceed = np.count_nonzero(result.bootstrap_[:, j] >= observed)
        assert result.p_values_[j] == (1 + exceed) / (29 + 1)
    # The statistics are 2 (log L_{G+1} - log L_G) of the observed fits.
    np.testing.assert_allclose(result.statistics_, 2 * np.diff(result.log_likelihoods_))


def test_sequential_rule_and_level(blobs):
    # n_boot=19 cannot give p below 1/20: at level 0.04 the first test is
    # not significant and the rule stops there.
    stopped = bootstrap_lrt(blobs, "VII", n_boot=19, level=0.04, random_state=0)
    assert stopped.n_components.tolist() == [1]
    assert stopped.n_components_ == 1
    full = bootstrap_lrt(blobs, "VII", max_components=3, n_boot=19, level=0.05,
                         sequential=False, random_state=0)
    assert full.n_components.tolist() == [1, 2, 3]  # mclust with maxG = 3
    significant = full.p_values_ <= 0.05
    expected = 1 + int(np.argmin(significant)) if not significant.all() else 4
    assert full.n_components_ == expected
    assert full.best_.n_components == full.n_components_
    assert full.best_.score(blobs) * len(blobs) == pytest.approx(
        full.log_likelihoods_[full.n_components_ - 1], abs=0.05)


@pytest.mark.parametrize("code", ["full", "tied", "diag", "spherical", "EII", "VEI", "EEE", "VEV", "VVV"])
def test_a_replicate_draws_what_the_null_estimator_draws(blobs, code):
    # A replicate samples the parameters its refits start from (float64, as
    # bootstrap_lrt fits its nulls on float64 rows), which must be the
    # fitted estimator's own draws from the same stream.
    null = gaussmix.GaussianMixture(3, covariance_type=code, random_state=0).fit(blobs)
    start = replicates_module.Refit(null, 1e-5, 100).start
    seed = np.random.SeedSequence(5).spawn(1)[0]
    ours = start.sample(40, np.random.RandomState(np.random.PCG64(seed)))
    null.random_state = np.random.RandomState(np.random.PCG64(seed))
    theirs = null.sample(40)
    np.testing.assert_array_equal(ours[0], theirs[0])
    np.testing.assert_array_equal(ours[1], theirs[1])


def test_reproducible_whatever_n_jobs(blobs):
    one = bootstrap_lrt(blobs, "VII", max_components=2, n_boot=12, sequential=False, random_state=7, n_jobs=1)
    two = bootstrap_lrt(blobs, "VII", max_components=2, n_boot=12, sequential=False, random_state=7, n_jobs=2)
    np.testing.assert_array_equal(one.bootstrap_, two.bootstrap_)
    np.testing.assert_array_equal(one.p_values_, two.p_values_)
    other = bootstrap_lrt(blobs, "VII", max_components=2, n_boot=12, sequential=False, random_state=8)
    assert not np.array_equal(one.bootstrap_, other.bootstrap_)
    # A RandomState or Generator seeds it too, reproducibly.
    a = bootstrap_lrt(blobs, "VII", max_components=1, n_boot=5, random_state=np.random.RandomState(1))
    b = bootstrap_lrt(blobs, "VII", max_components=1, n_boot=5, random_state=np.random.RandomState(1))
    c = bootstrap_lrt(blobs, "VII", max_components=1, n_boot=5, random_state=np.random.default_rng(1))
    np.testing.assert_array_equal(a.bootstrap_, b.bootstrap_)
    assert np.isfinite(c.bootstrap_).all()


def test_dask_backend_runs_the_replicates(blobs):
    distributed = pytest.importorskip("distributed")
    import joblib

    expected = bootstrap_lrt(blobs, "VII", max_components=1, n_boot=8, random_state=5, n_jobs=1)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        with joblib.parallel_backend("dask"), distributed.get_task_stream(client) as tasks:
            result = bootstrap_lrt(blobs, "VII", max_components=1, n_boot=8, random_state=5)
        assert tasks.data  # the chunks ran on the cluster's workers
    np.testing.assert_array_equal(result.bootstrap_, expected.bootstrap_)


def test_failed_replicates_are_drawn_again(blobs, monkeypatch):
    real = replicates_module.Refit.log_likelihood
    calls = {"n": 0}

    def failing(self, X):
        calls["n"] += 1
        # Two fits a draw: calls 1 and 4 fail two draws at their first fit
        # (the second is then not run); call 7 fails a third with NaN.
        if calls["n"] in (1, 4):
            raise DegenerateCovarianceError("forced")
        if calls["n"] == 7:
            return np.nan  # a non-finite log-likelihood fails it too
        return real(self, X)

    # A seed whose replicates all refit at once, so that every redraw below is a forced one.
    kw = dict(max_components=1, n_boot=6, random_state=1, n_jobs=1)
    assert bootstrap_lrt(blobs, "VII", **kw).n_redrawn_.tolist() == [0]
    monkeypatch.setattr(replicates_module.Refit, "log_likelihood", failing)
    result = bootstrap_lrt(blobs, "VII", **kw)
    assert result.n_redrawn_.tolist() == [3]
    assert np.isfinite(result.bootstrap_).all()
    assert "3 bootstrap sample(s) drawn again" in str(result)


def test_gives_up_on_a_model_that_always_fails(blobs, monkeypatch):
    def failing(self, X):
        raise np.linalg.LinAlgError("forced")

    monkeypatch.setattr(replicates_module.Refit, "log_likelihood", failing)
    with pytest.raises(RuntimeError, match="failed to refit"):
        bootstrap_lrt(blobs, "VII", max_components=1, n_boot=2, random_state=0, n_jobs=1)


def test_degenerate_fits_are_drawn_again_naturally():
    # 30 rows from one Gaussian: refits of 2 and 3 VVV components sometimes
    # empty a component or make a covariance singular (on 40 such rows,
    # mclust's em gave NA for 20% to 100% of the samples, by test).
    X = np.random.default_rng(1).normal(size=(30, 2))
    result = bootstrap_lrt(X, "VVV", max_components=2, n_boot=30, sequential=False, random_state=0)
    assert np.isfinite(result.bootstrap_).all()
    assert result.n_redrawn_.sum() > 0


def test_a_fit_that_empties_a_component_or_keeps_a_covariance_fails(blobs, monkeypatch):
    """mclust's em returns NA when a component empties or its covariance turns singular.

    Our engine keeps the previous covariance instead and says so
    (``EMResult.kept``, ``EMResult.emptied``); the replicate must then be drawn again.
    """
    import dataclasses
    import types

    real = replicates_module.driver.run
    calls = {"n": 0}

    def run(*args, **kwargs):
        calls["n"] += 1
        result = real(*args, **kwargs)
        if calls["n"] == 1:
            return dataclasses.replace(result, emptied={1})
        if calls["n"] == 3:
            return dataclasses.replace(result, kept={0})
        return result

    monkeypatch.setattr(replicates_module, "driver", types.SimpleNamespace(run=run))
    result = bootstrap_lrt(blobs, "VII", max_components=1, n_boot=3, random_state=0, n_jobs=1)
    assert result.n_redrawn_.tolist() == [2]
    assert np.isfinite(result.bootstrap_).all()


def test_an_observed_fit_that_fails_ends_the_tests(blobs, monkeypatch):
    real = bootstrap_module._observed_fit

    def failing(X, K, *args):
        if K == 3:
            raise DegenerateCovarianceError("forced")
        return real(X, K, *args)

    monkeypatch.setattr(bootstrap_module, "_observed_fit", failing)
    with pytest.warns(UserWarning, match="last test is 1 vs 2"):
        result = bootstrap_lrt(blobs, "VII", max_components=3, n_boot=3, sequential=False, random_state=0)
    assert result.n_components.tolist() == [1]


def test_a_degenerate_observed_fit_is_a_failed_one():
    # 8 rows: the hc-started 2-component VVV fit puts a component on too few
    # rows and its covariance turns singular; mclust's BIC is NA there.
    X = np.random.default_rng(1).normal(size=(8, 2))
    with pytest.raises(ValueError, match="2-component VVV fit to X failed.*became singular"):
        bootstrap_lrt(X, "VVV", n_boot=5, random_state=0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"X": [[0.0, np.nan]] * 10}, "NaN"),
        ({"X": [[0.0, np.inf]] * 10}, "inf"),
        ({"X": np.zeros(10)}, "2D"),
        ({"X": np.zeros((1, 2))}, "minimum of 2"),
        ({"covariance_type": "XYZ"}, "XYZ"),
        ({"covariance_type": ["VVV"]}, "one model"),
        ({"covariance_type": "V"}, "one-dimensional"),
        ({"max_components": 0}, "max_components"),
        ({"max_components": 100}, "max_components"),
        ({"max_components": 2.5}, "max_components"),
        ({"n_boot": 0}, "n_boot"),
        ({"n_boot": True}, "n_boot"),
        ({"level": 0.0}, "level"),
        ({"level": 1.0}, "level"),
        ({"level": "0.05"}, "level"),
        ({"tol": -1.0}, "tol"),
        ({"max_iter": 0}, "max_iter"),
        ({"sequential": "yes"}, "sequential"),
        ({"verbose": -1}, "verbose"),
        ({"random_state": "seed"}, "random_state"),
        ({"random_state": -3}, "random_state"),
    ],
)
def test_bad_inputs_raise_clear_errors(kwargs, match):
    rng = np.random.default_rng(0)
    args = {"X": rng.normal(size=(100, 2)), "covariance_type": "VVV", "n_boot": 5}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        bootstrap_lrt(**args)


def test_univariate_data_need_a_univariate_model():
    x = np.random.default_rng(0).normal(size=(50, 1))
    with pytest.raises(ValueError, match="E or V"):
        bootstrap_lrt(x, "VVV", n_boot=5)


def test_the_default_max_components_is_mclusts_capped_by_n():
    x = np.random.default_rng(0).normal(size=(5, 1))
    # max_components becomes n - 1 = 4 (under mclust's 8): the last test
    # would fit 5 components to 5 rows, which fails and ends the tests.
    with pytest.warns(UserWarning, match="the 5-component E fit to X failed"):
        result = bootstrap_lrt(x, "E", n_boot=3, sequential=False, random_state=0)
    assert result.n_components.tolist() == [1, 2, 3]


def test_summary_reads_like_mclusts_print(blobs, capsys):
    result = bootstrap_lrt(blobs, "VII", max_components=2, n_boot=9, sequential=False, random_state=0,
                           verbose=2)
    printed = capsys.readouterr().out
    assert "1 vs 2: LRT = " in printed and "9/9 replicates" in printed
    text = result.summary()
    assert capsys.readouterr().out.strip() == text
    assert "Bootstrap sequential LRT for the number of mixture components" in text
    assert "Model        = VII" in text and "Replications = 9" in text
    for G, stat in zip((1, 2), result.statistics_):
        assert f"{G} vs {G + 1}" in text and f"{stat:.4f}" in text
    assert f"Chosen number of components (level 0.05): {result.n_components_}" in text
    out = io.StringIO()
    result.summary(file=out)
    assert out.getvalue().strip() == text
    assert repr(result) == ("BootstrapLRTResult(covariance_type='VII', n_boot=9, tests=2, "
                            f"n_components_={result.n_components_})")
    assert isinstance(result, gaussmix.BootstrapLRTResult) and BootstrapLRTResult is gaussmix.BootstrapLRTResult


def test_plot_draws_each_distribution_and_its_statistic(blobs, tmp_path):
    pytest.importorskip("matplotlib")
    from gaussmix.plotting import save_figure

    result = bootstrap_lrt(blobs, "VII", max_components=2, n_boot=19, sequential=False, random_state=0)
    fig = result.plot()
    axes = fig.axes
    assert len(axes) == 2
    for ax, G, stat, p in zip(axes, (1, 2), result.statistics_, result.p_values_):
        assert f"{G} vs {G + 1}" in ax.get_title() and f"p = {p:.3g}" in ax.get_title()
        assert any(np.allclose(line.get_xdata(), stat) for line in ax.get_lines())
        assert len(ax.patches) > 0  # the histogram's bars
        low, high = ax.get_xlim()
        assert low < stat < high  # the statistic stays in view, even far in the tail
    one = result.plot(tests=[2])
    assert len(one.axes) == 1 and "2 vs 3" in one.axes[0].get_title()
    save_figure(fig, tmp_path / "lrt.png")
    assert (tmp_path / "lrt.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="among the tests run"):
        result.plot(tests=[5])
    with pytest.raises(ValueError, match="one Axes per test"):
        result.plot(axes=[axes[0]])


def test_tol_and_max_iter_reach_the_observed_fits():
    X = data("faithful")
    default = bootstrap_lrt(X, "EEE", max_components=2, n_boot=1, sequential=False, random_state=0)
    tight = bootstrap_lrt(X, "EEE", max_components=2, n_boot=1, sequential=False, random_state=0, tol=1e-10)
    # EM never lowers the log-likelihood, so running longer from the same
    # start ends at least as high; the 3-component fit had not converged.
    assert np.all(tight.log_likelihoods_ >= default.log_likelihoods_ - 1e-9)
    assert tight.log_likelihoods_[2] > default.log_likelihoods_[2] + 1e-3
    one_step = bootstrap_lrt(X, "EEE", max_components=2, n_boot=1, sequential=False, random_state=0,
                             max_iter=1)
    # mclust 6.0: me(faithful, "EEE", unmap(hclass(hc(faithful, "VVV", use = "SVD"), 3)),
    #                control = emControl(itmax = 1))$loglik
    assert one_step.log_likelihoods_[2] == pytest.approx(-1144.33526255, abs=1e-6)


def test_command_line_runs_the_test_and_saves_the_chosen_fit(tmp_path):
    from .test_cli import run, valid_png

    np.savetxt(tmp_path / "data.csv", data("faithful"), delimiter=",", header="eruptions,waiting", comments="")
    out = run(["bootstrap", "data.csv", "-c", "EEE", "-k", "2", "--n-boot", "19", "--seed", "0", "-j", "1",
               "--json", "-o", "best.gmm", "--plot", "lrt.png"], tmp_path)
    summary = json.loads(out.stdout)
    expected = bootstrap_lrt(data("faithful"), "EEE", 2, 19, random_state=0, n_jobs=1)
    assert summary["n_components"] == expected.n_components_
    np.testing.assert_allclose([t["statistic"] for t in summary["tests"]], expected.statistics_)
    np.testing.assert_allclose([t["p_value"] for t in summary["tests"]], expected.p_values_)
    assert gaussmix.load(tmp_path / "best.gmm").n_components == expected.n_components_
    valid_png(tmp_path / "lrt.png")
    bad = run(["bootstrap", "data.csv", "-c", "XYZ"], tmp_path, ok=False)
    assert bad.returncode != 0 and "not a known covariance model" in bad.stderr


def test_a_near_singular_observed_fit_is_a_failed_one(blobs, monkeypatch):
    """mclust's rule, as select applies it (``selection.singular``), ends the tests at that fit."""
    real = bootstrap_module.near_singular_reason

    def reject_three(mixture, *args, **kwargs):
        return "near-singular covariance in the fit" if mixture.n_components == 3 else real(mixture, *args, **kwargs)

    monkeypatch.setattr(bootstrap_module, "near_singular_reason", reject_three)
    with pytest.warns(UserWarning, match="3-component VVV fit to X failed.*near-singular"):
        result = bootstrap_lrt(blobs, "VVV", 2, n_boot=5, random_state=0, n_jobs=1, sequential=False)
    assert list(result.n_components) == [1]  # 2 vs 3 could not be tested


def test_feature_names_reach_the_chosen_fit_and_too_few_samples_warn(blobs):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(blobs, columns=["a", "b"])
    result = bootstrap_lrt(frame, "VII", 1, n_boot=19, random_state=0, n_jobs=1)
    assert list(result.best_.feature_names_in_) == ["a", "b"]
    with pytest.warns(UserWarning, match="no test can be significant"):
        bootstrap_lrt(blobs, "VII", 1, n_boot=9, random_state=0, n_jobs=1)


def test_a_near_singular_refit_is_drawn_again(blobs, monkeypatch):
    """mclust's em gives NA for a near-singular fit, and its bootstrap draws the sample again."""
    real, calls = replicates_module.cholesky_rcond, []

    def first_is_singular(cov):
        calls.append(len(cov))
        return np.zeros(len(cov)) if len(calls) == 1 else real(cov)

    monkeypatch.setattr(replicates_module, "cholesky_rcond", first_is_singular)
    result = bootstrap_lrt(blobs, "VVV", 1, n_boot=19, random_state=0, n_jobs=1)
    assert result.n_redrawn_.sum() == 1 and calls[0] == 2  # the 2-component refit of the first sample
    again = bootstrap_lrt(blobs, "VVV", 1, n_boot=19, random_state=0, n_jobs=1)
    assert again.n_redrawn_.sum() == 0
