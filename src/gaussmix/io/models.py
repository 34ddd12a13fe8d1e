"""Model files: safe, versioned, validated, written atomically.

A model file is a NumPy ``.npz`` archive of plain float arrays plus one
JSON document (format name, format version, library version, covariance
model, feature names, hyper-parameters). It is read with
``allow_pickle=False``, so loading a file from a stranger cannot run code,
and written with ``io.atomic.atomic_write``.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from .._version import __version__
from .atomic import atomic_write

FORMAT_NAME = "gaussmix-model"
FORMAT_VERSION = 1
#: The fitted arrays a model file holds.
ARRAYS = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_")


class ModelFileError(ValueError):
    """A file is not a readable gaussmix model."""


def json_safe(value):
    """``value`` as JSON can hold it: numbers, strings, lists; None for anything else."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, (list, tuple, np.ndarray)):
        return np.asarray(value).tolist()
    return None  # e.g. a RandomState instance: not kept


#: The largest metadata document read, in bytes (a real one is a few KiB).
MAX_METADATA_BYTES = 2**20


def write_model(path, meta, arrays):
    """Write ``meta`` (a JSON-able dict) and ``arrays`` (float64) to ``path``, atomically."""
    meta = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION,
            "gaussmix_version": __version__, **meta}
    members = {name: np.ascontiguousarray(value, dtype=np.float64) for name, value in arrays.items()}
    members["metadata"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)

    def write(fh):
        np.savez(fh, **members)

    atomic_write(path, write)


def read_model(path, names=ARRAYS, optional=()):
    """Read the metadata and the arrays ``names`` (and ``optional`` ones where
    present) of a model file written by :func:`write_model`.

    The file is untrusted input: before any array is read its header is
    checked against the member's size, so a tampered header cannot make this
    allocate more than the file holds, and every failure is a
    :class:`ModelFileError`. Checking what the arrays mean (shapes, weights,
    covariances) is the estimator's job (``estimators.files``).

    Returns ``(meta, arrays)``: the metadata as a dict, and float64 arrays by
    attribute name.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ModelFileError
        If the file is corrupt, truncated, of another format version, or not
        a gaussmix model at all.
    """
    path = Path(path)
    if path.is_dir():
        raise ModelFileError(f"{path} is a directory; give the path of a model file.")
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}")
    try:
        with zipfile.ZipFile(path) as archive:
            members = {info.filename: info for info in archive.infolist()}
            if "metadata.npy" not in members:
                raise ModelFileError(f"{path} is not a gaussmix model file (no metadata).")
            raw = _read_member(archive, members["metadata.npy"], np.uint8, MAX_METADATA_BYTES)
            meta = json.loads(raw.tobytes().decode("utf-8"))
            if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
                raise ModelFileError(f"{path} is not a gaussmix model file.")
            if meta.get("format_version") != FORMAT_VERSION:
                raise ModelFileError(
                    f"{path} has model format version {meta.get('format_version')!r}; this "
                    f"gaussmix reads version {FORMAT_VERSION}. Refit the model or use a "
                    f"matching gaussmix."
                )
            arrays = {}
            for name in names:
                if f"{name}.npy" not in members:
                    raise ModelFileError(f"{path} has no {name} array; the file is damaged.")
                arrays[name] = _read_member(archive, members[f"{name}.npy"], np.float64, None)
            for name in optional:
                if f"{name}.npy" in members:
                    arrays[name] = _read_member(archive, members[f"{name}.npy"], np.float64, None)
    except ModelFileError:
        raise
    except zipfile.BadZipFile:
        raise ModelFileError(
            f"{path} is not a readable gaussmix model file: not a zip archive (corrupt, truncated, "
            f"a plain .npy array or another kind of file). Model files are written by "
            f"GaussianMixture.save."
        ) from None
    except (OSError, EOFError, ValueError, UnicodeDecodeError, RecursionError, KeyError) as exc:
        raise ModelFileError(
            f"{path} is not a readable gaussmix model file (corrupt, truncated or of "
            f"another kind: {exc.__class__.__name__})."
        ) from None
    return meta, arrays


def _read_member(archive, info, dtype, max_bytes):
    """One ``.npy`` member as an array of ``dtype``, its header checked against its size first."""
    with archive.open(info) as fh:
        try:
            version = np.lib.format.read_magic(fh)
            shape, fortran, stored = _header(fh, version)
        except ValueError:
            raise ModelFileError(f"member {info.filename} is not a .npy array.") from None
        if stored != np.dtype(dtype) or fortran:
            raise ModelFileError(
                f"member {info.filename} holds {stored} data; a model file holds {np.dtype(dtype)}."
            )
        count = int(np.prod(shape, dtype=np.int64)) if len(shape) else 1
        if count * stored.itemsize > info.file_size or (max_bytes and count * stored.itemsize > max_bytes):
            raise ModelFileError(
                f"member {info.filename} declares shape {shape}, more than the file holds; the "
                f"file is damaged or was altered."
            )
        data = fh.read(count * stored.itemsize)
    if len(data) != count * stored.itemsize:
        raise ModelFileError(f"member {info.filename} is truncated.")
    return np.frombuffer(data, dtype=stored).reshape(shape).copy()


def _header(fh, version):
    """``(shape, fortran_order, dtype)`` of a ``.npy`` header (NumPy's public readers)."""
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(fh)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(fh)
    raise ValueError(f"unsupported .npy version {version}")
