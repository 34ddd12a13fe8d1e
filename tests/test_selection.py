"""select() against mclust's documented model choices and BIC values.

The figures are mclust's own printed outputs (our sign is the negative):
iris and Old Faithful from mclust 6.1.1's reference pages (mclustBIC,
Mclust, mclustICL, densityMclust examples); diabetes from the "quick tour"
vignette of mclust 5.4-6.1.1 (the data as shipped) and 6.1.2-6.1.3 (the
corrected data); acidity from the vignette and the mclust book, Example 5.2.

Agreement is to a few hundredths of BIC: our EM stops by an absolute
tolerance scaled like mclust's relative one, which moves the last digits.
mclust's VVE M-step stops short of its optimum, so for VVE cells we ask for
a BIC at least as good as mclust's.
"""

from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_iris

from gaussmix import GaussianMixture, SelectionResult, select

from .helpers import shared


def csv(name):
    pd = pytest.importorskip("pandas")
    return pd.read_csv(shared("data", name)).select_dtypes("number").to_numpy(dtype=float)


def check_cells(result, mclust_bic, tol=0.05):
    table = result.table("bic")
    for (code, K), value in mclust_bic.items():
        ours = table[(K, code)]
        if code == "VVE":
            assert ours <= -value + tol, (code, K, ours)
        else:
            assert ours == pytest.approx(-value, abs=tol), (code, K)


def top(result, criterion="bic", n=3):
    return [f"{code},{K}" for (K, code), _ in result.ranking(criterion, n)]


@pytest.fixture(scope="module")
def iris_result():
    return select(load_iris().data)


def test_iris(iris_result):
    r = iris_result
    assert top(r) == ["VEV,2", "VEV,3", "VVV,2"]
    check_cells(r, {("VEV", 2): -561.7285, ("VEV", 3): -562.5522, ("VVV", 2): -574.0178})
    best = r.best_
    X = load_iris().data
    assert (best.covariance_type, best.n_components) == ("VEV", 2)
    assert best.score(X) * 150 == pytest.approx(-215.726, abs=1e-3)
    assert best._n_parameters() == 26
    assert best.icl(X) == pytest.approx(561.7289, abs=0.01)
    assert r.table("icl")[(3, "VEV")] == pytest.approx(566.4673, abs=0.1)
    assert np.bincount(best.predict(X)).tolist() in ([50, 100], [100, 50])


def test_iris_grid_shape_and_failures(iris_result):
    r = iris_result
    assert r.n_components == list(range(1, 10))
    assert len(r.covariance_types) == 14 and r.bic_.shape == (9, 14)
    failed = np.isnan(r.bic_)
    assert failed.sum() == len(r.errors_)
    for (K, code), reason in r.errors_.items():
        assert np.isnan(r.bic_[r.n_components.index(K), r.covariance_types.index(code)])
        assert "singular" in reason
    # n_iter_: each cell's iterations, NaN exactly where it failed.
    assert r.n_iter_.shape == r.bic_.shape
    np.testing.assert_array_equal(np.isnan(r.n_iter_), failed)
    i, j = r.n_components.index(r.best_.n_components), r.covariance_types.index(r.best_.covariance_type)
    assert r.n_iter_[i, j] == r.best_.n_iter_
    # K = 1: every model is a single Gaussian; the families agree with each other.
    row = dict(zip(r.covariance_types, r.loglik_[0]))
    assert row["VVV"] == pytest.approx(row["EEE"], rel=1e-12)
    assert row["EII"] == pytest.approx(row["VII"], rel=1e-12)


