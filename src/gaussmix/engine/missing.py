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
missing block is factorised, once per (missingness pattern, component) of a
chunk: the marginal quadratic form equals the full one at the completed
row, ``(x_o - mu_o)^T Sigma_oo^{-1} (x_o - mu_o) = q̃ - z_m^T P_mm^{-1} z_m``
with ``z = P (x̃ - mu)`` and ``x̃`` the row with ``mu_m`` in its holes, and
``log |Sigma_oo| = log |Sigma| + log |P_mm|``. Diagonal and spherical
precisions need no factorisation at all. A row with nothing observed has
log-density 0 and responsibilities ``pi_k``; it carries no information,
so it adds nothing to the statistics or to the total weight.

Rows without a NaN go to the chunk's compiled kernel as before; this module
sees only the others, in float64 on the host.
"""

from __future__ import annotations

import math

import numpy as np

from ..structures import STRUCTURES
from .estep import log_resp_from_weighted
from .stats import SuffStats, merge

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


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
        self.X = np.asarray(X, dtype=np.float64)
        self.mask = np.isnan(self.X)
        self.means = np.asarray(inputs.means, dtype=np.float64)
        K, d = self.means.shape
        struct = STRUCTURES[inputs.structure]
        diagonal = struct.precision_diagonal(np.asarray(inputs.prec_chol, dtype=np.float64), d)
        self.diagonal = diagonal is not None
        if self.diagonal:
            self.precision = np.broadcast_to(diagonal, (K, d))
        else:
            U = np.broadcast_to(np.asarray(inputs.prec_chol, dtype=np.float64), (K, d, d))
            self.precision = U @ np.swapaxes(U, 1, 2)
            self._groups, self._pattern_of_row, self._n_patterns = _pattern_groups(self.mask)
            self._factorise()
        # Rows with something observed; the others carry no information.
        self.observed = ~self.mask.all(axis=1)
        self.deltas = {}
        self.wlp = self._weighted_log_prob(np.asarray(inputs.log_norm, dtype=np.float64))

    # ----------------------------------------------------------- the E-step
    def _factorise(self):
        """Per (pattern, component): ``P_mm^{-1}`` and ``|m|/2 log 2 pi - log|P_mm|/2``."""
        K = self.means.shape[0]
        self.correction = np.zeros((self._n_patterns, K))
        for group in self._groups:
            idx = group.missing  # (n_patterns_r, r)
            block = self.precision[:, idx[:, :, None], idx[:, None, :]]  # (K, n_patterns_r, r, r)
            chol = np.linalg.cholesky(block)
            log_det = 2.0 * np.log(np.diagonal(chol, axis1=-2, axis2=-1)).sum(axis=-1)
            group.inverse = np.linalg.inv(block)
            self.correction[group.patterns] = (idx.shape[1] * _HALF_LOG_2PI - 0.5 * log_det).T

    def _weighted_log_prob(self, log_norm):
        """``log pi_k + log N(x_o | mu_k,o, Sigma_k,oo)``, shape (n_rows, K)."""
        X, mask = self.X, self.mask
        n, K = X.shape[0], self.means.shape[0]
        wlp = np.empty((n, K))
        if self.diagonal:
            P = self.precision
            corr = mask @ (_HALF_LOG_2PI - 0.5 * np.log(P)).T  # (n, K)
            for k in range(K):
                D = np.where(mask, 0.0, X - self.means[k])
                wlp[:, k] = log_norm[k] + corr[:, k] - 0.5 * ((D * D) @ P[k])
            return wlp
        for k in range(K):
            D = np.where(mask, 0.0, X - self.means[k])
            Z = D @ self.precision[k]
            q = np.einsum("ij,ij->i", D, Z)
            for g, group in enumerate(self._groups):
                zm = np.take_along_axis(Z[group.rows], group.missing[group.position], axis=1)
                delta = -np.einsum("nij,nj->ni", group.inverse[k, group.position], zm)
                q[group.rows] += np.einsum("ni,ni->n", delta, zm)
                self.deltas[k, g] = delta
            wlp[:, k] = log_norm[k] + self.correction[self._pattern_of_row, k] - 0.5 * q
        return wlp

    # ----------------------------------------------------------- completion
    def completed(self, k):
        """The rows completed under component ``k``: ``x̂_ik`` (n_rows, n_features)."""
        filled = np.where(self.mask, self.means[k], self.X)
        if not self.diagonal:
            for g, group in enumerate(self._groups):
                rows = filled[group.rows]
                np.put_along_axis(rows, group.missing[group.position],
                                  np.take_along_axis(rows, group.missing[group.position], axis=1)
                                  + self.deltas[k, g], axis=1)
                filled[group.rows] = rows
        return filled

    def conditional_scatter(self, k, weights, kind):
        """``sum_i w_i r_ik C_ik`` for weights ``w_i r_ik``: (d, d), or its diagonal for ``kind="diag"``."""
        d = self.means.shape[1]
        if self.diagonal:
            diag = (weights @ self.mask) / self.precision[k]
            return diag if kind == "diag" else np.diag(diag)
        out = np.zeros((d, d))
        for group in self._groups:
            per_pattern = np.bincount(group.position, weights=weights[group.rows],
                                      minlength=group.missing.shape[0])
            idx = group.missing
            np.add.at(out, (idx[:, :, None], idx[:, None, :]), per_pattern[:, None, None] * group.inverse[k])
        return np.diag(out).copy() if kind == "diag" else out

    def statistics(self, resp, sample_weight, kind):
        """The chunk's statistics of these rows (``stats.SuffStats``, float64) and their total weight."""
        K, d = self.means.shape
        w = np.ones(self.X.shape[0]) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        w = np.where(self.observed, w, 0.0)
        wr = resp * w[:, None]
        nk = wr.sum(axis=0)
        means = np.zeros((K, d))
        scatter = np.zeros((K, d) if kind == "diag" else (K, d, d))
        for k in range(K):
            filled = self.completed(k)
            if nk[k] > 0:
                means[k] = wr[:, k] @ filled / nk[k]
            diff = filled - means[k]
            if kind == "diag":
                scatter[k] = wr[:, k] @ (diff * diff)
            else:
                scatter[k] = (diff * wr[:, k, None]).T @ diff
            scatter[k] += self.conditional_scatter(k, wr[:, k], kind)
        if kind == "pooled":
            scatter = scatter.sum(axis=0, keepdims=True)
        return SuffStats(nk, means, scatter), float(w.sum())

    def impute(self, resp):
        """``sum_k r_ik x̂_ik``: each hole filled with its conditional expectation."""
        out = np.zeros_like(self.X)
        for k in range(self.means.shape[0]):
            out += resp[:, k, None] * self.completed(k)
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
    completion = Completion(X[rows], eparams.host)
    part_log_prob, log_resp = log_resp_from_weighted(completion.wlp)
    part_log_prob[~completion.observed] = 0.0  # exactly, not log sum_k pi_k rounded
    log_prob[rows] = part_log_prob
    if with_resp:
        resp[rows] = np.exp(log_resp)
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
    out[rows] = Completion(X[rows], eparams.host).wlp
    return out


