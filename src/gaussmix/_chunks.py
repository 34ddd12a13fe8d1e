"""Splitting rows into chunks whose temporaries fit a memory budget."""

from __future__ import annotations

#: Default budget for one chunk's per-row temporaries, in bytes. Chunks this
#: small stay in cache (on a 2-core EPYC, 4 MiB beat 2, 8 and 64 MiB).
DEFAULT_CHUNK_BYTES = 4 * 2**20

#: Fewest rows per chunk: every chunk also costs O(K d^2) to finish and merge
#: its statistics, which must stay small beside its O(n K d^2) products.
MIN_CHUNK_ROWS = 1024

#: Most rows per chunk (more buys nothing once per-chunk costs are amortised).
MAX_CHUNK_ROWS = 65536


def bytes_per_row(n_components, n_features):
    """Bytes of temporaries one row costs in the E-step plus the statistics.

    The (n, K) log-densities and responsibilities and a few (n, d) copies of
    the chunk, in float64. Products that grow with ``K d`` are formed one
    component at a time (the compiled TRMM route) or a group of components
    at a time under the same budget (the NumPy kernels,
    :func:`component_groups`); the array-API reference path forms (K, n, d)
    blocks and is not the fast path.
    """
    return 8 * (4 * n_components + 4 * n_features)


def auto_chunk_size(n_components, n_features, budget=DEFAULT_CHUNK_BYTES):
    """Rows per chunk: temporaries under ``budget``, within the row limits."""
    rows = budget // bytes_per_row(n_components, n_features)
    return int(min(MAX_CHUNK_ROWS, max(MIN_CHUNK_ROWS, rows)))


def chunk_slices(n_rows, chunk_size):
    """Yield ``slice`` objects covering ``range(n_rows)`` in order."""
    for start in range(0, n_rows, chunk_size):
        yield slice(start, min(start + chunk_size, n_rows))


def component_groups(n_rows, n_components, n_features, budget=DEFAULT_CHUNK_BYTES):
    """Ranges ``(k0, k1)`` of components whose (n, group * d) float64 products fit ``budget``."""
    size = max(1, budget // (8 * max(1, n_rows) * n_features))
    return [(k0, min(n_components, k0 + size)) for k0 in range(0, n_components, size)]
