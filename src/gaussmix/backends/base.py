"""What every data source shares: chunked passes, the statistics pass, a row sample.

A *source* is where the rows of X come from: an array in memory, a file read
chunk by chunk, a user's iterable, or a Dask collection. The EM engine asks a
source for three things only:

- ``statistics(inputs, scatter)``: one E-step pass under an updater's
  E-step inputs, returning the merged
  sufficient statistics, the weighted log-likelihood and the total weight
  (the map and the reduce of the design);
- ``iter_chunks()``: the validated chunks ``(X_chunk, weight_chunk)`` in
  order;
- ``map_rows(...)`` and ``criterion_sums(inputs)``: a fitted mixture's
  per-row results and criterion terms (``engine.scoring``);
- ``sample(size, random_state)``: a bounded uniform sample of rows for the
  initialisation;
- ``single_chunk()``: the rows as one NumPy chunk, where they are, for the
  compiled stretches of small fits (``engine.stretch``);
- ``batches(batch_size, random_state, chunk_size)``: the mini-batches of
  one epoch of stepwise EM, as sources.

Subclasses only say how chunks are produced; sources that run elsewhere
(Dask) also override ``statistics``.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from array_api_compat import array_namespace, device

from ..engine.chunks import chunk_slices
from ..engine.passes import statistics_pass
from ..engine.scoring import criterion_sums, map_rows
from ..validation import check_chunk


class Source:
    """Base class of the data sources.

    Attributes
    ----------
    n_features : int
    dtype : numpy dtype
        float32 or float64: the dtype in which the E-step runs.
    n_samples : int or None
        Number of rows, or None while unknown (an iterable not yet read).
    feature_names : ndarray of str or None
    in_memory : bool
        True when all rows are in memory, so that the initialisation may use
        them all, exactly as scikit-learn does.
    """

    in_memory = False
    feature_names = None
    #: Weights given apart from the chunks (``fit(X, sample_weight=...)``),
    #: one per row in order, or None.
    extra_weight = None
    #: What a NaN is (``validation.NAN_POLICIES``): a missing value to
    #: marginalise, a row to drop as it is read, or an error.
    nan_policy = "raise"
    #: Whether the rows hold a NaN: False or True where known (an array
    #: validated in memory), None where not (a stream).
    has_nan = None
    #: Where the rows live (``namespaces.Placement``): None for NumPy on the
    #: host; an array of another array-API library under dispatch otherwise.
    placement = None

    @property
    def marginalizes(self):
        """Whether passes must look for NaN in their chunks and marginalise them."""
        return self.nan_policy == "marginalize" and self.has_nan is not False

    def _inputs(self, inputs):
        """The E-step's inputs, told to marginalise NaN where these rows may hold some."""
        return replace(inputs, missing=True) if self.marginalizes and not inputs.missing else inputs

    def _raw_chunks(self):
        """Yield ``(X_chunk, weight_chunk_or_None)`` as produced (unchecked)."""
        raise NotImplementedError

    def iter_chunks(self):
        """Yield validated chunks ``(X_chunk, weight_chunk_or_None)``, one pass."""
        extra = self.extra_weight
        start = 0
        for X, w in self._raw_chunks():
            if extra is not None:
                if w is not None:
                    raise ValueError(
                        "the chunks carry their own sample weights; do not also pass "
                        "sample_weight."
                    )
                n = np.shape(X)[0]
                w = extra[start : start + n]
                if w.shape[0] != n:
                    raise ValueError(
                        f"sample_weight has {extra.shape[0]} values, fewer than the rows "
                        f"of the data; pass one weight per row."
                    )
            n_read = np.shape(X)[0]
            X, w = check_chunk(X, w, self.n_features, self.dtype, start, allow_nan=self.nan_policy != "raise")
            if self.nan_policy == "omit":
                keep = ~np.isnan(X).any(axis=1)
                if not keep.all():
                    X, w = X[keep], None if w is None else w[keep]
            if X.shape[0]:
                yield X, w
            start += n_read
        if extra is not None and start != extra.shape[0]:
            raise ValueError(
                f"sample_weight has {extra.shape[0]} values but the data have {start} "
                f"rows; pass one weight per row."
            )

    #: Rows per compute chunk; a chunk as read is split into pieces this
    #: size, small enough for the cache (the estimator sets it from its
    #: ``chunk_size``).
    compute_chunk_size = 65536

    def compute_chunks(self):
        """Yield the chunks cut to ``compute_chunk_size`` rows."""
        step = self.compute_chunk_size
        for X, w in self.iter_chunks():
            for sl in chunk_slices(X.shape[0], step):
                yield X[sl, ...], None if w is None else w[sl, ...]

    def single_chunk(self):
        """``(X, sample_weight)`` where every row is one NumPy chunk in memory, without NaN; else None."""
        return None

    def statistics(self, inputs, scatter):
        """One E-step pass under ``inputs`` (``estep.EStepInputs``): ``(stats, loglik_sum, total_weight)``."""
        return statistics_pass(self.compute_chunks(), self._inputs(inputs), scatter)

    def map_rows(self, inputs, result, n_columns, dtype):
        """A per-row result (``engine.scoring.ROW_RESULTS``) of every row, as one array."""
        return map_rows(self, self._inputs(inputs), result.per_chunk, n_columns, dtype)

    def criterion_sums(self, inputs):
        """``(log L, sum_i log max_k r_ik, n)`` over every row, weighted."""
        return criterion_sums(self, self._inputs(inputs))

    def batches(self, batch_size, random_state, chunk_size):
        """The mini-batches of one epoch, as :class:`ArraySource` objects.

        Streamed rows come in their stored order, which should be random
        (stochastic approximation assumes batches drawn at random).
        """
        for X, w in self.iter_chunks():
            for start in range(0, X.shape[0], batch_size):
                sl = slice(start, start + batch_size)
                yield self._part(X[sl], None if w is None else w[sl], chunk_size)

    def _part(self, X, sample_weight, chunk_size):
        """Some of these rows as an :class:`ArraySource` that treats NaN as this source does."""
        part = ArraySource(X, sample_weight, chunk_size)
        part.nan_policy, part.has_nan = self.nan_policy, self.has_nan
        return part

    def sample(self, size, random_state):
        """A uniform sample of at most ``size`` rows, in their original order.

        Every row gets a uniform random key and the ``size`` smallest keys are
        kept, chunk by chunk (a reservoir: memory is ``size`` rows plus one
        chunk). When the data have no more than ``size`` rows, all of them
        are returned, in order, so the start equals the in-memory one.

        Returns
        -------
        X : ndarray of shape (m, n_features)
        sample_weight : ndarray of shape (m,) or None
        n_seen : int
            Rows read, which tells ``n_samples`` for a source that did not.
        """
        keys = np.empty(0)
        rows = np.empty((0, self.n_features), dtype=self.dtype)
        weights = np.empty(0)
        index = np.empty(0, dtype=np.int64)
        weighted = False
        # Keys come from a generator seeded off a copy of random_state, so
        # that the initialisation then draws the same stream as it would on
        # the whole data in memory.
        copy = np.random.RandomState()
        copy.set_state(random_state.get_state())
        key_rng = np.random.default_rng(copy.randint(2**32, dtype=np.uint64))
        threshold = np.inf
        start = 0
        for X, w in self.iter_chunks():
            X = np.asarray(X)
            n = X.shape[0]
            chunk_keys = key_rng.random(n)
            chunk_index = np.arange(start, start + n)
            chunk_w = np.ones(n) if w is None else np.asarray(w, dtype=np.float64)
            weighted = weighted or w is not None
            start += n
            # Once the reservoir is full, only rows with a smaller key than
            # its largest can enter; they are few, so little is copied.
            take = chunk_keys < threshold
            if not take.any():
                continue
            keys = np.concatenate([keys, chunk_keys[take]])
            rows = np.concatenate([rows, X[take]])
            index = np.concatenate([index, chunk_index[take]])
            weights = np.concatenate([weights, chunk_w[take]])
            if keys.shape[0] > size:
                keep = np.argpartition(keys, size - 1)[:size]
                keys, rows, index, weights = keys[keep], rows[keep], index[keep], weights[keep]
            if keys.shape[0] == size:
                threshold = keys.max()
        order = np.argsort(index, kind="stable")
        return rows[order], weights[order] if weighted else None, start


