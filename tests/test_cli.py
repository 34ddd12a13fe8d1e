"""Every gaussmix command through its real entry point, in a temporary folder."""

import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from .helpers import shared

pd = pytest.importorskip("pandas")
pytest.importorskip("matplotlib")

EXE = shutil.which("gaussmix", path=os.path.dirname(sys.executable)) or shutil.which("gaussmix")


def run(args, cwd, ok=True):
    cmd = [EXE, *args] if EXE else [sys.executable, "-m", "gaussmix", *args]
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, COLUMNS="120"))
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


def valid_png(path):
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    w, h = struct.unpack(">II", data[16:24])
    assert 300 <= w <= 3000 and 250 <= h <= 3000


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        np.vstack([rng.normal(0, 1, (150, 2)), rng.normal(5, 1, (150, 2))]), columns=["x", "y"]
    )
    frame.insert(0, "id", [f"r{i}" for i in range(len(frame))])
    frame.to_csv(folder / "data.csv", index=False)
    return folder


def test_demo_writes_its_figures(tmp_path):
    proc = run(["demo", "--output", "figs"], cwd=tmp_path)
    assert "GMM against k-means" in proc.stdout and "Holes in the data" in proc.stdout
    assert "written to" in proc.stdout and str(tmp_path / "figs") in proc.stdout.replace("\n", "")
    pngs = sorted((tmp_path / "figs").glob("*.png"))
    assert len(pngs) == 10
    for p in pngs:
        valid_png(p)


def test_fit_predict_info_sample_plot(work):
    proc = run(["fit", "data.csv", "-k", "2", "--columns", "x,y", "-o", "m.gmm",
                "--plot", "fit.png", "--seed", "0", "--json"], cwd=work)
    summary = json.loads(proc.stdout)
    assert summary["n_components"] == 2 and summary["converged"]
    assert sorted(round(m[0]) for m in summary["means"]) == [0, 5]
    valid_png(work / "fit.png")

    info = json.loads(run(["info", "m.gmm", "--json"], cwd=work).stdout)
    assert info["features"] == ["x", "y"] and info["weights"] == summary["weights"]
    assert "VVV" not in run(["info", "m.gmm"], cwd=work).stdout  # full keeps its name

    run(["predict", "m.gmm", "data.csv", "--id", "id", "-o", "pred.csv"], cwd=work)
    pred = pd.read_csv(work / "pred.csv")
    assert list(pred.columns) == ["id", "label", "prob_0", "prob_1", "log_density"]
    assert len(pred) == 300 and pred.id[0] == "r0"
    np.testing.assert_allclose(pred[["prob_0", "prob_1"]].sum(axis=1), 1.0, atol=1e-9)
    np.testing.assert_array_equal(pred.label, pred[["prob_0", "prob_1"]].to_numpy().argmax(1))
    from gaussmix import load

    model = load(work / "m.gmm")
    data = pd.read_csv(work / "data.csv")[["x", "y"]]
    np.testing.assert_allclose(pred.log_density, model.score_samples(data), rtol=1e-9)

    run(["predict", "m.gmm", "data.csv", "-o", "pred.parquet"], cwd=work)
    assert len(pd.read_parquet(work / "pred.parquet")) == 300
    stdout = run(["predict", "m.gmm", "data.csv"], cwd=work).stdout
    assert stdout.splitlines()[0] == "label,prob_0,prob_1,log_density"

    draws = run(["sample", "m.gmm", "-n", "400", "--seed", "1"], cwd=work).stdout
    sampled = pd.read_csv(__import__("io").StringIO(draws))
    assert list(sampled.columns) == ["x", "y", "component"] and len(sampled) == 400
    assert sorted(round(v) for v in sampled.groupby("component").x.mean()) == [0, 5]

    proc = run(["plot", "m.gmm", "data.csv", "-o", "plots"], cwd=work)
    for name in ("clusters.png", "uncertainty.png", "loglik.png"):
        valid_png(work / "plots" / name)


def test_standardize_keeps_original_units(work):
    run(["fit", "data.csv", "-k", "2", "--columns", "x,y", "--standardize", "-o", "z.gmm",
         "--seed", "0", "--quiet"], cwd=work)
    info = json.loads(run(["info", "z.gmm", "--json"], cwd=work).stdout)
    assert info["standardized"]
    draws = run(["sample", "z.gmm", "-n", "400", "--seed", "1"], cwd=work).stdout
    sampled = pd.read_csv(__import__("io").StringIO(draws))
    assert sorted(round(v) for v in sampled.groupby("component").x.mean()) == [0, 5]
    pred = pd.read_csv(__import__("io").StringIO(run(["predict", "z.gmm", "data.csv"], cwd=work).stdout))
    assert set(np.bincount(pred.label)) == {150}


