r"""The E-step and statistics of rows with missing values (NaN), marginalised.

Missing at random (Ghahramani & Jordan, 1994; Little & Rubin, 2002, ch. 11).
For a row with observed coordinates ``o`` and missing ``m``, and component
``k`` with precision ``P_k = Sigma_k^{-1}``:

* the E-step uses the density of what was observed,
  ``log r_ik ∝ log pi_k + log N(x_o | mu_k,o, Sigma_k,oo)``;
* the row is completed by its conditional mean and covariance under ``k``,

  .. math::

      \hat x_{ik,m} = \mu_{k,m} + \Sigma_{k,mo}\Sigma_{k,oo}^{-1}(x_o - \mu_{k,o})
                    = \mu_{k,m} - P_{k,mm}^{-1} P_{k,mo}(x_o - \mu_{k,o}),
      \qquad
      C_{ik} = \Sigma_{k,mm} - \Sigma_{k,mo}\Sigma_{k,oo}^{-1}\Sigma_{k,om} = P_{k,mm}^{-1}

  (zero outside the missing block);
* the statistics are those of the completed rows, with ``sum_i w_i r_ik
  C_ik`` added to the scatter: ``n_k = sum_i w_i r_ik``, ``x̄_k`` the
  weighted mean of the ``x̂_ik``, and ``S_k = sum_i w_i r_ik [(x̂_ik -
  x̄_k)(x̂_ik - x̄_k)^T + C_ik]``.

These are the expected complete-data statistics, so they stay additive and
merge like complete rows' (chunks, streams, Dask and stepwise EM carry
over), and every covariance model's M-step, a function of ``(n_k, x̄_k,
S_k)``, maximises the expected complete-data log-likelihood from them: EM
(ECM where the M-step iterates), and the observed-data log-likelihood never
decreases. The fill-ins and ``C_ik`` come from the parameters entering the
iteration, the scatter is centred on the new means.

Everything is written with the precision ``P_k``, so that only the small
missing block is factorised: the marginal quadratic form equals the full
one at the completed row, ``(x_o - mu_o)^T Sigma_oo^{-1} (x_o - mu_o) = q̃ -
z_m^T P_mm^{-1} z_m`` with ``z = P (x̃ - mu)`` and ``x̃`` the row with
``mu_m`` in its holes, and ``log |Sigma_oo| = log |Sigma| + log |P_mm|``
(the compiled loops of ``kernels.marginal``, one ``r x r`` factorisation
per row and component). Diagonal and spherical precisions need no
factorisation at all. A row with nothing observed has log-density 0 and
responsibilities ``pi_k``; it carries no information, so it adds nothing to
the statistics or to the total weight.

The scatter is accumulated about the old means ``mu_k`` (the completed
deviations ``x̂_ik - mu_k`` are what the E-step computes anyway) and moved
to the new means by ``S = S_mu - n_k (x̄_k - mu_k)(x̄_k - mu_k)^T``; the
shift is small next to the spread, so no accuracy is lost.

Rows without a NaN go to the chunk's compiled kernel as before; this module
sees only the others, in float64 on the host.
"""

from __future__ import annotations

import numpy as np

from ..structures import STRUCTURES
from .kernels import marginal
from .estep import log_resp_from_weighted
from .stats import SuffStats, merge

def incomplete(X):
    """Rows of a chunk that hold a NaN, as a bool mask (None when there are none)."""
    rows = np.isnan(X).any(axis=1)
    return rows if rows.any() else None


