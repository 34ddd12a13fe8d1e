"""Files as sources: ``.npy`` arrays and Parquet files or datasets, read chunk by chunk."""

from __future__ import annotations

import os

import numpy as np

from .base import Source
from .memory import MemmapSource


def NpySource(path, chunk_size=65536, columns=None):
    """Rows of a ``.npy`` file, memory-mapped and read one chunk at a time.

    Parameters
    ----------
    path : str or path-like
        A 2-D ``.npy`` array of numbers. float32 files are fitted in float32.
    chunk_size : int, default=65536
        Rows per chunk.
    columns : list of int, optional
        The columns to use, by 0-based index.
    """
    try:
        X = np.load(os.fspath(path), mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ValueError(
            f"cannot read {os.fspath(path)!r} as a .npy array ({exc}); save the data "
            f"with numpy.save, as a 2-D numeric array."
        ) from None
    return MemmapSource(X, chunk_size, columns)


class ParquetSource(Source):
    """Rows of a Parquet file or dataset, streamed in record batches with pyarrow.

    Only one batch is in memory at a time.

    Parameters
    ----------
    path : str or path-like
        A Parquet file, or a directory of Parquet files (a dataset).
    columns : list of str, optional
        The feature columns, in order; by default every column except
        ``weight_column``.
    weight_column : str, optional
        A column holding each row's sample weight.
    chunk_size : int, default=65536
        Rows per batch.
    """

    def __init__(self, path, columns=None, weight_column=None, chunk_size=65536):
        try:
            import pyarrow.dataset as ds
        except ImportError:  # pragma: no cover - depends on the environment
            raise ImportError(
                "reading Parquet needs pyarrow: pip install 'gaussmix[parquet]'"
            ) from None
        import pyarrow as pa

        self.path = os.fspath(path)
        try:
            self._dataset = ds.dataset(self.path, format="parquet")
            schema = self._dataset.schema
            self.n_samples = self._dataset.count_rows()
        except (OSError, ValueError, pa.ArrowException) as exc:
            raise ValueError(
                f"cannot read {self.path!r} as Parquet ({exc}); check that the file "
                f"is a complete Parquet file or a directory of them."
            ) from None
        names = list(schema.names)
        if columns is None:
            columns = [n for n in names if n != weight_column]
        columns = list(columns)
        missing = [c for c in columns + ([weight_column] if weight_column else []) if c not in names]
        if missing:
            raise ValueError(f"column(s) {missing} are not in {self.path!r}; it has {names}.")
        bad = [
            c
            for c in columns + ([weight_column] if weight_column else [])
            if not (pa.types.is_integer(schema.field(c).type)
                    or pa.types.is_floating(schema.field(c).type)
                    or pa.types.is_boolean(schema.field(c).type))
        ]
        if bad:
            raise ValueError(
                f"column(s) {bad} of {self.path!r} are not numeric; pass "
                f"columns=[...] with the numeric feature columns."
            )
        if not columns:
            raise ValueError(f"{self.path!r} has no feature columns.")
        self.columns = columns
        self.weight_column = weight_column
        self.chunk_size = int(chunk_size)
        self.n_features = len(columns)
        all_f32 = all(pa.types.is_float32(schema.field(c).type) for c in columns)
        self.dtype = np.dtype(np.float32 if all_f32 else np.float64)
        self.feature_names = np.asarray(columns, dtype=object)

    def iter_column(self, name):
        """An iterator over one column of the file (an id, say), as NumPy
        arrays in the same batches as the features' chunks."""
        if name not in self._dataset.schema.names:
            raise ValueError(f"no column {name!r} in {self.path!r}.")
        batches = self._dataset.to_batches(columns=[name], batch_size=self.chunk_size)
        return (b.column(0).to_numpy(zero_copy_only=False) for b in batches if b.num_rows)

    def _raw_chunks(self):
        read = self.columns + ([self.weight_column] if self.weight_column else [])
        for batch in self._dataset.to_batches(columns=read, batch_size=self.chunk_size):
            if batch.num_rows == 0:
                continue
            # Nulls become NaN, which the chunk check then reports by row.
            cols = [
                batch.column(i).to_numpy(zero_copy_only=False).astype(self.dtype, copy=False)
                for i in range(len(self.columns))
            ]
            X = np.column_stack(cols) if cols else np.empty((batch.num_rows, 0))
            w = None
            if self.weight_column:
                w = batch.column(len(self.columns)).to_numpy(zero_copy_only=False)
            yield X, w
