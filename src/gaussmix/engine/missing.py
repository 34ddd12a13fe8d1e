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
and component; then ``kernels.holes``, one compiled pass over the rows).
Diagonal and spherical precisions need no factorisation at all: their
fill-ins are the means. A row with nothing observed has log-density 0 and
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

from typing import NamedTuple

import numpy as np

from .kernels import holes, marginal
from .kernels.plan import DIAGONAL, ISOTROPIC, Plan
from .kernels.primitives import LANES, weights_or_ones
from .stats import SuffStats, merge


def incomplete(X):
    """Rows of a chunk that hold a NaN, as a bool mask (None when there are none)."""
    rows = np.isnan(X).any(axis=1)
    return rows if rows.any() else None


class HolesPass(NamedTuple):
    """What one pass over rows with holes gives (``Holes.run``); None where not asked for."""

    wlp: np.ndarray | None
    resp: np.ndarray | None
    log_prob: np.ndarray
    stats: SuffStats | None
    imputed: np.ndarray | None


class Holes:
    """Rows with missing values under one pass's parameters: their patterns, and one pass over them.

    Parameters
    ----------
    X : ndarray of shape (n_rows, n_features)
        Rows each holding at least one NaN.
    eparams : estep.EStepParams
        The pass's E-step parameters; their float64 host arrays are read
        (``kernels.plan``).
    mask : ndarray of bool of shape (n_rows, n_features)
        ``np.isnan(X)``.
    """

    def __init__(self, X, eparams, mask):
        self.X = np.ascontiguousarray(X, dtype=np.float64)
        # The chunk kernel's plan where it made one (it is shared by the pass's threads), else our own.
        self.plan = eparams.plan if isinstance(eparams.plan, Plan) else Plan(eparams)
        K, d = self.plan.means.shape
        # The precisions as P[h, j, k] = P_k[h, j]: the kernels read them across components.
        precision = np.zeros((d, d, K))
        if self.plan.geometry[4] in (DIAGONAL, ISOTROPIC):
            precision[np.arange(d), np.arange(d)] = self.plan.pdiag.T
        else:
            precision[...] = np.moveaxis(self.plan.U @ np.swapaxes(self.plan.U, 1, 2), 0, 2)
        self.precision = precision
        # Every row of a missingness pattern shares P_mm^{-1} and log |P_mm|.
        self.pattern, first = marginal.pattern_ids(mask)
        self.n_patterns = first.size
        self.inverses = marginal.pattern_inverses(mask[first], precision, self.plan.log_norm)
        self.observed = ~mask.all(axis=1)

    def run(self, sample_weight=None, kind=None, impute=False, with_wlp=False, with_resp=False):
        """One pass (``kernels.holes``): a :class:`HolesPass`; ``stats`` for a scatter ``kind``.

        ``wlp``, ``resp`` and ``imputed`` only where asked for; None otherwise.
        Responsibilities come only from a pass without statistics.
        """
        n, d = self.X.shape
        K = self.plan.means.shape[0]
        weights = weights_or_ones(sample_weight, n)
        wlp = np.empty((n if with_wlp else 0, K))
        resp = np.empty((n if with_resp else 0, K))
        log_prob = np.empty(n)
        per_pattern = np.zeros((self.n_patterns, K))
        imputed = np.array(self.X, copy=True) if impute else np.empty((0, d))
        mode = holes.NONE if kind is None else holes.DIAG if kind == "diag" else holes.FULL
        nk, first, second = holes.holes_pass(self.X, weights, self.pattern, *self.inverses, self.plan.geometry,
                                             self.precision, mode, d > holes.GEMM_FROM_D, LANES, wlp, resp,
                                             log_prob, per_pattern, imputed)
        return HolesPass(
            wlp if with_wlp else None, resp if with_resp else None, log_prob,
            None if kind is None else self._statistics(nk, first, second, per_pattern, kind),
            imputed if impute else None,
        )

    def _statistics(self, nk, first, second, per_pattern, kind):
        """``SuffStats`` from the moments about the old means and the patterns' weights."""
        missing, m_start, inverses, i_start, _ = self.inverses
        K, d = first.shape
        conditional = np.zeros((K, d, d))
        marginal.pattern_scatter(missing, m_start, inverses, i_start, per_pattern, conditional)
        shift = first / np.where(nk > 0, nk, 1.0)[:, None]
        if kind == "diag":
            scatter = second + np.diagonal(conditional, axis1=1, axis2=2) - nk[:, None] * shift**2
        else:
            # The incomplete rows' fill-ins depend on k, so even a pooled
            # scatter is summed per component first.
            scatter = (second.reshape(K, d, d) + conditional
                       - nk[:, None, None] * shift[:, :, None] * shift[:, None, :])
            if kind == "pooled":
                scatter = scatter.sum(axis=0, keepdims=True)
        return SuffStats(nk, self.plan.means + shift, scatter)


#: The per-pattern inverses (K r^2 floats per pattern) of one group of a
#: chunk's incomplete rows stay under this many bytes: with long, distinct
#: patterns (K=16, d=64, 30% missing) a whole chunk's would take 250 MiB.
INVERSE_BYTES = 4 * 2**20


def _groups(X, rows, eparams):
    """The chunk's incomplete rows in groups whose pattern inverses fit :data:`INVERSE_BYTES`: ``(rows, Holes)``."""
    host = eparams.host
    if host.cannot_marginalize is not None:
        raise ValueError(host.cannot_marginalize)
    incomplete_rows = np.flatnonzero(rows)
    mask = np.isnan(X[incomplete_rows])
    # Every row may have a pattern of its own: bound by K r^2 per row.
    cost = np.cumsum(8.0 * host.n_components * mask.sum(axis=1).astype(np.float64) ** 2)
    cuts = np.unique(np.searchsorted(cost, np.arange(INVERSE_BYTES, cost[-1], INVERSE_BYTES), side="right"))
    for part in np.split(np.arange(incomplete_rows.size), cuts[(cuts > 0) & (cuts < cost.size)]):
        group = incomplete_rows[part]
        yield group, Holes(X[group], eparams, mask[part])


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
    for group, hole_rows in _groups(X, rows, eparams):
        done = hole_rows.run(with_resp=with_resp)
        log_prob[group] = done.log_prob
        if with_resp:
            resp[group] = done.resp
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
    for group, hole_rows in _groups(X, rows, eparams):
        out[group] = hole_rows.run(with_wlp=True).wlp
    return out


def statistics(kernel, X, sample_weight, eparams, scatter):
    """``kernel.statistics`` on a chunk whose rows may hold NaN: ``(stats, loglik, weight)``."""
    rows = incomplete(X)
    if rows is None:
        return kernel.statistics(X, sample_weight, eparams, scatter)
    total, loglik, weight = None, 0.0, 0.0
    for group, hole_rows in _groups(X, rows, eparams):
        w = None if sample_weight is None else sample_weight[group]
        done = hole_rows.run(w, scatter)
        log_prob, stats = done.log_prob, done.stats
        # A row with nothing observed carries no information: no weight, no log p.
        counted = hole_rows.observed if w is None else hole_rows.observed & (w > 0)
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
        for group, hole_rows in _groups(X, rows, eparams):
            out[group] = hole_rows.run(impute=True).imputed
    return out
