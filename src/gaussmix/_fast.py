r"""Compiled kernels for NumPy chunks: E-step and statistics in one pass.

The array-API functions of ``_estep`` and ``_stats`` remain the definition;
these kernels compute the same map of one EM iteration (``_em.chunk_statistics``)
faster, and the tests hold them to the reference on random inputs and edge
shapes. Two routes, chosen per shape (:func:`route`):

**Row kernel** (small d; Numba, rows split into blocks over the cores). For
each row and component it forms ``z = x - mu_k`` in float64, the squared
distance ``||z U_k||^2`` (or ``sum_j p_kj z_j^2`` for diagonal precisions),
the log-sum-exp and the responsibility ``r_ik``, and adds ``w_i r_ik``,
``w_i r_ik z`` and ``w_i r_ik z z^T`` to its block's sums. The statistics are
thus centred on the component's *current* mean; with ``a_k = sum_i w_i r_ik z_i``,

.. math::

    \bar x_k = \mu_k + a_k / n_k, \qquad
    S_k = \sum_i w_i r_{ik} z_i z_i^T - a_k a_k^T / n_k ,

which cancels only by ``eps (|\bar x_k - \mu_k| / \sigma_k)^2``: nothing once
EM has settled. No (n, K) or (n, K, d) array exists.

**GEMM route** (larger d). The chunk is centred on its mean ``c``;
full and shared precisions whiten every component in one product against
the stacked factors, ``Y = (X - c) [U_1 \dots U_K]``, and
``||(x - \mu_k) U_k||^2 = ||y_k - b_k||^2`` with ``b_k = (\mu_k - c) U_k``
(a shared factor needs ``(X - c) U`` once). Diagonal precisions use the
expansion of ``_kernels.sq_distances_diagonal`` in float64. The scatter of
all components is one product, ``[r_1 z, \dots, r_K z]^T z`` with
``z = x - c`` in float64, less ``a_k a_k^T / n_k``.

Float32 chunks whiten in float32 (half the cost of float64) and accumulate
in float64. Where ``b_k`` is so large that ``y_k - b_k`` would cancel more
than the float32 result can carry (a component far from the chunk's mean),
that component's distances take the exact per-component arithmetic of
``_kernels``. As in ``_kernels.accumulate_numpy``, a component whose centred
moments lost more than half their digits is recomputed exactly.

``log p(x_i)`` and the responsibilities come from one compiled log-sum-exp
over each row, with the conventions of ``_estep.log_resp_from_weighted``: a
row whose every density underflowed has ``log p = -inf`` and responsibilities
``1/K``, and a zero weight cancels its row.

Numba is imported lazily; without it (:data:`AVAILABLE` false) EM runs on the
NumPy kernels of ``_kernels``. ``GAUSSMIX_NO_NUMBA=1`` forces that too.
"""

from __future__ import annotations

import os

import numpy as np

from ._stats import SuffStats

try:  # pragma: no branch - an optional accelerator
    if os.environ.get("GAUSSMIX_NO_NUMBA"):
        raise ImportError("disabled by GAUSSMIX_NO_NUMBA")
    import numba as nb
except ImportError:  # pragma: no cover - exercised where numba is missing
    nb = None

#: Whether the compiled kernels can be used.
AVAILABLE = nb is not None

#: Rows per block of the row kernel: each block keeps its own sums, so the
#: result does not depend on how many threads run the blocks.
ROW_BLOCK = 512

#: Largest d at which the row kernel beats the GEMM route, per precision
#: layout (measured by ``benchmarks/bench_em.py`` on a 2-core EPYC).
ROW_KERNEL_MAX_D = {"matrix": 4, "diag": 8}

#: float32 whitening is trusted while ``eps * |b_k|^2`` stays below this.
F32_CANCEL_LIMIT = 2e-4


def _jit(**kw):
    def wrap(f):
        if nb is None:
            return f
        return nb.njit(cache=True, nogil=True, **kw)(f)

    return wrap


# --------------------------------------------------------------------------
# compiled kernels
# --------------------------------------------------------------------------


@_jit(inline="always")
def _row_lse(wlp):
    """log-sum-exp of one row; -inf when every entry is -inf."""
    K = wlp.shape[0]
    top = -np.inf
    for k in range(K):
        if wlp[k] > top:
            top = wlp[k]
    if not np.isfinite(top):
        return -np.inf
    total = 0.0
    for k in range(K):
        total += np.exp(wlp[k] - top)
    return top + np.log(total)


