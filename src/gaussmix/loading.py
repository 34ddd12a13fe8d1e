"""``gaussmix.load``: the estimator a model file holds, whichever it is, checked."""

from __future__ import annotations

from .estimators import load_model
from .estimators.classifier import GaussianMixtureClassifier
from .estimators.classifier_files import NAME as CLASSIFIER
from .io.models import read_model


def load(path):
    """Read a model file written by ``save``: the estimator it holds, checked.

    A mixture (``GaussianMixture``, ``BayesianGaussianMixture``) or a
    ``GaussianMixtureClassifier``.

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
        return GaussianMixtureClassifier.from_file(meta, path)
    return load_model(path)
