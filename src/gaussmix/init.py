"""Starting responsibilities for EM: k-means, k-means++, random, random rows.

Each method returns a function ``resp_for_chunk(slice) -> (n_rows, K)`` so
that the first M-step is computed chunk by chunk like any other; no
(n_samples, n_components) array is built. The methods and their random
streams are scikit-learn's, so that the same ``random_state`` gives the same
start. Sample weights enter every method: a row of weight 2 counts as two
rows, and a row of weight 0 is never chosen.

========================= ====================================================
``init_params``           starting responsibilities
========================= ====================================================
``"kmeans"``              one-hot labels of a (weighted) k-means fit
``"k-means++"``           one-hot at K rows seeded by (weighted) k-means++
``"random"``              uniform random, normalised per row
``"random_from_data"``    one-hot at K rows drawn with probability ∝ weight
``"hc"``                  one-hot labels of mclust's hierarchical agglomeration
                          (on at most 2000 rows of positive weight; the other
                          rows start with no responsibility, so the first
                          M-step uses the tree's rows, as mclust does)
========================= ====================================================
"""

from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans, kmeans_plusplus

INIT_METHODS = ("kmeans", "k-means++", "random", "random_from_data", "hc")


def _one_hot_labels(labels, n_components):
    def resp_for_chunk(sl):
        lab = labels[sl]
        resp = np.zeros((lab.shape[0], n_components))
        labelled = lab >= 0  # -1: a row outside the starting partition
        resp[np.flatnonzero(labelled), lab[labelled]] = 1.0
        return resp

    return resp_for_chunk


def _one_hot_rows(indices, n_components):
    indices = np.asarray(indices)

    def resp_for_chunk(sl):
        resp = np.zeros((sl.stop - sl.start, n_components))
        for k, i in enumerate(indices):
            if sl.start <= i < sl.stop:
                resp[i - sl.start, k] = 1.0
        return resp

    return resp_for_chunk


def _random_resp(random_state, n_components):
    # Drawing each chunk's rows in order consumes the stream exactly as one
    # (n_samples, K) draw would, so the start equals scikit-learn's.
    def resp_for_chunk(sl):
        resp = random_state.uniform(size=(sl.stop - sl.start, n_components))
        return resp / resp.sum(axis=1, keepdims=True)

    return resp_for_chunk


def initial_resp(X, sample_weight, n_components, method, random_state):
    """Return ``resp_for_chunk`` for the chosen initialisation.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    sample_weight : ndarray of shape (n_samples,) or None
    n_components : int
    method : str
        One of :data:`INIT_METHODS`.
    random_state : numpy.random.RandomState

    Notes
    -----
    ``"random"`` must be asked for its chunks in order, once.
    """
    if method == "kmeans":
        km = KMeans(n_clusters=n_components, n_init=1, random_state=random_state)
        labels = km.fit(X, sample_weight=sample_weight).labels_
        return _one_hot_labels(labels, n_components)
    if method == "k-means++":
        _, indices = kmeans_plusplus(
            X, n_components, random_state=random_state, sample_weight=sample_weight
        )
        return _one_hot_rows(indices, n_components)
    if method == "random":
        return _random_resp(random_state, n_components)
    if method == "random_from_data":
        p = None if sample_weight is None else sample_weight / sample_weight.sum()
        indices = random_state.choice(X.shape[0], size=n_components, replace=False, p=p)
        return _one_hot_rows(indices, n_components)
    if method == "hc":
        from .hc import hc_partitions

        positive = np.arange(X.shape[0]) if sample_weight is None else np.flatnonzero(sample_weight > 0)
        labels, rows = hc_partitions(X[positive], [n_components], random_state=random_state)[
            n_components
        ]
        full = np.full(X.shape[0], -1)
        full[positive[rows]] = labels
        return _one_hot_labels(full, n_components)
    raise ValueError(
        f"init_params={method!r} is not supported; choose one of {list(INIT_METHODS)}."
    )
