"""Dask collections as sources: the map on the workers, a tree reduce, the M-step here.

Each EM iteration builds a small graph: one task per block of rows computes
the block's sufficient statistics, log-likelihood and weight
(``engine.passes.statistics_pass`` over cache-sized pieces of the block), and a tree
of ``merge_results`` tasks reduces them. Only the reduced statistics (at most
K x d x d floats) and two scalars come back to the client, where the M-step
runs; the new parameters go out with the next iteration's graph, as one
shared task. The blocks are persisted before the first iteration, so that
every iteration reads them from the workers' memory; if a worker is lost,
Dask recomputes its blocks from the graph that made them.

Needs ``pip install 'gaussmix[dask]'``; imported only when a Dask collection
is passed.
"""

from __future__ import annotations

import numpy as np

from ..engine.passes import merge_results
from ..engine.scoring import ROW_RESULTS, map_rows
from ..validation import check_chunk
from .base import ArraySource, Source

#: Partial results merged per task of the reduction tree.
TREE_FAN_IN = 8


def is_dask_collection(X):
    """True for Dask arrays, DataFrames and Series, without importing Dask."""
    return type(X).__module__.split(".")[0] in ("dask", "dask_expr") and hasattr(
        X, "__dask_graph__"
    )


def _aligned(block):
    """The block, copied if its buffer is misaligned.

    Arrays that distributed deserialises from network frames can start at
    any byte; NumPy then takes slow paths (measured: 25-40% slower E-steps).
    """
    if block.flags.aligned and block.flags.c_contiguous:
        return block
    return np.array(block, order="C", copy=True)


def _checked_block(block, n_features, dtype, allow_nan=False, block_info=None):
    start = block_info[0]["array-location"][0][0] if block_info else 0
    return _aligned(check_chunk(block, None, n_features, dtype, start, allow_nan=allow_nan)[0])


def _checked_weights(w):
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("sample_weight must be finite and non-negative.")
    return w


def _block_statistics(block, weights, inputs, scatter, chunk_size):
    # A block moved between workers arrives misaligned again.
    return ArraySource(_aligned(block), weights, chunk_size).statistics(inputs, scatter)


def _merge_many(*parts):
    total = parts[0]
    for part in parts[1:]:
        total = merge_results(total, part)
    return total


def as_checked_array(X, allow_nan=False):
    """A lazy 2-D Dask array of whole rows, each block checked when computed.

    Returns
    -------
    X : dask.array.Array
        float32 stays float32, other dtypes become float64.
    feature_names : ndarray of str or None
    """
    import dask.array as da

    feature_names = None
    if hasattr(X, "columns"):  # a DataFrame
        from ..validation import check_dataframe_columns

        check_dataframe_columns(X)
        if all(isinstance(c, str) for c in X.columns):
            feature_names = np.asarray(list(X.columns), dtype=object)
        X = X.to_dask_array(lengths=True)
    X = da.asarray(X)
    if X.ndim != 2:
        raise ValueError(
            f"X has shape {X.shape}; a Dask array must be 2-D (n_samples, n_features). "
            f"Reshape with X.reshape(-1, 1) for one feature."
        )
    if any(np.isnan(c) for c in X.chunks[0]):
        X = X.compute_chunk_sizes()
    n_features = int(X.shape[1])
    dtype = np.dtype(np.float32 if X.dtype == np.float32 else np.float64)
    X = X.rechunk({1: -1}).map_blocks(_checked_block, n_features, dtype, allow_nan, dtype=dtype)
    return X, feature_names