def test_iris_is_the_same_work_as_mclusts(iris_result):
    """As many EM iterations as mclust's Mclust(iris, G = 1:9), cell by cell, within 10% in total.

    mclust's iterations come from ``benchmarks/small/mclust_iterations.R``
    (its hierarchical start, then ``me`` per cell, as ``mclustBIC`` runs).
    """
    pd = pytest.importorskip("pandas")
    theirs = pd.read_csv(Path(__file__).parents[1] / "benchmarks" / "small" / "mclust_iterations.csv")
    r, ours_total, theirs_total = iris_result, 0, 0
    for row in theirs[theirs["data"] == "iris"].itertuples():
        i, j = r.n_components.index(row.G), r.covariance_types.index(row.model)
        if np.isfinite(r.loglik_[i, j]) and np.isfinite(row.loglik):
            ours_total += r.n_iter_[i, j]
            theirs_total += row.iterations
    assert theirs_total > 3000
    assert ours_total == pytest.approx(theirs_total, rel=0.10)


def test_summary_prints_the_top_three(iris_result, capsys):
    text = iris_result.summary()
    assert capsys.readouterr().out.strip() == text.strip()
    lines = text.splitlines()
    assert lines[1].split() == ["VEV,2", "VEV,3", "VVV,2"]
    assert lines[2].split()[0] == "BIC" and float(lines[2].split()[1]) == pytest.approx(561.7285, abs=1e-3)
    assert float(lines[3].split()[2]) == 0.0
    assert f"({len(iris_result.errors_)} cell(s) failed" in text
    assert all(f"{code},{K}" in lines[4] for K, code in iris_result.errors_)


def test_old_faithful():
    X = csv("faithful.csv")
    r = select(X)
    assert top(r) == ["EEE,3", "VVE,2", "VEE,3"]
    check_cells(r, {("EEE", 3): -2314.316, ("VVE", 2): -2320.433, ("VEE", 3): -2322.103})
    assert top(r, "icl") == ["VVE,2", "VVV,2", "VEE,2"]
    icl = r.table("icl")
    assert icl[(2, "VVV")] == pytest.approx(2322.697, abs=0.05)
    assert icl[(2, "VEE")] == pytest.approx(2323.396, abs=0.05)
    assert icl[(3, "EEE")] == pytest.approx(2357.824, abs=0.1)
    assert r.best_.score(X) * len(X) == pytest.approx(-1126.326, abs=0.01)


def test_diabetes_as_shipped():
    X = csv("mclust_diabetes.csv")
    r = select(X)
    assert top(r, n=1) == ["VVV,3"]
    check_cells(r, {("VVV", 3): -4751.316, ("VVV", 4): -4784.32213, ("EVE", 6): -4785.24591})
    assert r.best_.score(X) * 145 == pytest.approx(-2303.496, abs=0.01)
    assert r.table("icl")[(3, "VVV")] == pytest.approx(4770.169, abs=0.1)


def test_diabetes_corrected():
    X = csv("mclust_diabetes_corrected_vignette6.csv")
    r = select(X)
    assert top(r, n=1) == ["VVV,3"]
    check_cells(r, {("VVV", 3): -4734.561, ("VVE", 5): -4750.75832, ("VVE", 6): -4761.35626})
    assert r.table("icl")[(3, "VVV")] == pytest.approx(4749.16, abs=0.15)


def test_acidity_univariate():
    X = csv("mclust_acidity.csv")
    r = select(X)
    assert r.covariance_types == ["E", "V"]
    assert top(r, n=5) == ["E,2", "V,3", "V,2", "E,5", "E,3"]
    check_cells(
        r,
        {("E", 2): -392.0723, ("V", 3): -397.9108, ("V", 2): -399.6945,
         ("E", 5): -400.6745, ("E", 3): -402.183},
    )
    assert r.best_.score(X) * 155 == pytest.approx(-185.9493, abs=1e-3)
    assert r.best_.icl(X) == pytest.approx(398.5554, abs=0.02)


def test_icl_criterion_picks_by_icl():
    X = csv("faithful.csv")
    r = select(X, n_components=range(1, 4), covariance_types=["VVE", "EEE", "VVV"], criterion="icl")
    assert (r.best_.covariance_type, r.best_.n_components) == ("VVE", 2)
    assert r.best_.icl(X) == pytest.approx(np.nanmin(r.icl_), rel=1e-12)


