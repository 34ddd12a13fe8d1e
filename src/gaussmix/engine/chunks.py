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


def auto_chunk_size(n_components, n_features, bytes_per_row, budget=DEFAULT_CHUNK_BYTES,
                    n_rows=None, n_threads=1, max_rows=MAX_CHUNK_ROWS):
    """Rows per chunk: temporaries under ``budget``, within the row limits.

    ``bytes_per_row`` is what a row of the chunk costs its kernel
    (``kernels.Kernel.bytes_per_row``). With ``n_rows`` known, the rows are
    split into equal chunks, as many as the next multiple of ``n_threads``
    (up to rounding), so that the threads of a pass finish together (10 000 rows,
    K=3, d=16, on the BLAS route, over 2 threads: 2 chunks of 5000, not
    6898 and 3102). Where those chunks would hold less than
    :data:`MIN_SPLIT_WORK` or :data:`MIN_CHUNK_ROWS`, the budget's count is
    kept. ``max_rows`` caps the rows (a device's kernel allows more).
    """
    rows = budget // bytes_per_row
    size = int(min(max_rows, max(MIN_CHUNK_ROWS, rows)))
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
