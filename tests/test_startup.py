"""Start-up: what ``import gaussmix`` and ``gaussmix --help`` load (not how long: that is bench_small's).

Both must answer without scikit-learn, SciPy, Numba or pandas, which took
seconds to import; the public names still resolve, on first use.
"""

import json
import subprocess
import sys

import numpy as np
import pytest

import gaussmix
from gaussmix import GaussianMixture

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
