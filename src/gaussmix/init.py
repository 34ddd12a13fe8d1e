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

import logging
import warnings

import numpy as np
from array_api_compat import array_namespace, device

from . import compiled, kmeans_small
from .engine import threads
from .exceptions import MissingValuesWarning

INIT_METHODS = ("kmeans", "k-means++", "random", "random_from_data", "hc")

logger = logging.getLogger("gaussmix")


def complete_rows_needed(n_components, n_features):
    """Complete rows a start needs before it may ignore the incomplete ones."""
    return max(10, 2 * n_features) * n_components


def start_rows(X, sample_weight, n_components, covariances=True):
    """The rows a start runs on, when some of X's values are missing (NaN).

    Every method (``init_params`` and mclust's hierarchical start) runs on
    rows without holes: the complete rows, if there are at least
    :func:`complete_rows_needed` of positive weight (10, or twice the
    number of features, per component); otherwise every row with something
    observed, its holes filled with the observed (weighted) column means. A
    log record says which. EM itself then runs on every row, with the
    holes marginalised. The rule reads only the start's rows, so a stream
    (whose start reads a sample) and an array in memory choose alike. With
    ``covariances`` (a model that estimates them), a pair of features never
    observed together in a row of positive weight gives a
    ``MissingValuesWarning``.

    Returns
    -------
    X : ndarray without NaN
    sample_weight : ndarray or None
    rows : ndarray of bool or None
        Which of the given rows were kept (None: all, in order).
    """
    if not isinstance(X, np.ndarray):
        return X, sample_weight, None  # another library's array: its NaN rows were dropped
    holes = np.isnan(X)
    if not holes.any():
        return X, sample_weight, None
    n, d = X.shape
    positive = np.ones(n, dtype=bool) if sample_weight is None else sample_weight > 0
    if covariances:
        _warn_unidentified(holes[positive])
    complete = ~holes.any(axis=1)
    if np.count_nonzero(complete & positive) >= complete_rows_needed(n_components, d):
        logger.info("the start runs on the %d complete rows of %d", np.count_nonzero(complete), n)
        return X[complete], None if sample_weight is None else sample_weight[complete], complete
    observed = ~holes.all(axis=1)
    w = np.where(positive, 1.0, 0.0) if sample_weight is None else sample_weight
    seen = (~holes) * w[:, None]
    totals = seen.sum(axis=0)
    if np.any(totals <= 0):
        never = np.flatnonzero(totals <= 0).tolist()
        raise ValueError(
            f"feature(s) {never} have no observed value (every value is missing); "
            f"drop those columns."
        )
    column_means = (np.where(holes, 0.0, X) * seen).sum(axis=0) / totals
    logger.info(
        "the start runs on %d rows with their missing values filled by the column means "
        "(%d complete rows are too few)", np.count_nonzero(observed), np.count_nonzero(complete),
    )
    filled = np.where(holes, column_means, X)[observed]
    return filled, None if sample_weight is None else sample_weight[observed], observed


def _warn_unidentified(holes):
    # float32 counts are exact far enough: only "none" matters.
    observed = (~holes).astype(np.float32)
    together = observed.T @ observed
    never = [(int(a), int(b)) for a, b in zip(*np.nonzero(together == 0)) if a < b]
    if never:
        shown = ", ".join(f"({a}, {b})" for a, b in never[:5]) + (", ..." if len(never) > 5 else "")
        warnings.warn(
            f"feature pair(s) {shown} are never observed in the same row, so their covariance "
            f"cannot be estimated: it stays near its starting value. Use a diagonal model "
            f"(VVI) or collect rows where both are observed.",
            MissingValuesWarning,
            stacklevel=4,
        )


def _one_hot_labels(labels, n_components):
    xp = array_namespace(labels)
    columns = xp.arange(n_components, device=device(labels))

    def resp_for_chunk(sl):
        # A label of -1 (outside the starting partition) matches no column: a zero row.
        return xp.astype(xp.expand_dims(labels[sl], axis=1) == columns, xp.float64)

    return resp_for_chunk


def _every_row_in_one(xp, on):
    def resp_for_chunk(sl):
        return xp.ones((sl.stop - sl.start, 1), dtype=xp.float64, device=on)

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