def test_select_reports_mclusts_choice(tmp_path):
    shutil.copy(shared("data", "faithful.csv"), tmp_path / "faithful.csv")
    proc = run(["select", "faithful.csv", "-k", "1-4", "--plot", "bic.png", "--json", "-j", "1"],
               cwd=tmp_path)
    report = json.loads(proc.stdout)
    assert (report["top"][0]["covariance_type"], report["top"][0]["n_components"]) == ("EEE", 3)
    assert report["top"][0]["bic"] == pytest.approx(2314.316, abs=0.05)
    assert len(report["cells"]) == 4 * 14
    valid_png(tmp_path / "bic.png")
    text = run(["select", "faithful.csv", "-k", "2-3", "-c", "EEE", "-c", "VVV", "-q"], cwd=tmp_path).stdout
    assert "Best BIC values" in text and "EEE,3" in text
    assert run(["info", "best.gmm", "--json"], cwd=tmp_path).stdout.count("EEE") == 1


def test_select_says_which_cells_failed_and_why(tmp_path):
    """A cell mclust's rule rejects (diabetes, VVE with 7 components) is named with its reason."""
    shutil.copy(shared("data", "mclust_diabetes.csv"), tmp_path / "diabetes.csv")
    text = run(["select", "diabetes.csv", "--columns", "glucose,insulin,sspg", "-k", "7",
                "-c", "VVE", "-c", "EII", "-j", "1", "-q"], cwd=tmp_path).stdout
    assert "(1 cell(s) failed: VVE,7;" in text
    assert "VVE,7 failed: " in text and "Best: EII,7." in text


def test_standardized_log_density_is_a_density_of_the_data(work):
    """exp(log_density) integrates to 1 over the data's own units."""
    run(["fit", "data.csv", "-k", "2", "--columns", "x,y", "--standardize", "-o", "zs.gmm",
         "--seed", "0", "-q"], cwd=work)
    xs, ys = np.linspace(-6, 11, 171), np.linspace(-6, 11, 171)
    gx, gy = np.meshgrid(xs, ys)
    pd.DataFrame({"x": gx.ravel(), "y": gy.ravel()}).to_csv(work / "grid.csv", index=False)
    run(["predict", "zs.gmm", "grid.csv", "-o", "grid_pred.csv"], cwd=work)
    dens = np.exp(pd.read_csv(work / "grid_pred.csv").log_density.to_numpy())
    cell = (xs[1] - xs[0]) * (ys[1] - ys[0])
    assert dens.sum() * cell == pytest.approx(1.0, abs=0.01)


def test_select_then_predict_uses_the_models_columns(work):
    run(["select", "data.csv", "--columns", "x,y", "-k", "1-3", "-c", "VVV", "-c", "EEE",
         "-o", "sel.gmm", "-q", "-j", "1"], cwd=work)
    info = json.loads(run(["info", "sel.gmm", "--json"], cwd=work).stdout)
    assert info["features"] == ["x", "y"]
    pred = pd.read_csv(__import__("io").StringIO(run(["predict", "sel.gmm", "data.csv"], cwd=work).stdout))
    assert len(pred) == 300
    meta = json.loads(np.load(work / "sel.gmm")["metadata"].tobytes())
    assert meta["params"]["resp_init"] is None  # the start is not saved as a parameter
    assert meta["params"]["init_params"] == "hc"


def test_debug_works_anywhere_on_the_line(work):
    proc = run(["fit", "missing.csv", "--debug"], cwd=work, ok=False)
    assert "Traceback" in proc.stderr and "FileNotFoundError" in proc.stderr


def test_quiet_leaves_stderr_empty(work):
    quiet = run(["fit", "data.csv", "--columns", "x,y", "-o", "q.gmm", "-q"], cwd=work)
    assert quiet.stderr == ""


@pytest.mark.parametrize(
    "args, message, status",
    [
        (["fit", "missing.csv"], "no data file at missing.csv", 1),
        (["fit", "ragged.csv"], "not a well-formed table", 1),
        (["fit", "data.csv"], "non-numeric column(s) ['id']; a Gaussian mixture needs numbers: "
                              "choose the numeric ones with --columns x,y", 1),
        (["predict", "m.gmm", "data.csv", "--columns", "x"], "has 1 feature column(s) but the model", 1),
        (["predict", "broken.gmm", "data.csv"], "not a readable gaussmix model", 1),
        (["fit", "data.csv", "-k", "0"], "Invalid value for '--components'", 2),
        (["fit", "data.csv", "--covariance", "XYZ", "--columns", "x,y"], "not a known covariance model", 1),
        (["select", "data.csv", "-k", "abc"], "use a range like 1-9", 2),
        (["fit", "data.csv", "--nope"], "No such option", 2),
    ],
)
def test_errors_are_one_line(work, args, message, status):
    (work / "ragged.csv").write_text("a,b\n1,2\n3,4,5\n")
    (work / "broken.gmm").write_bytes(b"PK\x03\x04garbage")
    if not (work / "m.gmm").exists():
        run(["fit", "data.csv", "--columns", "x,y", "-o", "m.gmm", "-q"], cwd=work)
    proc = run(args, cwd=work, ok=False)
    assert proc.returncode == status
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_debug_shows_the_traceback(work):
    proc = run(["--debug", "fit", "missing.csv"], cwd=work, ok=False)
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_warnings_are_one_line_too(work):
    proc = run(["fit", "data.csv", "--columns", "x,y", "-k", "3", "--max-iter", "1", "-q",
                "-o", "w.gmm"], cwd=work)
    lines = proc.stderr.strip().splitlines()
    assert lines and all(line.startswith("gaussmix: warning: ") for line in lines)
    assert "did not converge" in proc.stderr