def _row_kernel(X, w, means, U, pdiag, matrix, log_norm, full_scatter):
    n, d = X.shape
    K = means.shape[0]
    n_blocks = (n + ROW_BLOCK - 1) // ROW_BLOCK
    width = d * d if full_scatter else d
    nk = np.zeros((n_blocks, K))
    a = np.zeros((n_blocks, K, d))
    S = np.zeros((n_blocks, K, width))
    ll = np.zeros(n_blocks)
    for b in nb.prange(n_blocks):
        z = np.empty((K, d))
        wlp = np.empty(K)
        for i in range(b * ROW_BLOCK, min(n, (b + 1) * ROW_BLOCK)):
            for k in range(K):
                s = 0.0
                if matrix:
                    for j in range(d):
                        z[k, j] = X[i, j] - means[k, j]
                    for j in range(d):
                        y = 0.0
                        for m in range(j + 1):  # U_k is upper triangular
                            y += z[k, m] * U[k, m, j]
                        s += y * y
                else:
                    for j in range(d):
                        t = X[i, j] - means[k, j]
                        z[k, j] = t
                        s += pdiag[k, j] * t * t
                wlp[k] = log_norm[k] - 0.5 * s
            lse = _row_lse(wlp)
            wi = w[i]
            if wi > 0:
                ll[b] += wi * lse
            for k in range(K):
                r = wi / K if lse == -np.inf else wi * np.exp(wlp[k] - lse)
                if r == 0.0:
                    continue
                nk[b, k] += r
                for j in range(d):
                    rz = r * z[k, j]
                    a[b, k, j] += rz
                    if full_scatter:
                        for m in range(j, d):
                            S[b, k, j * d + m] += rz * z[k, m]
                    else:
                        S[b, k, j] += rz * z[k, j]
    return nk, a, S, ll


_row_kernel = _jit(parallel=True)(_row_kernel)


@_jit(parallel=True)
def _wlp_whitened(Y, b, shared, log_norm, wlp):
    """``wlp[i, k] = log_norm_k - ||Y[i, block k] - b_k||^2 / 2`` (block 0 if shared)."""
    n = Y.shape[0]
    K, d = b.shape
    for i in nb.prange(n):
        for k in range(K):
            off = 0 if shared else k * d
            s = 0.0
            for j in range(d):
                t = Y[i, off + j] - b[k, j]
                s += t * t
            wlp[i, k] = log_norm[k] - 0.5 * s


@_jit(parallel=True)
def _responsibilities(wlp, w, wr, log_prob):
    """From ``wlp`` (n, K): ``wr = w_i r_ik`` and ``log_prob = log p(x_i)``.

    Returns ``sum_i w_i log p(x_i)`` over the rows of positive weight.
    """
    n, K = wlp.shape
    n_blocks = (n + ROW_BLOCK - 1) // ROW_BLOCK
    ll = np.zeros(n_blocks)
    for b in nb.prange(n_blocks):
        for i in range(b * ROW_BLOCK, min(n, (b + 1) * ROW_BLOCK)):
            lse = _row_lse(wlp[i])
            log_prob[i] = lse
            wi = w[i]
            if wi > 0:
                ll[b] += wi * lse
            for k in range(K):
                wr[i, k] = wi / K if lse == -np.inf else wi * np.exp(wlp[i, k] - lse)
    return ll.sum()


# --------------------------------------------------------------------------
# per-pass preparation
# --------------------------------------------------------------------------


