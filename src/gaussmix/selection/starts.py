"""What every cell of a selection starts from: mclust's hierarchical partitions, and the tolerance.

With missing values (NaN) the tree is grown on the rows a start runs on
(``init.start_rows``: the complete rows, or the rows with something
observed, filled with column means); the E-step that spreads a partition of
those rows over every row, and the one-component fit that sets the
tolerance, use the marginal densities of the observed values.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from array_api_compat import array_namespace, device

from ..estimators import GaussianMixture, shared
from ..exceptions import DegenerateCovarianceError
from ..hc import hc_partitions, tree_rows
from ..namespaces import placement_of_array, to_host
from ..init import start_rows


def hc_starts(X, sample_weight, n_components, random_state):
    """mclust's starting partition for each K: ``K -> (rows, labels, tree_rows)``.

    The tree is grown on the rows of positive weight, unweighted, as mclust
    does; where values are missing, on the rows ``init.start_rows`` gives for
    the largest K (complete rows, or mean-filled ones). ``rows`` index X;
    ``tree_rows`` are those rows as the tree saw them.
    """
    if not isinstance(X, np.ndarray):
        return _hc_starts_on_device(X, sample_weight, n_components, random_state)
    positive = np.arange(X.shape[0]) if sample_weight is None else np.flatnonzero(sample_weight > 0)
    # Each cell's own fit warns about pairs never observed together, if its model has covariances.
    grown_on, _, kept = start_rows(X[positive], None, max(n_components), covariances=False)
    if kept is not None:
        positive = positive[kept]
    trees = hc_partitions(grown_on, n_components, random_state=random_state)
    return {K: (positive[rows], labels, grown_on[rows]) for K, (labels, rows) in trees.items()}


def _hc_starts_on_device(X, sample_weight, n_components, random_state):
    """:func:`hc_starts` for an array of another library (without NaN): the tree's rows cross.

    The tree is grown on at most ``hc.SUBSET_SIZE`` rows, drawn from the
    same stream as on NumPy; only those rows (and their indices) come to
    the host, where the agglomeration runs.
    """
    xp, dev = array_namespace(X), device(X)
    positive = None if sample_weight is None else xp.nonzero(sample_weight > 0)[0]
    n = X.shape[0] if positive is None else positive.shape[0]
    # Drawn as hc_partitions draws them, so that the stream is the same; the
    # tree's rows then number at most SUBSET_SIZE and hc_partitions draws no more.
    index = xp.asarray(tree_rows(n, random_state), device=dev)
    if positive is not None:
        index = xp.take(positive, index)
    grown_on = to_host(xp.take(X, index, axis=0), np.float64)
    index = to_host(index)
    trees = hc_partitions(grown_on, n_components, random_state=random_state)
    return {K: (index[sub], labels, grown_on[sub]) for K, (labels, sub) in trees.items()}


def cell_start(X, sample_weight, K, code, partition, reg_covar, prior, noise=None):
    """Starting responsibilities for one cell from a partition of some rows.

    A partition of every row of complete data is used as it is. Otherwise
    (the tree is grown on at most 2000 rows, on the rows of positive weight,
    and on rows without holes) the partition gives an M-step on the tree's
    rows and an E-step on every row, as mclust does; that E-step marginalises
    missing values. With ``noise`` (a mask of the rows first deemed noise)
    the partition is one of the other rows, which alone get responsibilities;
    the noise's rows get 1/K, which the fit does not read.
    """
    if partition is None:
        return None
    if noise is not None:
        signal = ~noise
        w = None if sample_weight is None else sample_weight[signal]
        resp = np.full((X.shape[0], K), 1.0 / K)
        resp[signal] = cell_start(X[signal], w, K, code, partition, reg_covar, prior)
        return resp
    rows, labels, tree_rows = partition
    # One array for the models of this K (``estimators.sharing``): their
    # fits then share its check and its statistics.
    one_hot = shared("one-hot partition", (partition,), lambda: np.eye(K)[labels], (K,))
    placement = placement_of_array(X)
    if placement is not None:  # another library's rows, which hold no NaN
        if len(rows) == X.shape[0]:
            return placement.asarray(one_hot, "float64")
    elif len(rows) == X.shape[0] and not np.isnan(X).any():
        return one_hot
    if sample_weight is None:
        w = None
    elif placement is None:
        w = sample_weight[rows]
    else:  # the tree's rows are on the host, and so are their (at most 2000) weights
        xp = placement.xp
        w = to_host(xp.take(sample_weight, xp.asarray(rows, device=placement.device)))
    on_subset = GaussianMixture(
        K, covariance_type=code, resp_init=one_hot, max_iter=0, reg_covar=reg_covar, prior=prior
    ).fit(tree_rows, sample_weight=w)
    resp = on_subset.predict_proba(X)
    return resp.astype(np.float64) if placement is None else placement.xp.astype(resp, placement.xp.float64)


def _nanvar64(X, rows=65_536):
    """``np.nanvar(X)`` in float64, chunk by chunk: float32 squares past 3.4e38 would overflow to inf."""
    mean = float(np.nanmean(X, dtype=np.float64))
    squares, count = 0.0, 0
    for start in range(0, X.shape[0], rows):
        centred = X[start:start + rows].astype(np.float64) - mean
        squares += float(np.nansum(centred * centred))
        count += int(np.count_nonzero(~np.isnan(centred)))
    return squares / count if count else math.nan


def mclust_tol(X, sample_weight, tol):
    """mclust's relative tolerance as an absolute one on the mean log-likelihood.

    The scale is the one-component fit's log-likelihood of the observed
    values, over the weight of the rows with something observed.
    """
    placement = placement_of_array(X)
    if placement is None:
        observed = ~np.isnan(X).all(axis=1)
        w = observed if sample_weight is None else np.where(observed, sample_weight, 0.0)
        n, variance = float(np.sum(w)), _nanvar64(X)
    else:  # another library's rows hold no NaN
        xp = placement.xp
        w = xp.ones(X.shape[0], dtype=xp.float64, device=placement.device) if sample_weight is None \
            else sample_weight
        n, variance = float(xp.sum(w)), float(xp.var(xp.astype(X, xp.float64)))
    one = GaussianMixture(1, covariance_type="full", reg_covar=1e-6 * variance, max_iter=1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            one.fit(X, sample_weight=sample_weight)
    except DegenerateCovarianceError:
        # Constant data: no likelihood to scale by (every cell then fails
        # with reg_covar=0, and select says so).
        return tol / n
    log_prob = one.score_samples(X)
    if placement is None:
        log_likelihood = float(np.dot(w, log_prob))
    else:
        log_likelihood = float(placement.xp.sum(w * placement.xp.astype(log_prob, placement.xp.float64)))
    return tol * (1.0 + abs(log_likelihood)) / n
