"""Data files: CSV, TSV, Parquet and ``.npy`` tables read for fitting and written atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .atomic import atomic_write

DATA_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".pq", ".npy")


def read_table(path, columns=None, keep=()):
    """Read a data file for fitting or prediction.

    CSV and TSV (with a header) are read by pandas, Parquet by pyarrow (only
    the chosen columns are read), ``.npy`` by NumPy (memory-mapped).

    Parameters
    ----------
    path : str or Path
    columns : list of str, optional
        The columns to use (names; for ``.npy``, 0-based indices as strings).
    keep : sequence of str, optional
        Further columns to read into ``frame`` only (an id column, say).

    Returns
    -------
    frame : pandas.DataFrame or None
        The whole table as read (None for ``.npy``), to pick id columns from.
    X : ndarray of shape (n_samples, n_features)
    feature_names : list of str
    """
    path = _data_file(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            X = np.load(path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise ValueError(f"{path} is not a readable .npy array: {exc}") from None
        if X.ndim != 2:
            raise ValueError(f"{path} holds a {X.ndim}-D array; a 2-D (rows x features) one is needed.")
        names = [str(i) for i in range(X.shape[1])]
        if columns:
            idx = [npy_column(c, X.shape[1]) for c in columns]
            X, names = X[:, idx], [names[i] for i in idx]
        return None, np.asarray(X), names
    wanted = None if not columns else list(dict.fromkeys([*columns, *keep]))
    frame = _read_frame(path, suffix, wanted)  # Parquet reads only these columns
    if len(frame) == 0:
        raise ValueError(f"{path} has a header ({', '.join(map(str, frame.columns))}) but no rows of data.")
    if columns:
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ValueError(
                f"column(s) {missing} not in {path}; it has {list(map(str, frame.columns))}."
            )
        data = frame[columns]
    else:
        data = frame
    from ..validation import non_numeric_columns

    bad = non_numeric_columns(data)
    if bad:
        # A file's reader is told the option, not the DataFrame call.
        numeric = [str(c) for c in data.columns if str(c) not in bad]
        choose = (f"choose the numeric ones with --columns {','.join(numeric)} (columns= in Python)"
                  if numeric else "encode them as numbers first")
        raise ValueError(f"{path}: non-numeric column(s) {bad}; a Gaussian mixture needs numbers: {choose}.")
    return frame, data.to_numpy(dtype=np.float64), [str(c) for c in data.columns]


def _data_file(path):
    """``path`` as a Path to an existing file, or an error that says what it is instead."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(
            f"{path} is a directory, not a data file; give a CSV, TSV, Parquet or .npy file."
        )
    if not path.is_file():
        raise FileNotFoundError(f"no data file at {path}")
    return path


def read_frame(path):
    """The whole table of a CSV, TSV or Parquet file as read (None for .npy)."""
    path = _data_file(path)
    suffix = path.suffix.lower()
    return None if suffix == ".npy" else _read_frame(path, suffix, None)


def npy_column(c, n):
    try:
        i = int(c)
    except ValueError:
        raise ValueError(f"columns of a .npy file are indices 0..{n - 1}, got {c!r}.") from None
    if not 0 <= i < n:
        raise ValueError(f"column index {i} is out of range 0..{n - 1}.")
    return i


def _read_frame(path, suffix, columns):
    import pandas as pd

    if suffix not in DATA_SUFFIXES:
        raise ValueError(
            f"{path}: unknown file type {suffix!r}; use one of {', '.join(DATA_SUFFIXES)}."
        )
    if suffix in (".parquet", ".pq"):
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise ValueError(
                "reading Parquet needs pyarrow: pip install 'gaussmix[parquet]'."
            ) from None
        try:
            schema = pq.read_schema(path)
            wanted = None if columns is None else [c for c in columns if c in schema.names]
            return pq.read_table(path, columns=wanted).to_pandas()
        except Exception as exc:  # pyarrow raises several types for a bad file
            raise ValueError(f"{path} is not a readable Parquet file: {exc}") from None
    sep = "\t" if suffix == ".tsv" else ","
    try:
        frame = pd.read_csv(path, sep=sep)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path} is empty.") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise ValueError(f"{path} is not a well-formed table: {first}") from None
    # One column whose name holds another separator: the file uses that one.
    if frame.shape[1] == 1 and sep == ",":
        for other in ("\t", ";"):
            if other in str(frame.columns[0]):
                return pd.read_csv(path, sep=other)
    return frame


def write_table(frame, path):
    """Write a DataFrame as CSV, TSV or Parquet (by extension), atomically."""
    write_table_chunks([frame], path)


def write_table_chunks(frames, path):
    """Write an iterator of DataFrames as one CSV, TSV or Parquet file, atomically.

    Only one frame is in memory at a time; the file appears under its name
    only once every frame is written, so a failure midway leaves no partial
    output (and keeps any older file of that name).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        def write(fh):
            writer = None
            for frame in frames:
                table = pa.Table.from_pandas(frame, preserve_index=False)
                if writer is None:
                    writer = pq.ParquetWriter(fh, table.schema)
                writer.write_table(table)
            if writer is not None:
                writer.close()
    elif suffix in (".csv", ".tsv", ".txt"):
        sep = "\t" if suffix == ".tsv" else ","

        def write(fh):
            for i, frame in enumerate(frames):
                fh.write(frame.to_csv(index=False, header=i == 0, sep=sep).encode("utf-8"))
    else:
        raise ValueError(f"cannot write {path}: use a .csv, .tsv or .parquet file name.")
    atomic_write(path, write)