class MappedSource(Source):
    """Another source's rows passed through ``func`` chunk by chunk (a
    standardisation, say); weights and everything else unchanged."""

    def __init__(self, source, func):
        self.source, self.func = source, func
        self.n_features, self.dtype = source.n_features, source.dtype
        self.n_samples, self.feature_names = source.n_samples, source.feature_names
        self.compute_chunk_size = source.compute_chunk_size

    @property
    def nan_policy(self):
        return self.source.nan_policy

    @nan_policy.setter
    def nan_policy(self, value):
        # The inner source reads (and checks, or drops) the rows.
        self.source.nan_policy = value

    def _raw_chunks(self):
        for X, w in self.source.iter_chunks():
            yield self.func(X), w


class ArraySource(Source):
    """Rows of an array already validated and held in memory (any array-API namespace).

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
    sample_weight : array of shape (n_samples,) or None
    chunk_size : int
    rows : ndarray of bool or None
        Which of the caller's rows X holds, where ``nan_policy="omit"``
        dropped some; None when it holds them all.
    """

    in_memory = True

    def __init__(self, X, sample_weight, chunk_size, nan_policy="raise", has_nan=False, rows=None):
        self.X = X
        self.rows = rows
        self.sample_weight = sample_weight
        self.chunk_size = self.compute_chunk_size = int(chunk_size)
        self.n_samples, self.n_features = X.shape
        self.dtype = X.dtype
        self.nan_policy, self.has_nan = nan_policy, has_nan

    def compute_chunks(self):
        return self.iter_chunks()

    def single_chunk(self):
        one = self.n_samples <= self.chunk_size and type(self.X) is np.ndarray
        if not one or self.has_nan is not False:
            return None
        return self.X, self.sample_weight

    def iter_chunks(self):
        # Validated as a whole already: no per-chunk checks.
        w = self.sample_weight
        for sl in chunk_slices(self.n_samples, self.chunk_size):
            yield self.X[sl, ...], None if w is None else w[sl, ...]

    def batches(self, batch_size, random_state, chunk_size):
        """Mini-batches in a new random order each epoch (NumPy's permutation, on any device)."""
        order = random_state.permutation(self.n_samples)
        w = self.sample_weight
        take = _taker(self.X)
        for start in range(0, self.n_samples, batch_size):
            rows = order[start : start + batch_size]
            yield self._part(take(self.X, rows), None if w is None else take(w, rows), chunk_size)


def _taker(X):
    """``take(a, rows)``: rows of ``a`` by host indices, in X's namespace and on its device."""
    if isinstance(X, np.ndarray):
        return lambda a, rows: a[rows]
    xp, dev = array_namespace(X), device(X)
    return lambda a, rows: xp.take(a, xp.asarray(rows, device=dev), axis=0)
