"""The chunk protocol: any object whose ``iter_chunks()`` yields chunks of rows.

This is how data that no built-in reader knows (a database cursor, a CSV read
in pieces, a message queue replayed from the start) reach the estimator::

    class MyData:
        def iter_chunks(self):
            # Each call starts a new pass over all the rows.
            for part in ...:
                yield X_part                    # (n_rows, n_features) array
                # or: yield X_part, weight_part  # with sample weights

EM needs one pass per iteration, so ``iter_chunks`` must be callable again
and again, giving the same rows in the same order each time. For data that
can be read only once, use :meth:`GaussianMixture.partial_fit` instead.
:class:`ChunkedData` turns a function returning such an iterator into a
source.
"""

from __future__ import annotations

import numpy as np

from .base import Source


class ChunkedData:
    """Wrap ``make_chunks``, a function of no arguments returning an iterator of chunks.

    Parameters
    ----------
    make_chunks : callable
        Each call returns a fresh iterator over the chunks: arrays of shape
        (n_rows, n_features), or pairs ``(X_chunk, sample_weight_chunk)``.

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix import ChunkedData, GaussianMixture
    >>> rng = np.random.default_rng(0)
    >>> parts = [rng.normal(size=(100, 2)) + 5 * (i % 2) for i in range(6)]
    >>> data = ChunkedData(lambda: iter(parts))
    >>> gm = GaussianMixture(2, random_state=0).fit(data)
    >>> np.sort(gm.means_[:, 0]).round() + 0.0
    array([0., 5.])
    """

    def __init__(self, make_chunks):
        if not callable(make_chunks):
            raise TypeError(
                "ChunkedData needs a function that returns an iterator of chunks, "
                f"got {type(make_chunks).__name__}."
            )
        self.make_chunks = make_chunks

    def iter_chunks(self):
        chunks = self.make_chunks()
        try:
            return iter(chunks)
        except TypeError:
            raise ValueError(
                f"ChunkedData's function returned {type(chunks).__name__}, not an iterator of "
                f"chunks; it must return an iterable of arrays (or of (X, weight) pairs) each "
                f"time it is called."
            ) from None


def _split(chunk):
    if isinstance(chunk, tuple):
        if len(chunk) != 2:
            raise ValueError(
                f"a chunk must be an array or a pair (X_chunk, sample_weight_chunk), "
                f"got a tuple of {len(chunk)} items."
            )
        return chunk
    return chunk, None


class IterableSource(Source):
    """A source over any object with ``iter_chunks()`` (see the module docstring)."""

    def __init__(self, data):
        self.data = data
        first = None
        for chunk in data.iter_chunks():
            first, _ = _split(chunk)
            break
        if first is None:
            raise ValueError("the data source yielded no chunks: there are no rows to fit.")
        columns = getattr(first, "columns", None)
        first = np.asarray(first)
        self.n_features = 1 if first.ndim == 1 else int(first.shape[-1])
        self.dtype = np.dtype(np.float32 if first.dtype == np.float32 else np.float64)
        self.n_samples = None
        named = columns is not None and all(isinstance(c, str) for c in columns)
        self.feature_names = np.asarray(columns, dtype=object) if named else None

    def _raw_chunks(self):
        for chunk in self.data.iter_chunks():
            yield _split(chunk)
