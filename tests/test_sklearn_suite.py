"""scikit-learn's own tests of its mixtures, run against gaussmix with only the import changed.

The test files come from the installed scikit-learn (its wheel ships them):
``test_gaussian_mixture.py``, ``test_bayesian_mixture.py`` and
``test_mixture.py``. This module reads them, replaces the import of
``GaussianMixture`` and ``BayesianGaussianMixture`` by gaussmix's, and runs
every test that uses the public API
alone, in float64 and float32 (scikit-learn runs its float32 cases only with
``SKLEARN_RUN_FLOAT32_TESTS=1``; here they always run, see conftest.py). Nothing of scikit-learn's is copied here: a newer scikit-learn
brings its newer tests.

Left out, with the reason:
"""

import importlib.util
from pathlib import Path

import pytest

#: Tests of scikit-learn's private helpers, which test scikit-learn, not the
#: estimator; and tests that call the estimator's private methods.
PRIVATE = {
    "test_suffstat_sk_full": "scikit-learn's _estimate_gaussian_covariances_full",
    "test_suffstat_sk_tied": "scikit-learn's _estimate_gaussian_covariances_tied",
    "test_suffstat_sk_diag": "scikit-learn's _estimate_gaussian_covariances_diag",
    "test_gaussian_suffstat_sk_spherical": "scikit-learn's _estimate_gaussian_covariances_spherical",
    "test_compute_log_det_cholesky": "scikit-learn's _compute_log_det_cholesky",
    "test_gaussian_mixture_log_probabilities": "scikit-learn's _estimate_log_gaussian_prob",
    "test_gaussian_mixture_precisions_init": "calls the private _initialize and _set_parameters "
                                             "(its intent is tests/test_parameters.py's)",
    "test_gaussian_mixture_all_init_does_not_estimate_gaussian_parameters":
        "counts calls of scikit-learn's private _estimate_gaussian_parameters "
        "(its intent is tests/test_parameters.py's)",
    "test_log_dirichlet_norm": "scikit-learn's _log_dirichlet_norm",
    "test_log_wishart_norm": "scikit-learn's _log_wishart_norm",
    "test_compare_covar_type": "calls the private _check_parameters and _initialize_parameters "
                               "(tests/test_bayesian.py compares the four types with scikit-learn's)",
}
#: scikit-learn refuses the k-means starts under array-API dispatch; gaussmix
#: runs them on the device (``seeding``; tests/test_array_api.py).
ARRAY_API = {
    "test_gaussian_mixture_raises_where_array_api_not_implemented":
        "gaussmix supports the k-means starts under array-API dispatch",
}
LEFT_OUT = {**PRIVATE, **ARRAY_API}
__doc__ += "".join(f"\n- ``{name}``: {why}." for name, why in LEFT_OUT.items())

IMPORT = "from sklearn.mixture import GaussianMixture\n"


def _load(module, replace):
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:  # pragma: no cover - a scikit-learn without tests
        pytest.skip(f"{module} is not installed with scikit-learn", allow_module_level=True)
    source = Path(spec.origin).read_text()
    old, new = replace
    assert source.count(old) == 1, f"{module} no longer imports GaussianMixture as expected"
    namespace = {"__name__": f"{__name__}.{module.rsplit('.', 1)[-1]}", "__file__": spec.origin}
    exec(compile(source.replace(old, new), spec.origin, "exec"), namespace)
    return {name: obj for name, obj in namespace.items()
            if name.startswith("test_") and callable(obj) and name not in LEFT_OUT}


TESTS = {
    **_load("sklearn.mixture.tests.test_gaussian_mixture",
            (IMPORT, "from gaussmix import GaussianMixture\n")),
    # Suffixed: two files define test_monotonic_likelihood.
    **{f"{name}_bayesian": obj for name, obj in _load(
        "sklearn.mixture.tests.test_bayesian_mixture",
        ("from sklearn.mixture import BayesianGaussianMixture\n",
         "from gaussmix import BayesianGaussianMixture\n"),
    ).items()},
    **{f"{name}_mixture": obj for name, obj in _load(
        "sklearn.mixture.tests.test_mixture",
        ("from sklearn.mixture import BayesianGaussianMixture, GaussianMixture\n",
         "from gaussmix import BayesianGaussianMixture, GaussianMixture\n"),
    ).items()},
}
globals().update(TESTS)


def test_the_suite_was_found_and_runs_against_gaussmix():
    import gaussmix

    assert len(TESTS) >= 40
    spec = importlib.util.find_spec("sklearn.mixture.tests.test_gaussian_mixture")
    assert "GaussianMixture" in Path(spec.origin).read_text()
    namespace = TESTS["test_gaussian_mixture_attributes"].__globals__
    assert namespace["GaussianMixture"] is gaussmix.GaussianMixture
    namespace = TESTS["test_monotonic_likelihood_bayesian"].__globals__
    assert namespace["BayesianGaussianMixture"] is gaussmix.BayesianGaussianMixture
