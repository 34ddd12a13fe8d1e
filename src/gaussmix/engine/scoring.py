"""Per-row results of a fitted mixture over any source, chunk by chunk.

:data:`ROW_RESULTS` names what can be computed for each row (the
log-density, the responsibilities, the label, the criterion terms, or
responsibilities and log-density from one E-step); :func:`map_rows` computes
one over every compute chunk of a source into one array, and
:func:`criterion_sums` sums the terms of BIC, AIC and ICL in one pass.
Sources call these (``backends.base.Source.map_rows``); a Dask source maps
the same per-chunk functions lazily over its blocks instead.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Callable

import numpy as np
from array_api_compat import array_namespace

from ..namespaces import to_host
from . import missing, threads
from .passes import e_step, kernel_of, weighted_log_prob


class NonFiniteRows(Exception):
    """A chunk holds NaN or infinity, found after its E-step (see :func:`fused_e_step`)."""


def fused_e_step(X, eparams, with_resp=True):
    """``(log p(x_i), r_ik)`` of a chunk, raising :class:`NonFiniteRows` if it holds NaN or inf.

    In-memory arrays are scored without a pass over them to look for NaN
    and infinity first (a sixth of predict_proba on 10 000 rows): such a
    row makes its ``log p(x)`` NaN or infinite on every route, since every
    component's density reads every feature. So only a chunk with a
    non-finite ``log p`` is searched; a finite chunk whose densities all
    underflowed (``log p = -inf``) passes. The estimator turns the
    exception into the usual error, naming the rows.
    """
    # NaN and overflow are looked for in the result, so NumPy's warnings
    # about them would only precede the error (or the -inf) with noise.
    with np.errstate(invalid="ignore", over="ignore"):
        log_prob, resp = e_step(X, eparams, with_resp)
    if not isinstance(X, np.ndarray):
        # Another library's rows were checked as a whole on their device
        # (``validation_xp``): no host synchronisation per chunk here.
        return log_prob, resp
    xp = array_namespace(log_prob)
    if not bool(xp.all(xp.isfinite(log_prob))):
        # A NaN is a missing value where they are marginalised: only inf is wrong.
        wrong = xp.isinf(X) if eparams.missing else ~xp.isfinite(X)
        if bool(xp.any(wrong)):
            raise NonFiniteRows
    return log_prob, resp


def _responsibilities(X, eparams):
    return fused_e_step(X, eparams)[1]


def _log_density(X, eparams):
    return fused_e_step(X, eparams, with_resp=False)[0]


def _map_labels(X, eparams):
    wlp = weighted_log_prob(X, eparams)
    return array_namespace(wlp).argmax(wlp, axis=1)


def criterion_rows(X, eparams):
    """Per row: ``log p(x)``, ``log max_k r_k`` (the terms of BIC and ICL) and 1, in float64.

    From the same E-step as ``score_samples``, so that ``score`` is their
    mean. The last column counts the row in ``n``: a row with nothing
    observed (every value missing) has 0 in all three.
    """
    log_prob, resp = e_step(X, eparams)
    xp = array_namespace(resp)
    with np.errstate(divide="ignore"):  # a responsibility of exactly 0 cannot be the largest
        log_map = xp.log(xp.astype(xp.max(resp, axis=1), xp.float64))
    log_prob = xp.astype(log_prob, xp.float64)
    terms = xp.stack([log_prob, log_map, xp.ones_like(log_prob)], axis=1)
    if eparams.missing:
        terms[np.isnan(X).all(axis=1)] = 0.0
    return terms


def _imputed(X, eparams):
    if not eparams.missing:
        return X.copy()
    return missing.impute(kernel_of(X, eparams), X, eparams)


def _proba_and_density(X, eparams):
    log_prob_norm, resp = fused_e_step(X, eparams)
    xp = array_namespace(resp)
    return xp.concat([resp, xp.expand_dims(log_prob_norm, axis=1)], axis=1)


@dataclass(frozen=True)
class RowResult:
    """One kind of per-row result.

    Attributes
    ----------
    per_chunk : callable
        ``per_chunk(X_chunk, eparams)`` computes it for a chunk.
    n_columns : callable
        Its number of columns given K; None for one value per row.
    dtype : callable
        Its dtype given the data's.
    fused : bool
        Whether each chunk's work is one fused E-step (:func:`fused_e_step`),
        which forms no (n, K) log-densities and finds NaN and infinity in
        its chunk from its result.
    """

    per_chunk: Callable
    n_columns: Callable
    dtype: Callable
    fused: bool


ROW_RESULTS = {
    "density": RowResult(_log_density, lambda K: None, lambda dtype: dtype, True),
    "proba": RowResult(_responsibilities, lambda K: K, lambda dtype: dtype, True),
    "labels": RowResult(_map_labels, lambda K: None, lambda dtype: np.dtype(np.intp), False),
    "terms": RowResult(criterion_rows, lambda K: 3, lambda dtype: np.dtype(np.float64), False),
    "proba+density": RowResult(_proba_and_density, lambda K: K + 1, lambda dtype: dtype, True),
    # The number of columns is the data's, given as n_columns by the caller.
    "imputed": RowResult(_imputed, lambda K: None, lambda dtype: dtype, False),
}


def map_rows(source, inputs, per_chunk, n_columns, dtype):
    """``per_chunk`` of every compute chunk of ``source``, as one array.

    ``inputs`` are the fitted mixture's ``estep.EStepInputs``. With the
    number of rows known, the chunks are written into one preallocated
    result, so the output is never held twice. Chunks of a threaded kernel
    run on the thread pool of ``engine.threads``, in order.
    """
    tail = () if n_columns is None else (n_columns,)
    chunks = source.compute_chunks()
    first = next(chunks, None)
    if first is None:
        return np.empty((0,) + tail, dtype=dtype)
    eparams = inputs.for_rows(first[0])

    def rows(chunk):
        return per_chunk(chunk[0], eparams)

    kernel = kernel_of(first[0], eparams)  # prepared once, before threads share it
    second = next(chunks, None)
    chunks = itertools.chain([first] if second is None else [first, second], chunks)
    if not isinstance(first[0], np.ndarray):
        # Another library's rows: its parts joined on its device.
        parts = list(map(rows, chunks))
        return parts[0] if len(parts) == 1 else array_namespace(parts[0]).concat(parts, axis=0)
    if not kernel.threaded:
        return _collect(source, map(rows, chunks), tail, dtype)
    with threads.single_threaded_blas():  # the same bits on any thread (engine.threads)
        # One chunk gains nothing from the pool but its hand-over (predict_proba
        # of 145 rows, K=3: 136 us, of which the chunk's work is a fifth).
        fanned = second is not None and threads.usable()
        parts = threads.map_ordered(rows, chunks) if fanned else map(rows, chunks)
        return _collect(source, parts, tail, dtype)


def _collect(source, parts, tail, dtype):
    if source.n_samples is not None:
        out = np.empty((source.n_samples,) + tail, dtype=dtype)
        start = 0
        for part in parts:
            out[start : start + part.shape[0]] = part
            start += part.shape[0]
        return out
    parts = list(parts)
    if not parts:
        return np.empty((0,) + tail, dtype=dtype)
    return np.concatenate(parts).astype(dtype, copy=False)


def criterion_sums(source, inputs):
    """One pass over ``source``: ``(log L, sum_i log max_k r_ik, n)``, weighted.

    ``n`` is the number of rows, or the total weight with sample weights
    (rows with nothing observed do not count). BIC, AIC and ICL are all
    functions of these three numbers (``criteria``).
    """
    eparams, total = None, None
    for Xc, wc in source.compute_chunks():
        eparams = inputs.for_rows(Xc) if eparams is None else eparams
        kernel = kernel_of(Xc, eparams)
        if kernel.fused_criteria and not eparams.missing:
            # Summed in the E-step's own pass, with no per-row arrays: the
            # chunk's sums took 52 us, against 100-119 (145 rows, K=5, VVV).
            part = np.array(kernel.criterion_sums(Xc, wc, eparams))
            total = part if total is None else total + part
            continue
        rows = criterion_rows(Xc, eparams)
        xp = array_namespace(rows)
        if wc is not None:
            # A zero weight cancels the row even where its density underflowed.
            wc = xp.expand_dims(xp.astype(wc, xp.float64), axis=1)
            rows = xp.where(wc > 0, rows * wc, xp.zeros_like(rows))
        part = xp.sum(rows, axis=0)  # on the rows' device: three numbers cross, once
        total = part if total is None else total + part
    sums = np.zeros(3) if total is None else to_host(total)
    return float(sums[0]), float(sums[1]), float(sums[2])