def test_zero_weights_equal_dropping_rows():
    X = load_iris().data
    w = np.ones(150)
    w[::7] = 0.0
    kw = dict(n_components=range(1, 4), covariance_types=["VEV", "EEE", "VII"])
    a = select(X, sample_weight=w, **kw)
    b = select(X[w > 0], **kw)
    np.testing.assert_allclose(a.bic_, b.bic_, rtol=1e-9)
    np.testing.assert_allclose(a.best_.means_, b.best_.means_, rtol=1e-9)


def test_integer_weights_with_a_kmeans_start_equal_repeated_rows():
    X = load_iris().data
    counts = np.random.default_rng(0).integers(1, 3, size=150)
    kw = dict(n_components=[2, 3], covariance_types=["VVV", "EEE"], init_params="kmeans", random_state=0)
    a = select(X, sample_weight=counts, **kw)
    b = select(np.repeat(X, counts, axis=0), **kw)
    np.testing.assert_allclose(a.bic_, b.bic_, rtol=1e-6)


def test_parallel_cells_give_the_same_table(iris_result):
    r = select(load_iris().data, n_jobs=1)
    np.testing.assert_allclose(r.bic_, iris_result.bic_, rtol=1e-12, equal_nan=True)


def test_to_frame_lists_every_cell(iris_result):
    pytest.importorskip("pandas")
    frame = iris_result.to_frame()
    assert len(frame) == 9 * 14
    assert set(frame.columns) >= {"n_components", "covariance_type", "bic", "icl", "error"}
    failed = frame[frame.bic.isna()]
    assert (failed.error != "").all()


def test_bad_arguments():
    X = load_iris().data
    with pytest.raises(ValueError, match="criterion"):
        select(X, criterion="aic")
    with pytest.raises(ValueError, match="positive integers"):
        select(X, n_components=[0, 1])
    with pytest.raises(ValueError, match="more than the 150 rows"):
        select(X, n_components=[200])
    with pytest.raises(ValueError, match="not a known covariance model"):
        select(X, covariance_types=["XYZ"])
    with pytest.raises(ValueError, match="one-dimensional"):
        select(X, covariance_types=["E"])
    with pytest.raises(ValueError, match="init_params"):
        select(X, init_params="ward")
    for bad in ([2.7], "23", 5, [True]):
        with pytest.raises(ValueError, match="positive integers"):
            select(X, n_components=bad)
    for bad in ([], None, 5):
        with pytest.raises(ValueError, match="covariance_types"):
            select(X, covariance_types=bad)
    with pytest.raises(ValueError, match="tol must be"):
        select(X, tol="a")
    w = np.zeros(150)
    w[:3] = 1.0
    with pytest.raises(ValueError, match="rows of positive weight"):
        select(X, n_components=[4], sample_weight=w)


def test_every_cell_failing_is_a_clear_error():
    X = np.repeat(np.arange(3.0)[:, None], 10, axis=0) @ np.ones((1, 2))
    with pytest.raises(ValueError, match="every cell failed"):
        select(X, n_components=[2, 3], covariance_types=["VVV"])


def test_result_type(iris_result):
    assert isinstance(iris_result, SelectionResult)
    assert isinstance(iris_result.best_, GaussianMixture)


