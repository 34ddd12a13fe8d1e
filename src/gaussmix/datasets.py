"""Small data sets for examples and the demo."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Dataset(NamedTuple):
    """A data set: rows, the name of each column, and a known grouping."""

    data: np.ndarray
    feature_names: list
    labels: np.ndarray


def load_iris():
    """The iris flowers, from scikit-learn's bundled copy (no download).

    Returns
    -------
    Dataset
        ``data`` (150, 4): sepal length, sepal width, petal length and petal
        width in cm; ``labels``: the species of each flower.
    """
    from sklearn.datasets import load_iris as _sk_load_iris

    bunch = _sk_load_iris()
    names = [n.replace(" (cm)", "").replace(" ", "_") for n in bunch.feature_names]
    return Dataset(np.asarray(bunch.data, dtype=np.float64), names, bunch.target_names[bunch.target])
