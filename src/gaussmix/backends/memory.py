"""NumPy memmaps as sources, read chunk by chunk (arrays in memory: ``base.ArraySource``)."""

from __future__ import annotations

import mmap

import numpy as np

from ..engine.chunks import chunk_slices
from .base import ArraySource, Source  # noqa: F401 - ArraySource is imported from here too


class MemmapSource(Source):
    """Rows of a NumPy memmap, validated and released chunk by chunk.

    A memory-mapped file's pages count in the process's resident memory once
    read, so a full pass would make the whole file resident. After each
    chunk its pages are dropped from this process (``madvise(MADV_DONTNEED)``;
    the kernel's page cache may keep them), which keeps the resident memory
    to about one chunk.
    """

    def __init__(self, X, chunk_size=65536, columns=None):
        if X.ndim != 2:
            raise ValueError(
                f"the memory-mapped array has shape {X.shape}; X must be 2-D "
                f"(n_samples, n_features)."
            )
        self.X = X
        self.chunk_size = int(chunk_size)
        self.columns = None if columns is None else [int(c) for c in columns]
        if self.columns is not None and not all(0 <= c < X.shape[1] for c in self.columns):
            raise ValueError(
                f"columns {columns} are out of range: the array has {X.shape[1]} columns "
                f"(0 to {X.shape[1] - 1})."
            )
        self.n_samples = X.shape[0]
        self.n_features = X.shape[1] if self.columns is None else len(self.columns)
        self.dtype = np.dtype(np.float32 if X.dtype == np.float32 else np.float64)
        self._release = _page_dropper(X)

    def _raw_chunks(self):
        for sl in chunk_slices(self.n_samples, self.chunk_size):
            # A copy, so that the mapped pages can be dropped right after.
            rows = self.X[sl]
            chunk = np.array(rows if self.columns is None else rows[:, self.columns], dtype=self.dtype)
            self._release(sl)
            yield chunk, None


def _page_dropper(X):
    """Return ``release(row_slice)`` dropping those rows' mapped pages, or a no-op."""
    mm = getattr(X, "_mmap", None)
    if mm is None or not X.flags.c_contiguous or not hasattr(mm, "madvise"):
        return lambda sl: None
    base = np.frombuffer(mm, dtype=np.uint8).ctypes.data
    first = X.ctypes.data - base
    row_bytes = X.strides[0]
    page = mmap.PAGESIZE

    def release(sl):
        lo = first + sl.start * row_bytes
        hi = first + sl.stop * row_bytes
        lo -= lo % page  # madvise wants a page-aligned start
        try:
            mm.madvise(mmap.MADV_DONTNEED, lo, hi - lo)
        except (OSError, ValueError):  # not supported here: only memory use differs
            pass

    return release
