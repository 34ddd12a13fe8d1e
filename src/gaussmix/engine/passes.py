"""One pass over the chunks: the map (per-chunk work, by kernel) and the reduce (merge).

Everything that touches rows goes through here: each chunk is handed to the
kernel that the registry (``engine.kernels``) chooses for its namespace,
dtype, precision structure and shape, once per pass. NumPy chunks of a
threaded kernel run on the pool of ``engine.threads`` with BLAS on one
thread, and the results are merged in chunk order, so a pass gives the same
bits on any number of cores.
"""

from __future__ import annotations

import itertools

import numpy as np
from array_api_compat import array_namespace, device

from . import kernels, missing, threads
from ..namespaces import host_dtype
from .chunks import MIN_CHUNK_ROWS, auto_chunk_size, chunk_slices
from .stats import SCATTER_KINDS, merge


def kernel_of(X, eparams):
    """The kernel of chunks like ``X`` under ``eparams``, chosen once and kept."""
    if eparams.kernel is None:
        host = eparams.host
        eparams.kernel = kernels.for_chunk(X, eparams.structure, host.n_components, host.n_features)
        eparams.plan = eparams.kernel.prepare(eparams)
    return eparams.kernel


def weighted_log_prob(X, eparams):
    """``log_norm_k - ||(x_i - mu_k) U_k||^2 / 2`` for a chunk, shape (n_rows, K), in X's dtype.

    With ``eparams.missing``, rows holding NaN get their marginal (``engine.missing``).
    """
    if eparams.missing:
        return missing.weighted_log_prob(kernel_of(X, eparams), X, eparams)
    return kernel_of(X, eparams).weighted_log_prob(X, eparams)


def e_step(X, eparams, with_resp=True):
    """E-step on one chunk.

    Returns
    -------
    log_prob_norm : array of shape (n_rows,)
        ``log p(x_i)``, the log-likelihood of each row.
    resp : array of shape (n_rows, n_components), or None
        Responsibilities ``r_ik`` (each row sums to 1), unless ``with_resp`` is False.
    """
    if eparams.missing:
        return missing.e_step(kernel_of(X, eparams), X, eparams, with_resp)
    return kernel_of(X, eparams).e_step(X, eparams, with_resp)


def accumulate(X, resp, sample_weight=None, kind="full"):
    """Sufficient statistics of one chunk for given responsibilities (``stats.SuffStats``)."""
    if kind not in SCATTER_KINDS:
        raise ValueError(f"kind must be one of {SCATTER_KINDS}, got {kind!r}")
    return kernels.for_chunk(X).accumulate(X, resp, sample_weight, kind)


def chunk_statistics(X, sample_weight, eparams, scatter):
    """The map of one iteration, for one chunk: ``(stats, loglik, weight)``.

    ``loglik`` is ``sum_i w_i log p(x_i)`` and ``weight`` ``sum_i w_i`` (the
    number of rows without weights). With ``eparams.missing``, rows holding
    NaN are marginalised (``engine.missing``).
    """
    if eparams.missing:
        return missing.statistics(kernel_of(X, eparams), X, sample_weight, eparams, scatter)
    return kernel_of(X, eparams).statistics(X, sample_weight, eparams, scatter)


def merge_results(a, b):
    """The reduce: combine two ``chunk_statistics`` results (associative)."""
    return merge(a[0], b[0]), a[1] + b[1], a[2] + b[2]


def statistics_pass(chunks, inputs, scatter):
    """One E-step pass over ``chunks``, an iterable of ``(X_chunk, weight_chunk)``.

    ``inputs`` are the updater's ``estep.EStepInputs``. Returns
    ``(stats, loglik, total_weight)``: the merged statistics and, as Python
    floats, the weighted log-likelihood and the total weight.
    """
    chunks = iter(chunks)
    first = next(chunks, None)
    if first is None:
        raise ValueError("the data have no rows: there is nothing to fit.")
    eparams = inputs.for_rows(first[0])
    kernel = kernel_of(first[0], eparams)  # prepared once, before threads share it
    second = next(chunks, None)
    chunks = itertools.chain([first] if second is None else [first, second], chunks)

    def work(chunk):
        return chunk_statistics(chunk[0], chunk[1], eparams, scatter)

    total = None
    if kernel.threaded:
        # BLAS on one thread always, so that the bits do not depend on the
        # number of threads (BLAS blocks its sums by its thread count). One
        # chunk gains nothing from the pool but its hand-over costs.
        with threads.single_threaded_blas():
            fanned = second is not None and threads.usable()
            for result in threads.map_ordered(work, chunks) if fanned else map(work, chunks):
                total = result if total is None else merge_results(total, result)
    else:
        for result in map(work, chunks):
            total = result if total is None else merge_results(total, result)
    # The scalars read back to the host per iteration.
    return total[0], float(total[1]), float(total[2])


def resp_statistics(X, sample_weight, resp_for_chunk, scatter, chunk_size):
    """Merged statistics of in-memory rows for given responsibilities (a start).

    ``resp_for_chunk(row_slice)`` gives the responsibilities of those rows.
    """
    xp = array_namespace(X)
    stats = None
    for sl in chunk_slices(X.shape[0], chunk_size):
        resp = xp.asarray(resp_for_chunk(sl), dtype=xp.float64, device=device(X))
        w = None if sample_weight is None else sample_weight[sl, ...]
        chunk_stats = accumulate(X[sl, ...], resp, w, kind=scatter)
        stats = chunk_stats if stats is None else merge(stats, chunk_stats)
    return stats


def chunk_rows(structure, n_components, n_features, n_rows=None, kernel_dtype=None, placement=None):
    """Rows per chunk, within the memory budget of the chunks' kernel (``engine.chunks``).

    ``kernel_dtype`` is given only where each chunk's work is one pass of a
    kernel over chunks of that dtype (an EM pass, or the fused E-step of
    scoring), so that the kernel's own cost per row sizes the chunk; other
    work (a start, labels, criteria, streamed data of unknown dtype) forms
    (n, K) arrays and takes the NumPy kernel's budget. ``placement``
    (``namespaces.Placement``) names the namespace and device of the rows
    (None: NumPy on the host); the kernel of that namespace says its budget
    on that device (``Kernel.chunk_budget``: a GPU's is a share of its free
    memory, not a cache).
    """
    if n_rows is not None and 0 < n_rows <= MIN_CHUNK_ROWS:
        # One chunk whatever the kernel, its budget or the threads:
        # ``auto_chunk_size`` never splits so few rows, and every kernel's
        # budget takes that many (``Kernel.chunk_budget``). Choosing the
        # kernel to learn it took 6-17 us of a small fit.
        return n_rows
    namespace = "numpy" if placement is None else placement.xp.__name__
    if kernel_dtype is None:
        kernel = kernels.Kernel() if placement is None else kernels.select(namespace, "float64")
        itemsize = 8
    else:
        kernel = kernels.select(namespace, kernel_dtype, structure, n_components, n_features)
        itemsize = 4 if host_dtype(kernel_dtype) == np.float32 else 8
    budget, most = kernel.chunk_budget(None if placement is None else placement.device)
    cost = kernel.bytes_per_row(n_components, n_features, itemsize)
    return auto_chunk_size(n_components, n_features, cost, budget=budget, n_rows=n_rows,
                           n_threads=threads.n_threads() if placement is None else 1, max_rows=most)