class Completion:
    """The marginal E-step of incomplete rows, and their completion under each component.

    Parameters
    ----------
    X : ndarray of shape (n_rows, n_features)
        Rows each holding at least one NaN.
    inputs : estep.EStepInputs
        The E-step's float64 host inputs (means, precision factors, log-normalisers).
    """

    def __init__(self, X, inputs):
        self.X = np.ascontiguousarray(X, dtype=np.float64)
        self.mask = np.isnan(self.X)
        self.means = np.ascontiguousarray(inputs.means, dtype=np.float64)
        K, d = self.means.shape
        struct = STRUCTURES[inputs.structure]
        diagonal = struct.precision_diagonal(np.asarray(inputs.prec_chol, dtype=np.float64), d)
        log_norm = np.asarray(inputs.log_norm, dtype=np.float64)
        # Rows with something observed; the others carry no information.
        self.observed = ~self.mask.all(axis=1)
        # D = x - mu_k with zeros in the holes, for every component and row.
        self.deviations = np.empty((K, self.X.shape[0], d))
        marginal.deviations(self.X, self.means, self.deviations)
        self._group_by_pattern()
        self.diagonal = diagonal is not None
        if self.diagonal:
            # The holes' conditional means are mu_k's own coordinates (D stays
            # 0 there), and their terms drop out of the density.
            self.precision = np.broadcast_to(diagonal, (K, d))
            corr = self.mask @ (marginal.HALF_LOG_2PI - 0.5 * np.log(self.precision)).T  # (n, K)
            self.wlp = log_norm + corr - 0.5 * np.einsum("knd,kd->nk", self.deviations**2, self.precision)
            return
        U = np.broadcast_to(np.asarray(inputs.prec_chol, dtype=np.float64), (K, d, d))
        self.precision = np.ascontiguousarray(U @ np.swapaxes(U, 1, 2))
        # z = P_k D and D^T z for every row at once (BLAS); the compiled loop
        # adds the holes' part and fills them.
        Z = np.matmul(self.deviations, self.precision)
        q = np.einsum("kid,kid->ki", self.deviations, Z)
        self.wlp = np.empty((self.X.shape[0], K))
        self._inverses = marginal.pattern_inverses(self.patterns, self.precision, log_norm)
        marginal.fill_holes(self.pattern, *self._inverses, Z, q, self.deviations, self.wlp)

    def _group_by_pattern(self):
        """The distinct ``patterns`` of holes (True where missing), and each row's ``pattern``."""
        packed = np.packbits(self.mask, axis=1)
        keys = np.ascontiguousarray(packed).view(np.dtype((np.void, packed.shape[1]))).ravel()
        _, first, pattern = np.unique(keys, return_index=True, return_inverse=True)
        self.patterns, self.pattern = self.mask[first], pattern.ravel().astype(np.int64)

    def conditional_scatter(self, weights, kind):
        """``sum_i weights[i, k] C_ik`` per component: (K, d, d), or (K, d) for ``kind="diag"``."""
        K, d = self.means.shape
        if self.diagonal:
            diag = (weights.T @ self.mask) / self.precision
            return diag if kind == "diag" else np.stack([np.diag(v) for v in diag])
        # C_ik depends on the row only through its pattern of holes: sum the
        # weights per pattern, then form each pattern's covariance once.
        n_patterns = self.patterns.shape[0]
        per_pattern = np.stack([np.bincount(self.pattern, weights=weights[:, k], minlength=n_patterns)
                                for k in range(K)], axis=1)
        out = np.zeros((K, d, d))
        missing, m_start, inverses, i_start, _ = self._inverses
        marginal.pattern_scatter(missing, m_start, inverses, i_start, per_pattern, out)
        return np.diagonal(out, axis1=1, axis2=2).copy() if kind == "diag" else out

    def statistics(self, resp, sample_weight, kind):
        """The chunk's statistics of these rows (``stats.SuffStats``, float64) and their total weight."""
        K, d = self.means.shape
        w = np.ones(self.X.shape[0]) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        w = np.where(self.observed, w, 0.0)
        wr = resp * w[:, None]
        nk = wr.sum(axis=0)
        D, wr_t = self.deviations, wr.T
        shift = np.einsum("kn,knd->kd", wr_t, D) / np.where(nk > 0, nk, 1.0)[:, None]
        scatter = self.conditional_scatter(wr, kind)
        if kind == "diag":
            scatter += np.einsum("kn,knd->kd", wr_t, D * D) - nk[:, None] * shift**2
        else:
            scatter += np.matmul(np.swapaxes(D * wr_t[:, :, None], 1, 2), D)
            scatter -= nk[:, None, None] * shift[:, :, None] * shift[:, None, :]
        means = self.means + shift
        if kind == "pooled":
            scatter = scatter.sum(axis=0, keepdims=True)
        return SuffStats(nk, means, scatter), float(w.sum())

    def impute(self, resp):
        """``sum_k r_ik x̂_ik``: each hole filled with its conditional expectation."""
        out = resp @ self.means + np.einsum("nk,knd->nd", resp, self.deviations)
        return np.where(self.mask, out, self.X)


