"""Start-up: what ``import gaussmix`` and ``gaussmix --help`` load (not how long: that is bench_small's).

Both must answer without scikit-learn, SciPy, Numba or pandas, which took
seconds to import; the public names still resolve, on first use.
"""

import json
import subprocess
import sys

import pytest

import gaussmix

HEAVY = ("sklearn", "scipy", "numba", "pandas", "matplotlib", "dask")


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


def test_a_command_loads_what_it_needs():
    # The control: the probe does see a heavy import where there is one.
    assert "sklearn" in _modules_after("from gaussmix import GaussianMixture")


@pytest.mark.parametrize("name", [n for n in gaussmix.__all__ if n != "__version__"])
def test_every_public_name_resolves(name):
    value = getattr(gaussmix, name)
    assert value is not None and name in dir(gaussmix)


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        gaussmix.nope  # noqa: B018