def statistics(kernel, X, sample_weight, eparams, scatter):
    """``kernel.statistics`` on a chunk whose rows may hold NaN: ``(stats, loglik, weight)``."""
    rows = incomplete(X)
    if rows is None:
        return kernel.statistics(X, sample_weight, eparams, scatter)
    completion = Completion(X[rows], eparams.host)
    log_prob, log_resp = log_resp_from_weighted(completion.wlp)
    log_prob[~completion.observed] = 0.0
    w = None if sample_weight is None else sample_weight[rows]
    stats, weight = completion.statistics(np.exp(log_resp), w, scatter)
    # A row with nothing observed has log p = 0: it adds nothing here either.
    loglik = float(log_prob.sum() if w is None else np.where(w > 0, log_prob * w, 0.0).sum())
    full = ~rows
    if not full.any():
        return stats, loglik, weight
    w_full = None if sample_weight is None else np.ascontiguousarray(sample_weight[full])
    part, part_loglik, part_weight = kernel.statistics(np.ascontiguousarray(X[full]), w_full, eparams, scatter)
    return merge(part.to_numpy(), stats), part_loglik + loglik, part_weight + weight


def impute(kernel, X, eparams):
    """X with each NaN replaced by ``E[x_m | x_o] = sum_k r_k(x_o) x̂_k,m``; complete rows unchanged."""
    rows = incomplete(X)
    out = np.array(X, dtype=X.dtype, copy=True)
    if rows is None:
        return out
    completion = Completion(X[rows], eparams.host)
    _, log_resp = log_resp_from_weighted(completion.wlp)
    out[rows] = completion.impute(np.exp(log_resp))
    return out


class _Group:
    """The patterns of one chunk with the same number ``r`` of missing coordinates."""

    def __init__(self, patterns, missing, rows, position):
        self.patterns = patterns  # indices into the chunk's distinct patterns
        self.missing = missing  # (n_patterns, r): each pattern's missing coordinates
        self.rows = rows  # the chunk's rows with these patterns
        self.position = position  # for each of those rows, its pattern's index in ``patterns``
        self.inverse = None  # (K, n_patterns, r, r): P_mm^{-1}


def _pattern_groups(mask):
    patterns, inverse = np.unique(mask, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    counts = patterns.sum(axis=1)
    groups = []
    for r in np.unique(counts):
        members = np.flatnonzero(counts == r)
        missing = np.nonzero(patterns[members])[1].reshape(len(members), r)
        local = np.full(len(patterns), -1)
        local[members] = np.arange(len(members))
        rows = np.flatnonzero(np.isin(inverse, members))
        groups.append(_Group(members, missing, rows, local[inverse[rows]]))
    return groups, inverse, len(patterns)