# ------------------------------------------------------------- per chunk
def e_step(kernel, X, eparams, with_resp=True):
    """``kernel.e_step`` on a chunk whose rows may hold NaN: marginal for those rows."""
    rows = incomplete(X)
    if rows is None:
        return kernel.e_step(X, eparams, with_resp)
    n, K = X.shape[0], eparams.host.n_components
    log_prob = np.empty(n, dtype=X.dtype)
    resp = np.empty((n, K), dtype=X.dtype) if with_resp else None
    full = ~rows
    if full.any():
        part_log_prob, part_resp = kernel.e_step(np.ascontiguousarray(X[full]), eparams, with_resp)
        log_prob[full] = part_log_prob
        if with_resp:
            resp[full] = part_resp
    for block, completion in _blocks(X, rows, eparams.host):
        part_log_prob, log_resp = log_resp_from_weighted(completion.wlp)
        part_log_prob[~completion.observed] = 0.0  # exactly, not log sum_k pi_k rounded
        log_prob[block] = part_log_prob
        if with_resp:
            resp[block] = np.exp(log_resp)
    return log_prob, resp


def weighted_log_prob(kernel, X, eparams):
    """``kernel.weighted_log_prob`` on a chunk whose rows may hold NaN."""
    rows = incomplete(X)
    if rows is None:
        return kernel.weighted_log_prob(X, eparams)
    out = np.empty((X.shape[0], eparams.host.n_components), dtype=X.dtype)
    full = ~rows
    if full.any():
        out[full] = kernel.weighted_log_prob(np.ascontiguousarray(X[full]), eparams)
    for block, completion in _blocks(X, rows, eparams.host):
        out[block] = completion.wlp
    return out


def statistics(kernel, X, sample_weight, eparams, scatter):
    """``kernel.statistics`` on a chunk whose rows may hold NaN: ``(stats, loglik, weight)``."""
    rows = incomplete(X)
    if rows is None:
        return kernel.statistics(X, sample_weight, eparams, scatter)
    total, loglik, weight = None, 0.0, 0.0
    for block, completion in _blocks(X, rows, eparams.host):
        log_prob, log_resp = log_resp_from_weighted(completion.wlp)
        log_prob[~completion.observed] = 0.0
        w = None if sample_weight is None else sample_weight[block]
        stats, block_weight = completion.statistics(np.exp(log_resp), w, scatter)
        # A row with nothing observed has log p = 0: it adds nothing here either.
        loglik += float(log_prob.sum() if w is None else np.where(w > 0, log_prob * w, 0.0).sum())
        weight += block_weight
        total = stats if total is None else merge(total, stats)
    full = ~rows
    if not full.any():
        return total, loglik, weight
    w_full = None if sample_weight is None else np.ascontiguousarray(sample_weight[full])
    part, part_loglik, part_weight = kernel.statistics(np.ascontiguousarray(X[full]), w_full, eparams, scatter)
    return merge(part.to_numpy(), total), part_loglik + loglik, part_weight + weight


#: The completed deviations of a block of incomplete rows take at most this
#: many bytes (K x rows x d floats, twice), so that memory stays bounded by
#: the chunk whatever its size.
DEVIATION_BYTES = 2**20


def _blocks(X, rows, host):
    """``(row indices, Completion)`` for the chunk's incomplete rows, block by block."""
    incomplete_rows = np.flatnonzero(rows)
    step = max(1, DEVIATION_BYTES // (8 * host.n_components * host.n_features))
    for start in range(0, incomplete_rows.size, step):
        block = incomplete_rows[start : start + step]
        yield block, Completion(X[block], host)


def impute(kernel, X, eparams):
    """X with each NaN replaced by ``E[x_m | x_o] = sum_k r_k(x_o) x̂_k,m``; complete rows unchanged."""
    rows = incomplete(X)
    out = np.array(X, dtype=X.dtype, copy=True)
    if rows is None:
        return out
    for block, completion in _blocks(X, rows, eparams.host):
        _, log_resp = log_resp_from_weighted(completion.wlp)
        out[block] = completion.impute(np.exp(log_resp))
    return out