def test_reg_covar_max_iter_and_tol_reach_the_cells():
    X = np.repeat(np.arange(3.0)[:, None], 10, axis=0) @ np.ones((1, 2))
    X = X + np.random.default_rng(0).normal(size=X.shape) * np.array([1.0, 0.0])
    kw = dict(n_components=[2], covariance_types=["VVV"], n_jobs=1)
    with pytest.raises(ValueError, match="every cell failed"):  # a constant column
        select(X, **kw)
    fitted = select(X, reg_covar=1e-3, **kw)
    assert not fitted.errors_ and fitted.best_.reg_covar == 1e-3
    iris = load_iris().data
    short = select(iris, n_components=[3], covariance_types=["VVV"], max_iter=1, n_jobs=1)
    assert short.best_.n_iter_ == 1
    assert any("did not converge" in m for m in short.warnings_[(3, "VVV")])
    loose = select(iris, n_components=[3], covariance_types=["VVV"], tol=1e-1, n_jobs=1)
    tight = select(iris, n_components=[3], covariance_types=["VVV"], tol=1e-9, n_jobs=1)
    assert loose.best_.n_iter_ < tight.best_.n_iter_


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("code", ["VEV", "EEE", "VVV"])
def test_a_cell_is_the_fit_from_its_start(code, weighted):
    """A cell's model equals, to the bit, a GaussianMixture fitted afresh from the cell's start.

    The cell tests its start (mclust's near-singular rule) and EM goes on
    from it; the model handed back keeps the parameters the user gave.
    """
    from gaussmix.selection.starts import cell_start, hc_starts, mclust_tol

    X = load_iris().data
    w = np.random.default_rng(0).integers(1, 4, len(X)).astype(float) if weighted else None
    r = select(X, n_components=[3], covariance_types=[code], sample_weight=w, n_jobs=1)
    params = r.best_.get_params()
    assert params["warm_start"] is False and params["resp_init"] is None and params["max_iter"] == 1000
    partition = hc_starts(X, w, [3], np.random.RandomState(0))[3]
    resp = cell_start(X, w, 3, code, partition, 0.0, None)
    fresh = GaussianMixture(3, covariance_type=code, init_params="hc", resp_init=resp, reg_covar=0.0,
                            tol=mclust_tol(X, w, 1e-5), max_iter=1000).fit(X, sample_weight=w)
    assert r.best_.n_iter_ == fresh.n_iter_ > 1
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_", "lower_bounds_"):
        np.testing.assert_array_equal(getattr(r.best_, name), getattr(fresh, name), err_msg=name)


def test_a_cells_start_warns_in_its_warnings():
    """What the start of a cell warns (features never observed together) is kept with the cell."""
    X = load_iris().data.copy()
    X[:75, 0], X[75:, 1] = np.nan, np.nan
    r = select(X, n_components=[2, 3], covariance_types=["EEE", "VEV"], n_jobs=1)
    assert set(r.warnings_) == {(K, c) for K in (2, 3) for c in ("EEE", "VEV")}  # every cell, none failed
    for messages in r.warnings_.values():
        assert any("never observed in the same row" in m for m in messages)


def test_random_state_fixes_the_subset_of_large_data():
    rng = np.random.default_rng(1)
    X = np.vstack([rng.normal(size=(1300, 2)), rng.normal(size=(1300, 2)) + 6])
    kw = dict(n_components=[2], covariance_types=["EII"], n_jobs=1)
    a, b = select(X, random_state=3, **kw), select(X, random_state=3, **kw)
    np.testing.assert_array_equal(a.best_.means_, b.best_.means_)
    assert sorted(np.round(a.best_.means_[:, 0])) == [0.0, 6.0]


def test_the_test_of_a_fit_reads_its_rows_from_the_fit_not_predict_proba(monkeypatch):
    # mclust's test of VVV, EVE and VVE reads the fitted rows' responsibilities:
    # the fit's last compiled pass gives them, the same as predict_proba's.
    from gaussmix.selection import cells

    X = load_iris().data
    calls = []
    real = GaussianMixture.predict_proba

    def counted(self, X):
        calls.append(self.covariance_type)
        return real(self, X)

    monkeypatch.setattr(GaussianMixture, "predict_proba", counted)
    codes = ["VVV", "EVE", "VVE", "VEV"]
    fast = select(X, range(1, 6), codes, n_jobs=1)
    assert calls == []
    real_scoring = cells.scoring_fits
    monkeypatch.setattr(cells, "scoring_fits", lambda responsibilities=False: real_scoring())
    slow = select(X, range(1, 6), codes, n_jobs=1)
    assert sorted(set(calls)) == ["EVE", "VVE", "VVV"] and len(calls) == 12
    assert fast.to_frame().equals(slow.to_frame())


