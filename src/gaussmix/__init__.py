"""gaussmix: Gaussian mixture models fitted by EM.

scikit-learn's estimator API on an engine that is a map-reduce over
sufficient statistics, with mclust's covariance models.
"""

from ._version import __version__
from .backends import ChunkedData, NpySource, ParquetSource
from .conjugate import ConjugatePrior
from .criteria import Criteria
from .estimators import BayesianGaussianMixture, GaussianMixture, load_model as load
from .exceptions import DegenerateComponentWarning, DegenerateCovarianceError, MissingValuesWarning
from .io import ModelFileError
from .models import available_models
from .selection import SelectionResult, select

__all__ = [
    "GaussianMixture",
    "BayesianGaussianMixture",
    "ConjugatePrior",
    "DegenerateComponentWarning",
    "DegenerateCovarianceError",
    "available_models",
    "select",
    "load",
    "MissingValuesWarning",
    "ModelFileError",
    "SelectionResult",
    "Criteria",
    "ChunkedData",
    "NpySource",
    "ParquetSource",
    "__version__",
]
