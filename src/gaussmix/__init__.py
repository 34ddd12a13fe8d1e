"""gaussmix: Gaussian mixture models fitted by EM.

scikit-learn's estimator API on an engine that is a map-reduce over
sufficient statistics, with mclust's covariance models.
"""

from ._structures import DegenerateCovarianceError
from .backends import ChunkedData, NpySource, ParquetSource
from .io import ModelFileError, load_model as load
from .mixture import DegenerateComponentWarning, GaussianMixture
from .models import available_models
from .selection import SelectionResult, select

__version__ = "0.1.0"

__all__ = [
    "GaussianMixture",
    "DegenerateComponentWarning",
    "DegenerateCovarianceError",
    "available_models",
    "select",
    "load",
    "ModelFileError",
    "SelectionResult",
    "ChunkedData",
    "NpySource",
    "ParquetSource",
    "__version__",
]
