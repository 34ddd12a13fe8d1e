"""Splitting rows into chunks whose temporaries fit a memory budget."""

from __future__ import annotations

#: Default budget for one chunk's per-row temporaries, in bytes. Chunks this
#: small stay in cache (on a 2-core EPYC, 4 MiB beat 2, 8 and 64 MiB).
DEFAULT_CHUNK_BYTES = 4 * 2**20

#: Fewest rows per chunk: every chunk also costs O(K d^2) to finish and merge
#: its statistics, which must stay small beside its O(n K d^2) products.
MIN_CHUNK_ROWS = 1024

#: Fewest ``rows * K * d`` a chunk must hold for the rows to be split
#: further over threads: a chunk's hand-over, finish and merge cost about
#: 0.1-0.2 ms. At 10 000 rows, per iteration, one chunk against two:
#: d=2 K=3 0.4 against 0.6 ms, d=2 K=16 diag 0.5/0.6, full 0.9/0.8,
#: d=16 K=3 diag 0.7/0.5.
MIN_SPLIT_WORK = 200_000
#: Most rows per chunk (more buys nothing once per-chunk costs are amortised).
MAX_CHUNK_ROWS = 65536


#: Bytes of temporaries per row on each route of an EM pass, from
#: ``(K, d, itemsize)`` (``itemsize`` the chunk's). ``"blas"``: the NumPy
#: kernels' (n, K) log-densities and responsibilities and a few (n, d)
#: float64 copies of the chunk; products that grow with ``K d`` are formed
#: a group of components at a time under the same budget
#: (:func:`component_groups`). ``"triangular"``: full covariances by TRMM
#: and SYRK (``_triangular``), one component at a time: two (n, K) float64
#: arrays and one (n, d) buffer in the chunk's dtype. ``"row"``: the compiled
#: row kernel reads the chunk in place and keeps its sums per block; its
#: chunks hold the (n, K) arrays of an E-step alone and one float64 copy of
#: the chunk for an exact recompute. The array-API reference path forms
#: (K, n, d) blocks and is not a fast path.
BYTES_PER_ROW = {
    "blas": lambda K, d, itemsize: 8 * (4 * K + 4 * d),
    "triangular": lambda K, d, itemsize: 8 * 2 * K + itemsize * d,
    "row": lambda K, d, itemsize: 8 * (2 * K + d + 2),
}


def auto_chunk_size(n_components, n_features, budget=DEFAULT_CHUNK_BYTES, route="blas", itemsize=8,
                    n_rows=None, n_threads=1):
    """Rows per chunk: temporaries under ``budget``, within the row limits.

    ``route`` (a key of :data:`BYTES_PER_ROW`) and ``itemsize`` (the chunk
    dtype's) give the bytes a row costs. With ``n_rows`` known, the rows are
    split into equal chunks, as many as the next multiple of ``n_threads``
    (up to rounding), so that the threads of a pass finish together (10 000 rows,
    K=3, d=16, on the BLAS route, over 2 threads: 2 chunks of 5000, not
    6898 and 3102). Where those chunks would hold less than
    :data:`MIN_SPLIT_WORK` or :data:`MIN_CHUNK_ROWS`, the budget's count is
    kept.
    """
    rows = budget // BYTES_PER_ROW[route](n_components, n_features, itemsize)
    size = int(min(MAX_CHUNK_ROWS, max(MIN_CHUNK_ROWS, rows)))
    if n_rows:
        count = -(-n_rows // size)
        balanced = -(-count // n_threads) * n_threads
        enough_work = n_rows * n_components * n_features >= MIN_SPLIT_WORK * balanced
        if enough_work and n_rows >= MIN_CHUNK_ROWS * balanced:
            count = balanced
        size = max(1, -(-n_rows // count))
    return size


def chunk_slices(n_rows, chunk_size):
    """Yield ``slice`` objects covering ``range(n_rows)`` in order."""
    for start in range(0, n_rows, chunk_size):
        yield slice(start, min(start + chunk_size, n_rows))


def component_groups(n_rows, n_components, n_features, budget=DEFAULT_CHUNK_BYTES):
    """Ranges ``(k0, k1)`` of components whose (n, group * d) float64 products fit ``budget``."""
    size = max(1, budget // (8 * max(1, n_rows) * n_features))
    return [(k0, min(n_components, k0 + size)) for k0 in range(0, n_components, size)]
