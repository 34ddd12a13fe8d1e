"""The estimator's data: sources for fitting and scoring, chunk sizes, the start's rows.

These functions read an estimator's parameters (``n_components``,
``covariance_type``, ``chunk_size``, ``init_sample_size``) and turn what a
user passes as X into a source (``backends``): an array validated in memory,
or a stream (a file, a memmap, an iterable, a Dask collection).
"""

from __future__ import annotations

import numpy as np

from .. import validation as val
from .. import validation_xp as val_xp
from ..backends import ArraySource, streamed_source
from ..backends.dask import is_dask_collection
from ..engine.passes import chunk_rows
from ..models import get_model
from ..namespaces import placement_of

#: ``init_sample_size="auto"`` for streamed and Dask data: at most this many
#: rows, and at most ``INIT_SAMPLE_BYTES`` of them.
AUTO_INIT_SAMPLE_ROWS = 100_000
INIT_SAMPLE_BYTES = 64 * 2**20


def chunk_size(estimator, n_features, n_rows=None, kernel_dtype=None, placement=None):
    """``estimator.chunk_size``, or rows per chunk within the memory budget.

    With ``n_rows`` known the rows split into equal chunks. ``kernel_dtype``
    is given only where each chunk's work is one kernel pass over chunks of
    that dtype (``engine.passes.chunk_rows``).
    """
    if estimator.chunk_size is not None:
        return int(estimator.chunk_size)
    model, _ = get_model(estimator.covariance_type)
    return chunk_rows(model.structure, estimator.n_components, n_features, n_rows, kernel_dtype, placement)


def _fit_weights(estimator, weights):
    """The weights a fit uses: scaled into [1, 2) where the fit does not depend on their scale."""
    return val.scaled_weights(weights) if estimator.scale_free_weights else weights


def nan_policy(estimator, per_row=False):
    """What a NaN in X is for ``estimator`` (``validation.NAN_POLICIES``).

    An estimator without ``nan_policy`` refuses NaN. ``"omit"`` cannot drop
    a row whose result is asked for (``per_row``): such a row is refused.
    """
    policy = getattr(estimator, "nan_policy", "raise")
    return "raise" if per_row and policy == "omit" else policy


def streamed(estimator, X, sample_weight, fitted=False, per_row=False, policy=None):
    """The source of X if X is streamed (file, memmap, iterable, Dask), else None.

    For a fit (``fitted`` False) of an estimator whose fit does not depend
    on the weights' scale, weights given apart from the data are scaled by a
    power of two (``validation.scaled_weights``); weights that chunks carry
    are used as they come. ``policy`` overrides the estimator's ``nan_policy``.
    """
    policy = nan_policy(estimator, per_row) if policy is None else policy
    if is_dask_collection(X):
        source = streamed_source(X, sample_weight, persist=not fitted,
                                 scale_weights=estimator.scale_free_weights, nan_policy=policy)
    else:
        source = streamed_source(X, nan_policy=policy)
        if source is None:
            return None
        if sample_weight is not None:
            weights = val.check_weight_values(sample_weight)
            if source.n_samples is not None:
                val.check_sample_weight(weights, source.n_samples, estimator.n_components)
            source.extra_weight = weights if fitted else _fit_weights(estimator, weights)
    if fitted:
        val.check_n_features(estimator, source.n_features, source.feature_names)
    source.compute_chunk_size = chunk_size(estimator, source.n_features)
    return source


def training_source(estimator, X, sample_weight):
    """The data source for fitting: X validated in memory, or streamed.

    Sets ``n_features_in_`` (and ``feature_names_in_``) as scikit-learn's
    validation does.
    """
    placement = placement_of(X)
    if placement is not None:
        return placed_source(estimator, X, sample_weight, placement, reset=True)
    source = streamed(estimator, X, sample_weight)
    if source is None:
        policy = nan_policy(estimator)
        X, weights, has_nan, rows = checked_rows(estimator, X, sample_weight, reset=True, with_rows=True)
        n_samples, n_features = X.shape
        val.check_n_samples(n_samples, estimator.n_components)
        weights = _fit_weights(estimator, val.check_sample_weight(weights, n_samples, estimator.n_components))
        return ArraySource(X, weights, chunk_size(estimator, n_features, n_samples, X.dtype), policy, has_nan,
                           rows)
    val.set_n_features(estimator, source.n_features, source.feature_names)
    if source.n_samples is not None:
        val.check_n_samples(source.n_samples, estimator.n_components)
    return source


def scoring_source(estimator, X, sample_weight=None, fused=False, per_row=False, policy=None):
    """The source of X for a fitted model: streamed, or checked in memory.

    ``fused``: each chunk's work is one fused E-step, which finds NaN and
    infinity itself (``engine.scoring.fused_e_step``), so the array is not
    searched for them first. ``per_row``: a result per row is asked for, so
    that ``nan_policy="omit"`` cannot drop rows (``nan_policy``). ``policy``
    overrides the estimator's ``nan_policy``.
    """
    policy = nan_policy(estimator, per_row) if policy is None else policy
    placement = placement_of(X)
    if placement is not None:
        return placed_source(estimator, X, sample_weight, placement, reset=False, policy=policy)
    source = streamed(estimator, X, sample_weight, fitted=True, per_row=per_row, policy=policy)
    if source is not None:
        return source
    X = val.check_X(estimator, X, reset=False, finite=False)
    # A fused E-step finds NaN and infinity itself (has_nan is then only
    # known once it has: ``ScoringMixin._map_rows``).
    has_nan = False if fused else val.check_finite(X, allow_nan=policy != "raise")
    weights = val.check_sample_weight(sample_weight, X.shape[0], 1)
    X, weights, has_nan = _without_nan_rows(X, weights, has_nan, policy)
    kernel_dtype = X.dtype if fused else None
    return ArraySource(X, weights, chunk_size(estimator, X.shape[1], X.shape[0], kernel_dtype), policy, has_nan)