def test_progress_reads_the_librarys_log_records():
    """The library logs each EM iteration and each select cell; the CLI draws them."""
    from rich.console import Console
    from rich.progress import Progress

    from gaussmix import GaussianMixture, select
    from gaussmix.cli.common import ProgressHandler

    X = np.random.default_rng(0).normal(size=(200, 2))
    with Progress(console=Console(file=__import__("io").StringIO())) as progress:
        task = progress.add_task("x", total=None)
        handler = ProgressHandler(progress, task)
        import logging

        logger = logging.getLogger("gaussmix")
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
        try:
            gm = GaussianMixture(2, tol=0, max_iter=7, random_state=0).fit(X)
            assert progress.tasks[0].completed == 7 and "EM iteration 7" in progress.tasks[0].description
            select(X, n_components=[1, 2], covariance_types=["VVV", "EII"], n_jobs=1)
            assert progress.tasks[0].completed == 4 and progress.tasks[0].total == 4
        finally:
            logger.removeHandler(handler)
            logger.setLevel(logging.NOTSET)
    assert gm.n_iter_ == 7


def test_predict_from_parquet_keeps_the_id_column(work):
    if not (work / "m.gmm").exists():
        run(["fit", "data.csv", "--columns", "x,y", "-o", "m.gmm", "-q"], cwd=work)
    pd.read_csv(work / "data.csv").to_parquet(work / "data.parquet")
    out = run(["predict", "m.gmm", "data.parquet", "--id", "id"], cwd=work).stdout
    pred = pd.read_csv(__import__("io").StringIO(out))
    assert list(pred.columns[:2]) == ["id", "label"] and pred.id.iloc[-1] == "r299"


# ------------------------------------------------------------- streaming
@pytest.fixture(scope="module")
def big(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stream")
    rng = np.random.default_rng(1)
    X = np.vstack([rng.normal(0, 1, (900, 3)), rng.normal(4, 1, (600, 3))])
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    frame.insert(0, "id", [f"r{i}" for i in range(len(frame))])
    frame.to_parquet(folder / "data.parquet", row_group_size=400)
    np.save(folder / "data.npy", X)
    return folder


@pytest.mark.parametrize("data, extra", [("data.parquet", ["--columns", "a,b,c"]), ("data.npy", [])])
def test_streamed_fit_and_predict_equal_in_memory(big, data, extra):
    common = ["fit", data, "-k", "2", "--seed", "0", "--standardize", "--json", *extra]
    streamed = json.loads(run([*common, "--stream", "-o", "s.gmm"], big).stdout)
    in_memory = json.loads(run([*common, "--no-stream", "-o", "m.gmm"], big).stdout)
    for key in ("log_likelihood", "bic", "icl"):
        assert streamed[key] == pytest.approx(in_memory[key], rel=1e-10)
    assert streamed["n_samples"] == 1500
    ids = ["--id", "id"] if data.endswith("parquet") else []
    run(["predict", "s.gmm", data, "--stream", "-o", "s.parquet", *ids], big)
    run(["predict", "m.gmm", data, "--no-stream", "-o", "m.parquet", *ids], big)
    a, b = pd.read_parquet(big / "s.parquet"), pd.read_parquet(big / "m.parquet")
    assert list(a.columns) == list(b.columns) and len(a) == 1500
    assert (a["label"] == b["label"]).all()
    np.testing.assert_allclose(a["log_density"], b["log_density"], rtol=1e-10)
    if ids:
        assert (a["id"] == b["id"]).all()
    csv = run(["predict", "s.gmm", data, "--stream", *ids], big).stdout.splitlines()
    assert len(csv) == 1501 and csv[0].count("label") == 1


def test_streamed_predict_failure_leaves_no_output(big, tmp_path):
    frame = pd.read_parquet(big / "data.parquet")
    frame.loc[1300, "b"] = np.inf  # in the last row group (NaN would be a missing value)
    frame.to_parquet(tmp_path / "bad.parquet", row_group_size=400)
    shutil.copy(big / "data.parquet", tmp_path / "data.parquet")
    run(["fit", "data.parquet", "-k", "2", "--seed", "0", "--columns", "a,b,c", "-o", "m.gmm"], tmp_path)
    (tmp_path / "out.csv").write_text("keep me\n")
    proc = run(["predict", "m.gmm", "bad.parquet", "--stream", "-o", "out.csv"], tmp_path, ok=False)
    assert proc.returncode == 1 and "inf" in proc.stderr and "1300" in proc.stderr
    assert (tmp_path / "out.csv").read_text() == "keep me\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []


def test_stream_refuses_csv(work):
    proc = run(["fit", "data.csv", "--stream"], work, ok=False)
    assert proc.returncode == 2 and "--stream reads .npy and Parquet" in proc.stderr
