"""Fixtures that scikit-learn's own test files expect (``tests/test_sklearn_suite.py``); BLAS in xdist workers; slow tests."""

import os
import sys

# scikit-learn's array-API dispatch needs SciPy's, which SciPy reads once, at
# its import: so before anything imports SciPy (the array-API tests).
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

#: scikit-learn runs its float32 cases only with SKLEARN_RUN_FLOAT32_TESTS=1;
#: gaussmix promises float32, so they always run here.
GLOBAL_DTYPES = [np.float64, np.float32]


@pytest.fixture(params=GLOBAL_DTYPES, ids=[np.dtype(d).name for d in GLOBAL_DTYPES])
def global_dtype(request):
    return request.param


def pytest_generate_tests(metafunc):
    # scikit-learn's default seed (SKLEARN_TESTS_GLOBAL_RANDOM_SEED picks others there).
    if "global_random_seed" in metafunc.fixturenames:
        seeds = os.environ.get("SKLEARN_TESTS_GLOBAL_RANDOM_SEED", "42")
        metafunc.parametrize("global_random_seed", [int(s) for s in seeds.split(",")])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    # Each pytest-xdist worker is one of as many processes as cores: BLAS's
    # own threads on top of them spin against the other workers' (on 2 cores
    # test_map_exact.py took 110 s with BLAS's default threads, 33 s with
    # one). So a worker's test runs with BLAS on one thread, but for those
    # marked blas_threads, which hold how gaussmix sets BLAS's threads and
    # need the process's own setting (OpenBLAS ignores a change from another
    # thread while the main thread holds one of its own).
    if not os.environ.get("PYTEST_XDIST_WORKER") or item.get_closest_marker("blas_threads"):
        yield
        return
    # threadpoolctl sets the libraries loaded so far: SciPy's own OpenBLAS
    # (scipy.linalg) is loaded first.
    import scipy.linalg  # noqa: F401
    from threadpoolctl import threadpool_limits

    # torch's own threads too, where a test before this one loaded torch.
    torch = sys.modules.get("torch")
    torch_threads = None if torch is None else torch.get_num_threads()
    with threadpool_limits(1, user_api="blas"):
        if torch_threads is not None:
            torch.set_num_threads(1)
        try:
            yield
        finally:
            if torch_threads is not None:
                torch.set_num_threads(torch_threads)


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true",
                     help="also run tests marked slow (another test covers what each checks)")


def pytest_collection_modifyitems(config, items):
    # Kept out of the default run (the README's test command): each slow
    # test repeats on a larger grid what a faster one checks.
    if config.getoption("--run-slow") or os.environ.get("GAUSSMIX_RUN_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow: run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