def placed_source(estimator, X, sample_weight, placement, reset, policy=None):
    """An array of another array-API library (under dispatch) as a source on its own device.

    Checked there as NumPy arrays are checked. Missing values are not
    marginalised off NumPy (``engine.missing`` runs compiled host code):
    ``nan_policy="omit"`` drops their rows on the device; otherwise a NaN is
    refused with what to do.
    """
    xp = placement.xp
    policy = nan_policy(estimator) if policy is None else policy
    X = val_xp.check_X(estimator, X, placement, reset=reset, min_samples=2 if reset else 1)
    has_nan = val.check_finite(X, allow_nan=policy == "omit")
    n_components = estimator.n_components if reset else 1
    weights = val_xp.check_sample_weight(sample_weight, X.shape[0], n_components, placement)
    rows = None
    if has_nan:
        rows = ~xp.any(xp.isnan(X), axis=1)
        if not bool(xp.any(rows)):
            raise ValueError(
                "every row holds a NaN, so nan_policy='omit' leaves no data; drop or impute "
                "the missing values."
            )
        X, weights = X[rows], None if weights is None else weights[rows]
    n_samples, n_features = X.shape
    if reset:
        val.check_n_samples(n_samples, estimator.n_components)
        if estimator.scale_free_weights:
            weights = val_xp.scaled_weights(weights, xp)
    source = ArraySource(X, weights, chunk_size(estimator, n_features, n_samples, X.dtype, placement), policy,
                         False, rows)
    source.placement = placement
    return source


def checked_rows(estimator, X, sample_weight, reset, min_samples=2, with_rows=False):
    """X and its weights validated in memory under ``nan_policy``: ``(X, weights, has_nan)``.

    Infinity is refused, and NaN under ``"raise"``; ``"omit"`` drops the
    rows holding a NaN, with their weights. ``with_rows`` adds the mask of
    the rows kept (None when all are).
    """
    policy = nan_policy(estimator)
    X = val.check_X(estimator, X, reset=reset, min_samples=min_samples, finite=False)
    has_nan = val.check_finite(X, allow_nan=policy != "raise")
    weights = val.check_sample_weight(sample_weight, X.shape[0], 1)
    rows = ~np.isnan(X).any(axis=1) if policy == "omit" and has_nan else None
    checked = _without_nan_rows(X, weights, has_nan, policy)
    return (*checked, rows) if with_rows else checked


def _without_nan_rows(X, weights, has_nan, policy):
    """``nan_policy="omit"``: the rows (and weights) without a NaN."""
    if policy != "omit" or not has_nan:
        return X, weights, has_nan
    keep = ~np.isnan(X).any(axis=1)
    if not keep.any():
        raise ValueError(
            "every row holds a NaN, so nan_policy='omit' leaves no data; use "
            "nan_policy='marginalize' to fit the observed values."
        )
    return X[keep], None if weights is None else weights[keep], False


def init_sample_rows(estimator, source):
    """Rows the start may read: None for all of them."""
    if estimator.init_sample_size != "auto":
        return int(estimator.init_sample_size)
    if source.in_memory:
        return None  # all rows, as scikit-learn does
    return int(min(AUTO_INIT_SAMPLE_ROWS, INIT_SAMPLE_BYTES // (8 * source.n_features)))


def _drawn_rows(estimator, source):
    """How many rows :func:`init_rows` draws, or None where it takes every row in memory."""
    size = init_sample_rows(estimator, source)
    return None if source.in_memory and (size is None or source.n_samples <= size) else size


def init_rows_drawn(estimator, source):
    """Whether :func:`init_rows` draws a sample (else it takes every row in memory)."""
    return _drawn_rows(estimator, source) is not None


def start_draws(estimator, source):
    """Whether a start from the data draws from the random generator.

    Every start does, but one component's k-means on every row in memory:
    its labels are all 0 (``init.initial_resp``), and the rows are not sampled.
    """
    one_cluster = estimator.init_params == "kmeans" and estimator.n_components == 1
    return init_rows_drawn(estimator, source) or not one_cluster


def init_rows(estimator, source, random_state):
    """The rows (and weights) the start runs on, in memory."""
    size = _drawn_rows(estimator, source)
    if size is None:
        return source.X, source.sample_weight
    X, w, n_seen = source.sample(size, random_state)
    if source.n_samples is None:
        val.check_n_samples(n_seen, estimator.n_components)
    n_positive = X.shape[0] if w is None else int(np.count_nonzero(w))
    if n_positive < estimator.n_components:
        raise ValueError(
            f"the initialisation sample has {n_positive} row(s) of positive weight, "
            f"fewer than n_components={estimator.n_components}; increase "
            f"init_sample_size or reduce n_components."
        )
    return X, w
