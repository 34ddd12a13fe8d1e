"""Where the rows come from and where the per-chunk work runs.

:func:`streamed_source` turns what a user passes as X into a *source* (see
``base``): a memmap, a ``.npy`` or Parquet file, any object with
``iter_chunks()``, or a Dask collection; arrays in memory become an
``ArraySource`` once the estimator has validated them. It is a registry of
adapters tried in order, so a new kind of input is one entry here and one
module.
"""

from __future__ import annotations

import os

import numpy as np

from .base import ArraySource, Source
from .dask import DaskSource, is_dask_collection  # Dask itself is imported only when used
from .files import NpySource, ParquetSource
from .iterable import ChunkedData, IterableSource
from .memory import MemmapSource


#: File suffixes read as streams, and their readers.
FILE_READERS = {".npy": NpySource, ".parquet": ParquetSource, ".pq": ParquetSource}


def _is_path(X):
    return isinstance(X, (str, os.PathLike))


def _make_from_path(X):
    path = os.fspath(X)
    suffix = ".parquet" if os.path.isdir(path) else os.path.splitext(path)[1].lower()
    if not os.path.exists(path):
        raise ValueError(f"no such file: {path!r}.")
    reader = FILE_READERS.get(suffix)
    if reader is None:
        raise ValueError(
            f"cannot stream {path!r}: gaussmix reads .npy and Parquet files chunk by "
            f"chunk. Convert it (for example with pandas) or load it into an array first."
        )
    return reader(path)


#: Adapters tried in order: (matches(X), make(X)). Dask collections take
#: their weights as collections and come first; arrays in memory are not
#: here, since the estimator validates them as a whole.
ADAPTERS = [
    (lambda X: isinstance(X, Source), lambda X: X),
    (_is_path, _make_from_path),
    (lambda X: hasattr(X, "iter_chunks"), IterableSource),
    (lambda X: isinstance(X, np.memmap), MemmapSource),
]


def is_streamed(X):
    """Whether X is streamed (a file, memmap, iterable, source or Dask collection), not an array."""
    return is_dask_collection(X) or any(matches(X) for matches, _ in ADAPTERS)


def streamed_source(X, sample_weight=None, persist=True, scale_weights=True, nan_policy="raise"):
    """The source for ``X`` if it is not an array in memory, else None.

    ``sample_weight`` is a float64 array of values already checked (or
    None); a Dask collection takes its weights as they are, and is persisted
    on the workers if ``persist`` (for a fit), scaled there if
    ``scale_weights`` (``DaskSource``). ``nan_policy`` says what a NaN in
    the rows is (``validation.NAN_POLICIES``). The caller sets
    ``compute_chunk_size`` once the number of features is known.
    """
    if is_dask_collection(X):
        return DaskSource(X, sample_weight, persist=persist, scale_weights=scale_weights,
                          nan_policy=nan_policy)
    for matches, make in ADAPTERS:
        if matches(X):
            source = make(X)
            source.extra_weight = sample_weight
            source.nan_policy = nan_policy
            return source
    return None


__all__ = [
    "Source",
    "ArraySource",
    "MemmapSource",
    "NpySource",
    "ParquetSource",
    "ChunkedData",
    "IterableSource",
    "streamed_source",
    "is_streamed",
]
