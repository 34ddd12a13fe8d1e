"""The estimators: scikit-learn's plumbing over the engine (``base``) and its subclasses."""

from ..io.models import ModelFileError, read_model
from .base import BaseMixture, scoring_fits, vetting_starts
from .bayesian import BayesianGaussianMixture
from .classifier_files import NAME as CLASSIFIER
from .files import read_model_file
from .gaussian import GaussianMixture
from .sharing import shared, sharing_starts

#: The estimators a model file may hold, by the name it records.
ESTIMATORS = {cls.__name__: cls for cls in (GaussianMixture, BayesianGaussianMixture)}


def load_model(path):
    """Read a mixture's model file written by ``save``: the estimator it holds, checked.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ModelFileError
        If the file is not a gaussmix model, is damaged, or holds
        parameters that break the model's invariants.
    """
    meta, _ = read_model(path, names=())
    if meta.get("estimator") == CLASSIFIER:
        raise ModelFileError(f"{path} holds a {CLASSIFIER}, not a mixture: 'gaussmix predict' reads it, "
                             f"and gaussmix.load in Python.")
    meta, arrays = read_model_file(path)
    name = meta.get("estimator", "GaussianMixture")
    cls = ESTIMATORS.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ModelFileError(f"{path}: it holds an unknown estimator {name!r}; the file is damaged or was altered.")
    return cls._from_file(meta, arrays, path)


__all__ = ["BaseMixture", "BayesianGaussianMixture", "GaussianMixture", "load_model", "scoring_fits", "shared",
           "sharing_starts", "vetting_starts"]