def initial_resp(X, sample_weight, n_components, method, random_state, keep_draws=False):
    """Return ``resp_for_chunk`` for the chosen initialisation.

    The k-means starts are scikit-learn's (see ``_kmeans_runner`` for
    which implementation runs): NumPy rows take scikit-learn's or, where
    small, a compiled copy; another library's rows (under
    ``array_api_dispatch``) take ``seeding``'s, on their device, which
    consumes the same random stream and gives the same start. mclust's
    ``"hc"`` runs on NumPy only (``select`` grows its tree on a sample of a
    device's rows).

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
    sample_weight : array of shape (n_samples,) or None
    n_components : int
    method : str
        One of :data:`INIT_METHODS`.
    random_state : numpy.random.RandomState
    keep_draws : bool
        Run k-means even for one component, whose labels are known without
        it, so that its draws from ``random_state`` are made: a fit that
        draws again after its start (online EM's row order) then goes on
        from the same stream as before.

    Notes
    -----
    ``"random"`` must be asked for its chunks in order, once.
    """
    on_host = isinstance(X, np.ndarray)
    if method == "kmeans" and n_components == 1 and not keep_draws:
        # One cluster holds every row, whatever k-means does: its labels
        # are all 0. scikit-learn's k-means took 1.5 ms for that on 145
        # rows, more than the whole EM (and select's tolerance fits one).
        return _every_row_in_one(array_namespace(X), device(X))
    if method in ("kmeans", "k-means++"):
        run = _kmeans_runner(X, n_components, method)
        found = run(X, n_components, random_state, sample_weight=sample_weight)
        return (_one_hot_labels if method == "kmeans" else _one_hot_rows)(found, n_components)
    if method == "random":
        return _random_resp(random_state, n_components)
    if method == "random_from_data":
        if sample_weight is None:
            p = None
        else:
            p = sample_weight / array_namespace(sample_weight).sum(sample_weight)
        if on_host or p is None:  # NumPy's own draw (without p: a host permutation)
            indices = random_state.choice(X.shape[0], size=n_components, replace=False, p=p)
        else:  # the same draw, with p on its device
            indices = _seeding().choice_rows(X.shape[0], n_components, random_state, p=p)
        return _one_hot_rows(indices, n_components)
    if method == "hc" and on_host:
        from .hc import hc_partitions

        positive = np.arange(X.shape[0]) if sample_weight is None else np.flatnonzero(sample_weight > 0)
        labels, rows = hc_partitions(X[positive], [n_components], random_state=random_state)[
            n_components
        ]
        full = np.full(X.shape[0], -1)
        full[positive[rows]] = labels
        return _one_hot_labels(full, n_components)
    if method == "hc":
        raise ValueError(
            f"init_params='hc' runs on NumPy arrays only; choose one of "
            f"{[m for m in INIT_METHODS if m != 'hc']} for arrays of other libraries, or pass NumPy."
        )
    raise ValueError(
        f"init_params={method!r} is not supported; choose one of {list(INIT_METHODS)}."
    )


def _kmeans_runner(X, n_components, method):
    """Which implementation of scikit-learn's k-means (or k-means++) runs for X.

    All give scikit-learn's result from the same stream. Another library's
    rows: ``seeding``'s, on their device. Small float64 NumPy data:
    ``kmeans_small``'s, compiled (scikit-learn spends about 1.3 ms of
    Python on 150 rows). Small data in a process without Numba (a small
    command-line job skips loading it): ``seeding``'s on NumPy, which costs
    what scikit-learn's does there but not the 0.2 s import of
    sklearn.cluster. Otherwise scikit-learn's own.
    """
    name = "kmeans_labels" if method == "kmeans" else "kmeans_plusplus"
    if not isinstance(X, np.ndarray):
        return getattr(_seeding(), name)
    if kmeans_small.runs_compiled(X, n_components):
        return getattr(kmeans_small, name)
    if not compiled.AVAILABLE and X.size * n_components <= kmeans_small.MAX_WORK:
        return getattr(_seeding(), name)
    return _sklearn_kmeans_labels if method == "kmeans" else _sklearn_kmeans_plusplus


# sklearn.cluster is imported at the first k-means start, not with the module:
# it takes a fifth of a second, which a fit from a given start never needs.
# Both limit BLAS themselves: in a thread other than the main one they wait
# for the main thread's one-thread window (engine.threads.outside_blas_window).
def _sklearn_kmeans_labels(X, n_clusters, random_state, sample_weight=None):
    from sklearn.cluster import KMeans

    km = KMeans(n_clusters=n_clusters, n_init=1, random_state=random_state)
    with threads.outside_blas_window():
        return km.fit(X, sample_weight=sample_weight).labels_


def _sklearn_kmeans_plusplus(X, n_clusters, random_state, sample_weight=None):
    from sklearn.cluster import kmeans_plusplus

    with threads.outside_blas_window():
        return kmeans_plusplus(X, n_clusters, random_state=random_state, sample_weight=sample_weight)[1]


def _seeding():
    from . import seeding

    return seeding
