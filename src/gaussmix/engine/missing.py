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
(``kernels.marginal``: one ``r x r`` factorisation per missingness pattern
and component, then one compiled pass over the rows). Diagonal and
spherical precisions need no factorisation at all. A row with nothing observed has log-density 0 and
responsibilities ``pi_k``; it carries no information, so it adds nothing to
the statistics or to the total weight.

The scatter is accumulated about the old means ``mu_k`` (the completed
deviations ``x̂_ik - mu_k`` are what the E-step computes anyway) and moved
to the new means by ``S = S_mu - n_k (x̄_k - mu_k)(x̄_k - mu_k)^T``; the
shift is small next to the spread, so no accuracy is lost. The conditional
covariances ``C_ik = P_k,mm^{-1}`` depend on the row only through its
pattern of holes, so ``sum_i w_i r_ik C_ik`` is summed per pattern first.

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


class Holes:
    """Rows with missing values under one set of E-step inputs: their patterns, and one pass over them.

    Parameters
    ----------
    X : ndarray of shape (n_rows, n_features)
        Rows each holding at least one NaN.
    inputs : estep.EStepInputs
        The E-step's float64 host inputs (means, precision factors, log-normalisers).
    mask : ndarray of bool of shape (n_rows, n_features), optional
        ``np.isnan(X)``, where the caller has it already.
    """

    def __init__(self, X, inputs, mask=None):
        self.X = np.ascontiguousarray(X, dtype=np.float64)
        mask = np.isnan(self.X) if mask is None else mask
        self.means = np.ascontiguousarray(inputs.means, dtype=np.float64)
        K, d = self.means.shape
        prec_chol = np.asarray(inputs.prec_chol, dtype=np.float64)
        diagonal = STRUCTURES[inputs.structure].precision_diagonal(prec_chol, d)
        self.diagonal = diagonal is not None
        if self.diagonal:
            self.diagonal_precision = np.ascontiguousarray(np.broadcast_to(diagonal, (K, d)))
            self.precision = np.zeros((K, d, d))
            self.precision[:, np.arange(d), np.arange(d)] = self.diagonal_precision
        else:
            U = np.broadcast_to(prec_chol, (K, d, d))
            self.precision = np.ascontiguousarray(U @ np.swapaxes(U, 1, 2))
        # Every row of a missingness pattern shares P_mm^{-1} and log |P_mm|.
        self.pattern, first = marginal.pattern_ids(mask)
        self.n_patterns = first.size
        self.inverses = marginal.pattern_inverses(mask[first], self.precision,
                                                  np.asarray(inputs.log_norm, dtype=np.float64))
        self.observed = ~mask.all(axis=1)

    def run(self, sample_weight=None, kind=None, impute=False):
        """One pass: ``(wlp, log_prob, stats, imputed)``; ``stats`` for a scatter ``kind``.

        Rows go in blocks whose (K, rows, d) temporaries stay under
        :data:`BLOCK_BYTES`: BLAS forms ``z = P_k D`` and the second moments
        of a block, ``kernels.marginal.marginal_rows`` the rest.
        """
        n, d = self.X.shape
        K = self.means.shape[0]
        weights = np.ones(n) if sample_weight is None else np.ascontiguousarray(sample_weight, dtype=np.float64)
        wlp, log_prob = np.empty((n, K)), np.empty(n)
        nk, first, second = np.zeros(K), np.zeros((K, d)), np.zeros((K, d, d))
        per_pattern = np.zeros((self.n_patterns, K))
        imputed = np.array(self.X, copy=True) if impute else np.empty((0, 0))
        step = max(1, BLOCK_BYTES // (8 * K * d))
        for start in range(0, n, step):
            sl = slice(start, min(n, start + step))
            D = np.empty((K, sl.stop - sl.start, d))
            marginal.deviations(self.X[sl], self.means, D)
            Z = D * self.diagonal_precision[:, None, :] if self.diagonal else np.matmul(D, self.precision)
            marginal.marginal_rows(self.X[sl], weights[sl], self.pattern[sl], *self.inverses, self.means, D, Z,
                                   kind is not None, wlp[sl], log_prob[sl], nk, first, per_pattern,
                                   imputed[sl] if impute else imputed)
            if kind == "diag":
                second[:, np.arange(d), np.arange(d)] += np.einsum("knd,knd->kd", D, D)
            elif kind is not None:
                second += np.matmul(np.swapaxes(D, 1, 2), D)
        stats = None if kind is None else self._statistics(nk, first, second, per_pattern, kind)
        return wlp, log_prob, stats, imputed if impute else None

    def _statistics(self, nk, first, second, per_pattern, kind):
        """``SuffStats`` from the moments about the old means and the patterns' weights."""
        missing, m_start, inverses, i_start, _ = self.inverses
        conditional = np.zeros_like(second)
        marginal.pattern_scatter(missing, m_start, inverses, i_start, per_pattern, conditional)
        shift = first / np.where(nk > 0, nk, 1.0)[:, None]
        scatter = second + conditional - nk[:, None, None] * shift[:, :, None] * shift[:, None, :]
        if kind == "diag":
            scatter = np.diagonal(scatter, axis1=1, axis2=2).copy()
        elif kind == "pooled":
            scatter = scatter.sum(axis=0, keepdims=True)
        return SuffStats(nk, self.means + shift, scatter)


#: The (K, rows, d) temporaries of a block of incomplete rows stay under
#: this many bytes each, so that memory stays bounded by the chunk.
BLOCK_BYTES = 2**20
#: The per-pattern inverses (K r^2 floats per pattern) of one group of a
#: chunk's incomplete rows stay under this many bytes: with long, distinct
#: patterns (K=16, d=64, 30% missing) a whole chunk's would take 250 MiB.
INVERSE_BYTES = 4 * 2**20


def _groups(X, rows, host):
    """The chunk's incomplete rows in groups whose pattern inverses fit :data:`INVERSE_BYTES`."""
    if host.cannot_marginalize is not None:
        raise ValueError(host.cannot_marginalize)
    incomplete_rows = np.flatnonzero(rows)
    mask = np.isnan(X[incomplete_rows])
    # Every row may have a pattern of its own: bound by K r^2 per row.
    cost = np.cumsum(8.0 * host.n_components * mask.sum(axis=1).astype(np.float64) ** 2)
    cuts = np.unique(np.searchsorted(cost, np.arange(INVERSE_BYTES, cost[-1], INVERSE_BYTES), side="right"))
    for part in np.split(np.arange(incomplete_rows.size), cuts[(cuts > 0) & (cuts < cost.size)]):
        group = incomplete_rows[part]
        yield group, Holes(X[group], host, mask[part])


def _complete_rows(X, rows):
    full = ~rows
    return full if full.any() else None


def e_step(kernel, X, eparams, with_resp=True):
    """``kernel.e_step`` on a chunk whose rows may hold NaN: marginal for those rows."""
    rows = incomplete(X)
    if rows is None:
        return kernel.e_step(X, eparams, with_resp)
    n, K = X.shape[0], eparams.host.n_components
    log_prob = np.empty(n, dtype=X.dtype)
    resp = np.empty((n, K), dtype=X.dtype) if with_resp else None
    full = _complete_rows(X, rows)
    if full is not None:
        part_log_prob, part_resp = kernel.e_step(np.ascontiguousarray(X[full]), eparams, with_resp)
        log_prob[full] = part_log_prob
        if with_resp:
            resp[full] = part_resp
    for group, holes in _groups(X, rows, eparams.host):
        wlp, log_prob[group], _, _ = holes.run()
        if with_resp:
            resp[group] = np.exp(log_resp_from_weighted(wlp)[1])
    return log_prob, resp


def weighted_log_prob(kernel, X, eparams):
    """``kernel.weighted_log_prob`` on a chunk whose rows may hold NaN."""
    rows = incomplete(X)
    if rows is None:
        return kernel.weighted_log_prob(X, eparams)
    out = np.empty((X.shape[0], eparams.host.n_components), dtype=X.dtype)
    full = _complete_rows(X, rows)
    if full is not None:
        out[full] = kernel.weighted_log_prob(np.ascontiguousarray(X[full]), eparams)
    for group, holes in _groups(X, rows, eparams.host):
        out[group] = holes.run()[0]
    return out


def statistics(kernel, X, sample_weight, eparams, scatter):
    """``kernel.statistics`` on a chunk whose rows may hold NaN: ``(stats, loglik, weight)``."""
    rows = incomplete(X)
    if rows is None:
        return kernel.statistics(X, sample_weight, eparams, scatter)
    total, loglik, weight = None, 0.0, 0.0
    for group, holes in _groups(X, rows, eparams.host):
        w = None if sample_weight is None else sample_weight[group]
        _, log_prob, stats, _ = holes.run(w, scatter)
        # A row with nothing observed carries no information: no weight, no log p.
        counted = holes.observed if w is None else holes.observed & (w > 0)
        weight += float(np.count_nonzero(counted) if w is None else w[counted].sum())
        loglik += float(log_prob[counted].sum() if w is None else (log_prob[counted] * w[counted]).sum())
        total = stats if total is None else merge(total, stats)
    full = _complete_rows(X, rows)
    if full is None:
        return total, loglik, weight
    w_full = None if sample_weight is None else np.ascontiguousarray(sample_weight[full])
    part, part_loglik, part_weight = kernel.statistics(np.ascontiguousarray(X[full]), w_full, eparams, scatter)
    return merge(part.to_numpy(), total), part_loglik + loglik, part_weight + weight


def impute(kernel, X, eparams):
    """X with each NaN replaced by ``E[x_m | x_o] = sum_k r_k(x_o) x̂_k,m``; complete rows unchanged."""
    rows = incomplete(X)
    out = np.array(X, dtype=X.dtype, copy=True)
    if rows is not None:
        for group, holes in _groups(X, rows, eparams.host):
            out[group] = holes.run(impute=True)[3]
    return out
