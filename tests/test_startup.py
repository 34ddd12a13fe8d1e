"""Start-up: what ``import gaussmix`` and ``gaussmix --help`` load (not how long: that is bench_small's).

Both must answer without scikit-learn, SciPy, Numba or pandas, which took
seconds to import; the public names still resolve, on first use.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gaussmix
from gaussmix import GaussianMixture

from .helpers import tie_order_verified

HEAVY = ("sklearn", "scipy", "numba", "pandas", "matplotlib", "dask", "torch")


def _modules_after(code):
    """The heavy top-level packages loaded by ``code`` in a fresh interpreter."""
    probe = code + "\nimport json, sys\nprint(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    return loaded & set(HEAVY)


def test_import_gaussmix_loads_no_heavy_package():
    assert _modules_after("import gaussmix") == set()


def test_help_loads_no_heavy_package():
    code = (
        "import sys\nfrom gaussmix.cli import main\nsys.argv = ['gaussmix', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
    )
    assert _modules_after(code) == set()


def test_the_estimator_loads_scikit_learn_but_not_numba():
    # The control: the probe does see a heavy import where there is one.
    assert _modules_after("from gaussmix import GaussianMixture, select") & {"sklearn", "numba"} == {"sklearn"}


def test_a_numpy_fit_and_its_predictions_never_load_torch():
    code = ("import numpy as np\nfrom gaussmix import GaussianMixture\n"
            "X = np.random.default_rng(0).normal(size=(200, 2))\n"
            "GaussianMixture(2, random_state=0).fit(X).predict(X)\n")
    assert "torch" not in _modules_after(code)


def test_numba_loads_at_the_first_compiled_call_and_the_fit_is_the_same():
    code = (
        "import numpy as np\nfrom gaussmix import GaussianMixture\n"
        "X = np.random.default_rng(0).normal(size=(300, 3))\n"
        "print(repr(float(GaussianMixture(2, random_state=0).fit(X).lower_bound_)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code + "import sys\nprint('numba' in sys.modules)"],
                          capture_output=True, text=True, check=True)
    lower_bound, numba_loaded = done.stdout.split()
    assert numba_loaded == "True"
    X = np.random.default_rng(0).normal(size=(300, 3))
    assert float(lower_bound) == GaussianMixture(2, random_state=0).fit(X).lower_bound_


@pytest.mark.parametrize("name", [n for n in gaussmix.__all__ if n != "__version__"])
def test_every_public_name_resolves(name):
    value = getattr(gaussmix, name)
    assert value is not None and name in dir(gaussmix)


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        gaussmix.nope  # noqa: B018


def test_the_blas_routes_load_from_numbas_cache_in_a_new_process():
    """The routes that call BLAS from compiled code (TRMM, and the quadratic
    kernel's GEMMs) are cached like the rest: a second process compiles
    nothing for them (with BLAS's address built in, each process compiled
    the TRMM route again, 0.83 s on a first fit at d=20)."""
    pytest.importorskip("numba")
    code = (
        "import warnings\nimport numpy as np\nfrom gaussmix import GaussianMixture\n"
        "from gaussmix.engine.kernels import quadratic_tiles, triangular\n"
        "warnings.simplefilter('ignore')\n"
        "rng = np.random.default_rng(0)\n"
        "GaussianMixture(3, max_iter=2, random_state=0).fit(rng.normal(size=(300, 20)))\n"
        "GaussianMixture(16, max_iter=2, random_state=0, chunk_size=2500).fit(rng.normal(size=(5000, 16)))\n"
        "f32 = GaussianMixture(3, max_iter=2, random_state=0).fit(rng.normal(size=(300, 20)).astype(np.float32))\n"
        "GaussianMixture(16, max_iter=2, random_state=0, chunk_size=2500).fit(\n"
        "    rng.normal(size=(5000, 16)).astype(np.float32))\n"
        "fns = (triangular._whitened_sq, quadratic_tiles.statistics_pass)\n"
        "print(sum(sum(f.stats.cache_misses.values()) for f in fns), "
        "sum(sum(f.stats.cache_hits.values()) for f in fns))\n"
    )
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
            for _ in range(2)]
    misses, hits = map(int, runs[1].stdout.split()[-2:])
    assert (misses, hits) == (0, 4)  # TRMM and the GEMM pass, each in float64 and float32


FAITHFUL = "benchmarks/small/faithful.csv"


def _cli_in_a_new_process(*argv):
    """Run ``gaussmix *argv`` in a fresh interpreter: ``(stdout, numba loaded)``."""
    code = (
        "import sys\nfrom gaussmix.cli import main\n"
        f"sys.argv = ['gaussmix', *{[str(a) for a in argv]!r}]\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "print('sklearn.cluster' in sys.modules, 'numba' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout, done.stdout.split()[-1] == "True"


def _cli_fit_in_a_new_process(tmp_path, *options):
    """Run ``gaussmix fit`` on Old Faithful in a fresh interpreter: ``(model path, data path, numba loaded)``."""
    data = Path(__file__).resolve().parent.parent / FAITHFUL
    model = tmp_path / "m.gmm"
    _, numba_loaded = _cli_in_a_new_process("fit", data, "-o", model, "-q", *options)
    return model, data, numba_loaded


@pytest.mark.parametrize("covariance", ["full", "EVI"])
def test_a_small_fit_on_the_command_line_loads_no_numba_and_fits_the_same(tmp_path, covariance):
    """Loading Numba costs about 0.8 s, more than the whole fit: the command
    line skips it for a small job, and the NumPy kernels give the compiled
    kernels' fit (this process's, Numba loaded) to rounding."""
    pytest.importorskip("numba")
    if not tie_order_verified():
        # Old Faithful's values tie within rounding: the command line's
        # k-means (NumPy's BLAS) and the library's (compiled) then follow
        # their own BLAS's order of sums, checked equal for OpenBLAS's Haswell kernels.
        pytest.skip("k-means on data with ties under an unchecked BLAS (see tie_order_verified)")
    from gaussmix import load

    model, data, numba_loaded = _cli_fit_in_a_new_process(tmp_path, "-k", "3", "-c", covariance, "--seed", "1")
    assert not numba_loaded
    got = load(model)
    X = np.loadtxt(data, delimiter=",", skiprows=1)
    ref = GaussianMixture(3, covariance_type=covariance, random_state=1).fit(X)
    assert got.n_iter_ == ref.n_iter_
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(getattr(got, name), getattr(ref, name), rtol=1e-9, err_msg=name)


def test_a_small_kmeans_start_without_numba_never_imports_sklearn_cluster(tmp_path):
    """Importing sklearn.cluster takes about 0.2 s: a small command-line fit
    (no Numba) takes its k-means start from NumPy (``seeding``), which is
    scikit-learn's k-means (the fit above equals the library's)."""
    data = Path(__file__).resolve().parent.parent / FAITHFUL
    stdout, numba_loaded = _cli_in_a_new_process("fit", data, "-k", "3", "-o", tmp_path / "m.gmm", "-q")
    assert not numba_loaded
    assert stdout.split()[-2] == "False", "sklearn.cluster was imported"


def test_the_command_line_loads_numba_for_the_hierarchical_start(tmp_path):
    """The hierarchical start's merges are compiled loops (51 s as plain
    Python for 2176 rows): a fit that starts from it loads Numba."""
    pytest.importorskip("numba")
    _, _, numba_loaded = _cli_fit_in_a_new_process(tmp_path, "-k", "3", "--init", "hc")
    assert numba_loaded


@pytest.mark.parametrize("covariance, init, max_iter, holes, skips", [
    ("full", "kmeans", 100, None, True),
    ("EVI", "random", 100, None, True),
    ("VEV", "kmeans", 100, None, False),  # an iterative M-step: compiled inner loops
    ("full", "hc", 100, None, False),  # the hierarchical start: compiled merges
    ("full", "kmeans", 100, 20, True),  # a row in 20 with a hole: 14 rows marginalised in Python
    ("full", "kmeans", 100, 2, False),  # every other row: 136 rows, 1.3 s as plain Python
    ("full", "kmeans", 20_000, None, False),  # 20 000 passes cost NumPy more than loading
])
def test_which_small_fits_skip_loading_numba(monkeypatch, covariance, init, max_iter, holes, skips):
    from gaussmix import compiled
    from gaussmix.cli.common import skip_compiling_if_small

    asked = []
    monkeypatch.setattr(compiled, "skip_loading", lambda: asked.append(True) or True)
    X = np.random.default_rng(0).normal(size=(272, 2))
    if holes:
        X[::holes, 1] = np.nan
    assert skip_compiling_if_small(X, 3, covariance, init, max_iter) is skips
    assert asked == ([True] if skips else [])


def test_worth_loading_weighs_the_numpy_kernels_extra_time_against_half_the_load():
    from gaussmix import compiled

    per_pass = compiled.NUMPY_EXTRA_PER_PASS + compiled.NUMPY_EXTRA_PER_ENTRY * 272 * 3
    limit = compiled.LOAD_SECONDS / 2 / per_pass  # passes at which the extra reaches the limit
    assert not compiled.worth_loading(int(limit) - 1, 272, 3, 2)
    assert compiled.worth_loading(int(limit) + 1, 272, 3, 2)
    assert compiled.worth_loading(100, 100_000, 5, 4)  # the rows' cost: 100 passes over 1e5 x 5
    # Past d = 8 the cost per entry grows with d.
    assert compiled.worth_loading(100, 3000, 3, 64) and not compiled.worth_loading(100, 3000, 3, 8)
    # A row with holes costs per component and feature: 100 passes with 20 of them at K=3, d=2 stay
    # small; at K=9, d=8 they do not.
    assert not compiled.worth_loading(100, 300, 3, 2, 20) and compiled.worth_loading(100, 300, 9, 8, 20)


def test_skip_loading_is_refused_once_numba_is_loaded():
    pytest.importorskip("numba")
    from gaussmix import compiled

    compiled.load()
    assert compiled.skip_loading() is False
    assert compiled.AVAILABLE


def test_a_process_that_skips_loading_runs_every_model_on_numpy_kernels():
    """After ``skip_loading`` the process runs as with ``GAUSSMIX_NO_NUMBA=1``:
    the NumPy kernel takes every pass, Numba is never imported, and each
    closed-form model fits as this process does with Numba, to rounding."""
    pytest.importorskip("numba")
    codes = ["EII", "VII", "EEI", "EVI", "VVI", "EEE", "EEV", "EVV", "VVV"]
    code = (
        "import json, sys\nimport numpy as np\nfrom gaussmix import compiled, GaussianMixture\n"
        "from gaussmix.engine import kernels\n"
        "assert compiled.skip_loading()\n"
        "X = np.random.default_rng(3).normal(size=(400, 3))\n"
        "X[:150] += 4\n"
        "names = {s: kernels.select('numpy', 'float64', s, 3, 3).name for s in "
        "('full', 'shared', 'diag', 'spherical')}\n"
        f"fits = {{c: GaussianMixture(3, covariance_type=c, random_state=0).fit(X).covariances_.tolist() "
        f"for c in {codes!r}}}\n"
        "print(json.dumps([names, fits, 'numba' in sys.modules]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    names, fits, numba_loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert not numba_loaded
    assert set(names.values()) == {"numpy"}
    X = np.random.default_rng(3).normal(size=(400, 3))
    X[:150] += 4
    for c in codes:
        ref = GaussianMixture(3, covariance_type=c, random_state=0).fit(X).covariances_
        np.testing.assert_allclose(fits[c], ref, rtol=1e-9, err_msg=c)


def test_predict_info_and_impute_on_small_data_load_no_numba_and_give_the_same(tmp_path):
    """A model's load factorises its covariances, compiled, and predict makes
    one pass: both run on NumPy for small data, with the same predictions."""
    pytest.importorskip("numba")
    import pandas as pd

    X = np.random.default_rng(5).normal(size=(300, 3))
    X[:100] += 3
    data = tmp_path / "x.csv"
    pd.DataFrame(X, columns=["a", "b", "c"]).to_csv(data, index=False)
    gm = GaussianMixture(3, random_state=0).fit(pd.DataFrame(X, columns=["a", "b", "c"]))
    gm.save(tmp_path / "m.gmm")
    _, numba_loaded = _cli_in_a_new_process("predict", tmp_path / "m.gmm", data, "-o", tmp_path / "p.csv")
    assert not numba_loaded
    got = pd.read_csv(tmp_path / "p.csv")
    np.testing.assert_allclose(got[["prob_0", "prob_1", "prob_2"]], gm.predict_proba(X), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(got["log_density"], gm.score_samples(X), rtol=1e-11)
    _, numba_loaded = _cli_in_a_new_process("info", tmp_path / "m.gmm")
    assert not numba_loaded
    # Sixty rows with a hole, marginalised row by row in plain Python: the
    # same probabilities and imputed values as the compiled loops'.
    X[::5, 1] = np.nan
    pd.DataFrame(X, columns=["a", "b", "c"]).to_csv(data, index=False)
    _, numba_loaded = _cli_in_a_new_process("predict", tmp_path / "m.gmm", data, "-o", tmp_path / "q.csv")
    assert not numba_loaded
    got = pd.read_csv(tmp_path / "q.csv")
    np.testing.assert_allclose(got[["prob_0", "prob_1", "prob_2"]], gm.predict_proba(X), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(got["log_density"], gm.score_samples(X), rtol=1e-11)
    _, numba_loaded = _cli_in_a_new_process("impute", tmp_path / "m.gmm", data, "-o", tmp_path / "i.csv")
    assert not numba_loaded
    np.testing.assert_allclose(pd.read_csv(tmp_path / "i.csv")[["a", "b", "c"]], gm.impute(X), rtol=1e-10)


def test_a_data_file_past_the_peek_size_is_not_read_to_decide(tmp_path, monkeypatch):
    """predict, plot and impute read DATA again to work: a big file is not read
    a second time to weigh the load, and keeps Numba."""
    import pandas as pd

    from gaussmix import compiled, io
    from gaussmix.cli import common

    X = np.random.default_rng(5).normal(size=(300, 3))
    pd.DataFrame(X, columns=["a", "b", "c"]).to_csv(tmp_path / "x.csv", index=False)
    GaussianMixture(3, random_state=0).fit(X).save(tmp_path / "m.gmm")
    asked, read = [], []
    monkeypatch.setattr(compiled, "skip_loading", lambda: asked.append(True) or True)
    monkeypatch.setattr(io, "read_frame", lambda path: read.append(path) or pd.read_csv(path))
    assert common.skip_compiling_for_passes(tmp_path / "m.gmm", tmp_path / "x.csv") is True
    assert len(asked) == len(read) == 1  # the control: a small file is read and skips
    monkeypatch.setattr(common, "PEEK_BYTES", 1000)
    assert common.skip_compiling_for_passes(tmp_path / "m.gmm", tmp_path / "x.csv") is False
    assert len(asked) == len(read) == 1


@pytest.mark.parametrize("argv, status", [(["--version"], 0), (["fit", "no-such-file.csv"], 1)])
def test_the_script_exits_as_main_does_with_its_objects_frozen(argv, status):
    """``gaussmix`` and ``python -m gaussmix`` run :func:`gaussmix.cli.run`:
    ``main``'s output and exit status, then every object frozen (``gc.freeze``),
    so that the collections at exit skip them (the freeze is its only work)."""
    from importlib.metadata import entry_points

    (script,) = entry_points(group="console_scripts", name="gaussmix")
    assert script.value == "gaussmix.cli:run"
    probe = ("import atexit, gc\n"
             "atexit.register(lambda: print('frozen', gc.get_freeze_count() > 0))\n"
             "import runpy\nrunpy.run_module('gaussmix', run_name='__main__')\n")
    done = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True)
    assert done.returncode == status, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "frozen True"
    if status == 0:
        assert done.stdout.startswith(f"gaussmix {gaussmix.__version__}")
    else:
        assert done.stderr.startswith("gaussmix: error: no data file at no-such-file.csv")