@pytest.mark.parametrize("backend", ["sequential", "threading"])
def test_cells_skip_parameter_checks_under_one_configuration(monkeypatch, backend):
    """A sequential select sets scikit-learn's configuration once for its cells; a worker's run of cells, its own.

    Every cell runs with ``skip_parameter_validation`` either way, and the
    table is the same.
    """
    from joblib import parallel_backend
    from sklearn import get_config

    from gaussmix.selection import cells

    entered, skipping = [], []
    real_context, real_held = cells.config_context, cells._fit_held

    def counting(**config):
        entered.append(config)
        return real_context(**config)

    def held(*args):
        skipping.append(get_config()["skip_parameter_validation"])
        return real_held(*args)

    monkeypatch.setattr(cells, "config_context", counting)
    monkeypatch.setattr(cells, "_fit_held", held)
    X = load_iris().data
    kw = dict(n_components=range(1, 4), covariance_types=["VVV", "EEE"], random_state=0)
    if backend == "sequential":
        result = select(X, n_jobs=1, **kw)
        assert entered == []
    else:
        with parallel_backend("threading", n_jobs=2):
            result = select(X, n_jobs=2, **kw)
        runs = cells.cell_groups([(K, c) for K in range(1, 4) for c in ("VVV", "EEE")], 2)
        assert len(entered) == len(runs) and all(c["skip_parameter_validation"] for c in entered)
    assert skipping == [True] * 6
    assert not get_config()["skip_parameter_validation"]  # restored
    monkeypatch.undo()
    np.testing.assert_array_equal(result.bic_, select(X, n_jobs=1, **kw).bic_)


def test_cell_groups_cover_every_cell_once_largest_k_first():
    """Runs of consecutive cells, about four a worker, the largest K's first; single cells for many workers."""
    from gaussmix.selection.cells import cell_groups

    cells = [(K, code) for K in range(1, 10) for code in ("EII", "VII", "EEE", "VVV", "EVE", "VVE", "VEV")]
    for workers, size in [(1, 15), (2, 7), (4, 3), (16, 1), (64, 1)]:
        runs = cell_groups(cells, workers)
        assert sorted(cell for run in runs for cell in run) == sorted(cells)
        assert all(len(run) <= size for run in runs) and max(len(run) for run in runs) == size
        for run in runs:  # consecutive in the select's order
            start = cells.index(run[0])
            assert run == cells[start:start + len(run)]
        largest = [max(K for K, _ in run) for run in runs]
        assert largest == sorted(largest, reverse=True)


def test_cells_in_worker_processes_give_the_sequential_table_bit_for_bit():
    """Runs of cells on two processes (loky), each sharing its starts, fit what one process fits."""
    X = load_iris().data
    kw = dict(n_components=range(1, 5), covariance_types=["VVV", "EEE", "VEV", "EII"], random_state=0)
    one, two = select(X, n_jobs=1, **kw), select(X, n_jobs=2, **kw)
    for name in ("bic_", "icl_", "loglik_", "n_iter_"):
        np.testing.assert_array_equal(getattr(two, name), getattr(one, name), err_msg=name)
    assert two.errors_ == one.errors_ and two.warnings_ == one.warnings_
    np.testing.assert_array_equal(two.best_.means_, one.best_.means_)


def test_progress_handlers_run_under_the_callers_configuration():
    """A sequential select holds the cells' configuration, but its log records reach handlers under the caller's."""
    import logging

    from sklearn import get_config

    seen = []

    class Recording(logging.Handler):
        def emit(self, record):
            if hasattr(record, "gaussmix_cell"):
                seen.append(get_config()["skip_parameter_validation"])

    logger, handler = logging.getLogger("gaussmix"), Recording()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        select(load_iris().data, n_components=range(1, 3), covariance_types=["VVV", "EII"], n_jobs=1)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert seen == [False] * 4