class DaskSource(Source):
    """A Dask array or DataFrame of shape (n_samples, n_features).

    Parameters
    ----------
    X : dask.array.Array or dask.dataframe.DataFrame
    sample_weight : array-like or Dask collection of shape (n_samples,), optional
    persist : bool, default=True
        Keep the checked blocks on the workers, for the passes of a fit;
        scoring, a single lazy pass, leaves them lazy.
    scale_weights : bool, default=True
        Scale the persisted weights by a power of two into [1, 2), as an
        estimator does for a fit that does not depend on their scale.
    nan_policy : {"raise", "marginalize", "omit"}, default="raise"
        What a NaN is (``validation.NAN_POLICIES``); ``"omit"`` drops the
        rows that hold one, and their weights.
    """

    def __init__(self, X, sample_weight=None, persist=True, scale_weights=True, nan_policy="raise"):
        import dask.array as da

        self.nan_policy = nan_policy
        X, self.feature_names = as_checked_array(X, allow_nan=nan_policy != "raise")
        keep = None
        if nan_policy == "omit":
            keep = ~da.isnan(X).any(axis=1)
            X = X[keep]
            X = X.compute_chunk_sizes()
        self.n_samples, self.n_features = int(X.shape[0]), int(X.shape[1])
        self.dtype = X.dtype
        if sample_weight is not None:
            w = sample_weight
            if hasattr(w, "to_dask_array"):
                w = w.to_dask_array(lengths=True)
            w = da.asarray(w).astype(np.float64)
            if keep is not None and w.ndim == 1 and w.shape[0] == keep.shape[0]:
                w = w.rechunk(keep.chunks)[keep].compute_chunk_sizes()
            if w.ndim != 1 or w.shape[0] != self.n_samples:
                raise ValueError(
                    f"sample_weight has shape {w.shape} but X has {self.n_samples} rows; "
                    f"pass one weight per row."
                )
            sample_weight = w.rechunk((X.chunks[0],)).map_blocks(_checked_weights, dtype=float)
        if not persist:
            self.X, self.sample_weight = X, sample_weight
        # Kept on the workers for all iterations; a lost block is recomputed.
        elif sample_weight is None:
            self.X, self.sample_weight = X.persist(), None
        else:
            import dask

            from ..validation import weight_scale

            X, sample_weight = dask.persist(X, sample_weight)
            self.X, self.sample_weight = X, sample_weight
            if scale_weights:  # as in memory: the fit is the same at any scale
                self.sample_weight = sample_weight * weight_scale(float(sample_weight.max().compute()))

    def _weight_blocks(self):
        if self.sample_weight is None:
            return [None] * self.X.numblocks[0]
        return list(self.sample_weight.to_delayed().ravel())

    def statistics(self, inputs, scatter):
        from dask import delayed

        shared = delayed(self._inputs(inputs), traverse=False)
        parts = [
            delayed(_block_statistics)(block, w, shared, scatter, self.compute_chunk_size)
            for block, w in zip(self.X.to_delayed().ravel(), self._weight_blocks())
        ]
        while len(parts) > 1:
            parts = [
                delayed(_merge_many)(*parts[i : i + TREE_FAN_IN])
                for i in range(0, len(parts), TREE_FAN_IN)
            ]
        stats, loglik, weight = parts[0].compute()
        if weight <= 0:
            raise ValueError("every sample_weight is zero; give some rows a positive weight.")
        return stats, float(loglik), float(weight)

    def map_rows(self, inputs, result, n_columns, dtype):
        """A lazy Dask array of the per-row result, computed block by block on the workers."""
        func = BlockMap(self._inputs(inputs), self.compute_chunk_size, result, n_columns, dtype)
        return map_blocks_lazy(self.X, func, n_columns, dtype)

    def criterion_sums(self, inputs):
        import dask.array as da

        terms = self.map_rows(inputs, ROW_RESULTS["terms"], 3, np.dtype(np.float64))
        if self.sample_weight is not None:
            w = self.sample_weight[:, None]
            # A zero weight cancels the row even where its density underflowed.
            terms = da.where(w > 0, terms * w, 0.0)
        sums = terms.sum(axis=0).compute()
        return float(sums[0]), float(sums[1]), float(sums[2])

    def batches(self, batch_size, random_state, chunk_size):
        raise ValueError(
            "learning_method='online' reads mini-batches in order on this machine; "
            "for a Dask collection use learning_method='batch', which runs on the workers."
        )

    def iter_chunks(self):
        # Block by block to the client: for sampling only.
        weights = self._weight_blocks()
        for block, w in zip(self.X.to_delayed().ravel(), weights):
            Xb = block.compute()
            yield Xb, None if w is None else w.compute()

    def sample(self, size, random_state):
        """Uniform sample of at most ``size`` rows, gathered from the workers."""
        n = self.n_samples
        if n <= size:
            X = self.X.compute()
            w = None if self.sample_weight is None else self.sample_weight.compute()
            return X, w, n
        copy = np.random.RandomState()
        copy.set_state(random_state.get_state())
        rng = np.random.default_rng(copy.randint(2**32, dtype=np.uint64))
        rows = np.sort(rng.choice(n, size=size, replace=False))
        X = self.X[rows].compute()
        w = None if self.sample_weight is None else self.sample_weight[rows].compute()
        return X, w, n


def map_blocks_lazy(X, func, n_columns, dtype):
    """Apply ``func`` (NumPy block -> NumPy result) lazily to a checked Dask array.

    The result has one value per row (``n_columns=None``) or ``n_columns``
    values per row.
    """
    if n_columns is None:
        return X.map_blocks(func, drop_axis=1, dtype=dtype)
    return X.map_blocks(func, chunks=(X.chunks[0], (n_columns,)), dtype=dtype)


class BlockMap:
    """A picklable per-block function for Dask: the fitted E-step inputs and a
    per-row result (``engine.scoring.ROW_RESULTS``), applied to one checked
    NumPy block on a worker."""

    def __init__(self, inputs, chunk_size, result, n_columns, dtype):
        self.inputs, self.chunk_size, self.result = inputs, chunk_size, result
        self.n_columns, self.dtype = n_columns, dtype

    def __call__(self, block):
        source = ArraySource(block, None, self.chunk_size)
        return map_rows(source, self.inputs, self.result.per_chunk, self.n_columns, self.dtype)
