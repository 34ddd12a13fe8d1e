"""gaussmix: Gaussian mixture models fitted by EM.

scikit-learn's estimator API on an engine that is a map-reduce over
sufficient statistics, with mclust's covariance models.

The public names are imported on first use (PEP 562), so that ``import
gaussmix`` and the command line's ``--help`` do not pay for scikit-learn,
SciPy and Numba; ``from gaussmix import GaussianMixture`` imports what that
class needs.
"""

from importlib import import_module

from ._version import __version__

#: Public name -> (module, attribute), imported on first access.
_LAZY = {
    "GaussianMixture": ("estimators", "GaussianMixture"),
    "BayesianGaussianMixture": ("estimators", "BayesianGaussianMixture"),
    "GaussianMixtureClassifier": ("estimators.classifier", "GaussianMixtureClassifier"),
    "load": ("loading", "load"),
    "ConjugatePrior": ("conjugate", "ConjugatePrior"),
    "Criteria": ("criteria", "Criteria"),
    "ChunkedData": ("backends", "ChunkedData"),
    "NpySource": ("backends", "NpySource"),
    "ParquetSource": ("backends", "ParquetSource"),
    "DegenerateComponentWarning": ("exceptions", "DegenerateComponentWarning"),
    "DegenerateCovarianceError": ("exceptions", "DegenerateCovarianceError"),
    "MissingValuesWarning": ("exceptions", "MissingValuesWarning"),
    "ModelFileError": ("io", "ModelFileError"),
    "available_models": ("models", "available_models"),
    "select": ("selection", "select"),
    "SelectionResult": ("selection", "SelectionResult"),
    "bootstrap_lrt": ("selection", "bootstrap_lrt"),
    "BootstrapLRTResult": ("selection", "BootstrapLRTResult"),
}

__all__ = [
    "GaussianMixture",
    "BayesianGaussianMixture",
    "GaussianMixtureClassifier",
    "ConjugatePrior",
    "DegenerateComponentWarning",
    "DegenerateCovarianceError",
    "available_models",
    "select",
    "load",
    "MissingValuesWarning",
    "ModelFileError",
    "SelectionResult",
    "bootstrap_lrt",
    "BootstrapLRTResult",
    "Criteria",
    "ChunkedData",
    "NpySource",
    "ParquetSource",
    "__version__",
]


def __getattr__(name):
    try:
        module, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'gaussmix' has no attribute {name!r}") from None
    value = getattr(import_module(f".{module}", __name__), attribute)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