class Plan:
    """What the kernels need from one pass's parameters (built once per pass).

    Attributes are float64 host arrays: ``means`` (K, d) the exact means,
    ``log_norm`` (K,), and either ``U`` (K, d, d) precision factors (a shared
    factor repeated) with ``stacked`` (d, K*d or d) for the GEMM route, or
    ``pdiag`` (K, d) diagonal precisions.
    """

    def __init__(self, eparams):
        means = np.ascontiguousarray(eparams.means_host, dtype=np.float64)
        K, d = means.shape
        self.means = means
        self.log_norm = np.asarray(eparams.log_norm_host, dtype=np.float64)
        self.matrix = eparams.precision_diag is None
        self.shared = False
        if self.matrix:
            U = np.asarray(eparams.prec_chol_host, dtype=np.float64)
            self.shared = U.ndim == 2
            self.stacked = U if self.shared else np.ascontiguousarray(
                np.transpose(U, (1, 0, 2)).reshape(d, K * d)
            )
            self.U = np.ascontiguousarray(np.broadcast_to(U, (K, d, d)))
            self.pdiag = np.zeros((K, d))
        else:
            self.U = np.zeros((K, 1, 1))
            self.pdiag = np.ascontiguousarray(np.asarray(eparams.precision_diag_host, dtype=np.float64))
        self._stacked_as = {}
        layout = "matrix" if self.matrix else "diag"
        self.row_kernel = d <= ROW_KERNEL_MAX_D[layout]

    def stacked_as(self, dtype):
        if dtype not in self._stacked_as:
            self._stacked_as[dtype] = np.ascontiguousarray(self.stacked, dtype=dtype)
        return self._stacked_as[dtype]


def plan_of(eparams):
    """The cached :class:`Plan` of ``eparams``."""
    if eparams.plan is None:
        eparams.plan = Plan(eparams)
    return eparams.plan


def supports(Xc):
    """Whether the compiled kernels take this chunk."""
    return AVAILABLE and isinstance(Xc, np.ndarray) and Xc.dtype in (np.float32, np.float64)


def _weights(wc, n):
    if wc is None:
        return np.ones(n)
    return np.ascontiguousarray(wc, dtype=np.float64)


# --------------------------------------------------------------------------
# the map of one iteration
# --------------------------------------------------------------------------


def chunk_statistics(Xc, wc, eparams, scatter):
    """``_em.chunk_statistics`` for a NumPy chunk: ``(stats, loglik, weight)``."""
    plan = plan_of(eparams)
    X = np.ascontiguousarray(Xc)
    n = X.shape[0]
    w = _weights(wc, n)
    weight = float(n) if wc is None else float(w.sum())
    if plan.row_kernel:
        nk, a, S, ll = _row_kernel(
            X, w, plan.means, plan.U, plan.pdiag, plan.matrix, plan.log_norm, scatter == "full"
        )
        stats = _finish(nk.sum(axis=0), a.sum(axis=0), S.sum(axis=0), plan.means, scatter)
        loglik = float(ll.sum())
        lossy = _lossy(stats)
        if lossy.size:
            wr = _wr_and_log_prob(X, w, plan)[0]
            _recompute(stats, X, wr, lossy, scatter)
        return stats, loglik, weight
    wr, _, loglik = _wr_and_log_prob(X, w, plan)
    return _gemm_statistics(X, wr, scatter), loglik, weight


def _finish(nk, a, raw, origin, scatter, upper_only=True):
    """Statistics from sums of ``w r``, ``w r z`` and ``w r z z^T`` with ``z = x - origin``.

    ``upper_only``: the full ``raw`` holds only its upper triangle (the row kernel's).
    """
    K, d = a.shape
    safe = np.where(nk > 0, nk, 1.0)
    shift = a / safe[:, None]
    if scatter == "full":
        raw = raw.reshape(K, d, d)
        if upper_only:
            raw = np.triu(raw) + np.swapaxes(np.triu(raw, 1), 1, 2)
        S = raw - shift[:, :, None] * a[:, None, :]
        S = 0.5 * (S + np.swapaxes(S, 1, 2))
        spread = np.trace(S, axis1=1, axis2=2)
        total = np.trace(raw, axis1=1, axis2=2)
    else:
        S = raw - shift * a
        # As in _kernels: below the rounding of the raw moment is zero.
        S[S <= 64 * np.finfo(np.float64).eps * raw] = 0.0
        spread, total = S.sum(axis=1), raw.sum(axis=1)
    means = np.where((nk > 0)[:, None], origin + shift, 0.0)
    stats = SuffStats(nk, means, S)
    stats._cancel = (total, spread)
    return stats


def _lossy(stats):
    total, spread = stats._cancel
    del stats._cancel
    return np.flatnonzero(total > 1e8 * np.maximum(spread, np.finfo(np.float64).tiny))


def _recompute(stats, X, wr, components, scatter):
    """Two-pass scatter, centred on the component's own mean, for ``components``."""
    X64 = np.asarray(X, dtype=np.float64)
    for k in components:
        nk = wr[:, k].sum()
        mean = (wr[:, k] @ X64) / (nk if nk > 0 else 1.0)
        diff = X64 - mean
        weighted = diff * wr[:, k, None]
        stats.scatter[k] = weighted.T @ diff if scatter == "full" else np.sum(weighted * diff, axis=0)
        stats.means[k] = mean


def _gemm_statistics(X, wr, scatter):
    """Statistics of a chunk from its weighted responsibilities (GEMM route)."""
    X64 = np.asarray(X, dtype=np.float64)
    centre = X64.mean(axis=0)
    z = X64 - centre
    n, K = wr.shape
    d = z.shape[1]
    nk = wr.sum(axis=0)
    a = wr.T @ z
    if scatter == "full":
        # One (K d, n) x (n, d) product for every component's scatter.
        weighted = (wr[:, :, None] * z[:, None, :]).reshape(n, K * d)
        raw = (weighted.T @ z).reshape(K, d * d)
    else:
        raw = wr.T @ (z * z)
    stats = _finish(nk, a, raw, centre, scatter, upper_only=False)
    lossy = _lossy(stats)
    if lossy.size:
        _recompute(stats, X64, wr, lossy, scatter)
    return stats


# --------------------------------------------------------------------------
# the E-step alone
# --------------------------------------------------------------------------


def weighted_log_prob64(X, plan):
    """``log pi_k + log N(x_i | mu_k, Sigma_k)`` (n, K), float64, for a NumPy chunk."""
    X = np.ascontiguousarray(X)
    if plan.row_kernel:
        diff = np.asarray(X, dtype=np.float64)[:, None, :] - plan.means[None, :, :]
        if plan.matrix:
            y = np.einsum("nkj,kjm->nkm", diff, plan.U)
            sq = np.einsum("nkm,nkm->nk", y, y)
        else:
            sq = np.einsum("nkj,kj->nk", diff * diff, plan.pdiag)
        return plan.log_norm - 0.5 * sq
    if not plan.matrix:
        from ._kernels import sq_distances_diagonal

        sq = sq_distances_diagonal(np.asarray(X, dtype=np.float64), plan.means, plan.pdiag)
        return plan.log_norm - 0.5 * sq
    n, d = X.shape
    K = plan.means.shape[0]
    c = X.mean(axis=0, dtype=np.float64).astype(X.dtype)
    b = np.einsum("kj,kjm->km", plan.means - c.astype(np.float64), plan.U)
    Y = (X - c) @ plan.stacked_as(X.dtype)
    wlp = np.empty((n, K))
    _wlp_whitened(Y, b, plan.shared, plan.log_norm, wlp)
    eps = np.finfo(X.dtype).eps
    if eps > np.finfo(np.float64).eps:
        far = np.flatnonzero(eps * np.sum(b * b, axis=1) > F32_CANCEL_LIMIT)
        for k in far:  # whitened far from the chunk's mean: exact arithmetic
            mean32 = plan.means[k].astype(X.dtype)
            y = (X - mean32) - (plan.means[k] - mean32.astype(np.float64)).astype(X.dtype)
            y = y @ plan.U[k].astype(X.dtype)
            wlp[:, k] = plan.log_norm[k] - 0.5 * np.einsum("ij,ij->i", y, y, dtype=np.float64)
    return wlp


def _wr_and_log_prob(X, w, plan):
    """``(w_i r_ik, log p(x_i), sum_i w_i log p(x_i))`` for a chunk."""
    return density_and_resp(weighted_log_prob64(X, plan), w)


def density_and_resp(wlp, w=None):
    """``(r_ik w_i, log p(x_i), sum_i w_i log p(x_i))`` from ``wlp``, one compiled pass."""
    wlp = np.ascontiguousarray(wlp, dtype=np.float64)
    n, K = wlp.shape
    w = np.ones(n) if w is None else w
    wr = np.empty((n, K))
    log_prob = np.empty(n)
    loglik = _responsibilities(wlp, w, wr, log_prob)
    return wr, log_prob, float(loglik)


def weighted_log_prob(X, eparams):
    """``log pi_k + log N(x_i | mu_k, Sigma_k)`` for a NumPy chunk, in X's dtype."""
    return weighted_log_prob64(X, plan_of(eparams)).astype(X.dtype, copy=False)


__all__ = ["AVAILABLE", "Plan", "chunk_statistics", "weighted_log_prob", "density_and_resp", "supports"]
