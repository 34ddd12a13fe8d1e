r"""Full covariances at mid d: both halves of an iteration as two GEMMs on the rows' quadratic features.

With ``z_i = x_i - c`` about the pass's centre ``c`` (the mixture's mean),
``m_k = mu_k - c`` and ``P_k = U_k U_k^T``, the squared distance expands as

.. math::

    \lVert (x_i - \mu_k) U_k \rVert^2
      = \sum_{a \le b} (2 - \delta_{ab}) P_{k,ab}\, z_{ia} z_{ib}
        - 2 z_i^T P_k m_k + m_k^T P_k m_k ,

a linear function of the row's features ``f_i = (z_{ia} z_{ib})_{a \le b},
z_i, 1`` (``p = d(d+1)/2 + d + 1`` of them). So a tile of rows, its features
held feature-major, gives

* the E-step's ``log pi_k N(x_i | mu_k, Sigma_k)`` for every component as one
  GEMM, ``F W`` (``W`` (p, K) from the parameters, once per pass), then the
  log-sum-exp and ``w_i r_ik`` (``primitives.block_softmax``);
* every statistic as a second GEMM, ``F^T (w r)`` (p, K), added over the
  tiles: ``n_k`` (the column of ones), ``a_k = sum_i w_i r_ik z_i`` and the
  raw moments ``sum_i w_i r_ik z_ia z_ib`` about ``c``, from which
  ``vectorised.finish_statistics`` centres them (and redoes exactly any
  component whose moments lost more than half their digits).

Each GEMM costs ``2 p K`` flops a row: at d=16, 0.6 of the ``2 d^2 K`` of
a general product on ``U_k`` or on ``z z^T`` (0.55 at d=32), in GEMMs of
``K`` columns, which BLAS ran at 65-90% of a large GEMM's rate here (the
row kernel's triangular products at mid d do not vectorise as well). The
GEMMs are NumPy's ``dot`` as Numba compiles it, which finds BLAS at run
time, so the compiled pass is cached like the other kernels.

The expansion cancels: its terms grow as ``|z|^2 ||P_k||`` while the distance
may be small. :class:`QuadraticPlan` bounds the rounding of each component's
terms for its own rows (within three standard deviations). A component whose
bound passes :data:`CANCEL_LIMIT` gets its log-densities exactly instead, a
column of the tile made from the rows as they are, and its moments summed
about its own mean (``quadratic_tiles``);
where more than :data:`MAX_EXACT_SHARE` of the components would, the pass
takes an exact route whole (the row kernel, or TRMM past its d). A
component's bound passes the limit where its features are so correlated
that its condition number passes about 1e5 at d=16 (features' scales alone
do not count: the bound is invariant to them), or where it lies far from
the mixture's mean; a far component of any weight moves that mean, and so
usually takes the others with it.

A float32 chunk is read as it is, and its tiles' features are made in
float64: float32 arithmetic would lose to the same cancellation 5e8
times what float64 loses. Its exact route past d=12, TRMM, runs in
float32, at about twice float64's rate, so float32 takes the expansion at
fewer shapes (:data:`QUADRATIC_LIMITS_FLOAT32`), where fits ran 1.2x-1.4x
faster. A float32 chunk on this route gets float64's accuracy on its
values (a chunk sent to an exact route gets that route's), and is never
copied whole to float64.
"""

from __future__ import annotations

import math
import threading
from typing import NamedTuple

import numpy as np

from ...namespaces import dtype_name
from .blas import CompiledBlasKernel
from .plan import ROW_SHARED_CANCEL_LIMIT, Plan
from .primitives import density_and_resp, weights_or_ones
from .quadratic_tiles import log_prob_pass, statistics_pass
from .rows import KERNEL as ROWS
from .triangular import KERNEL as TRIANGULAR
from .vectorised import finish_statistics

#: Rows per tile: the tile's features (p * TILE_ROWS float64, 600 KiB at
#: d=16) stay in cache between the two GEMMs.
TILE_ROWS = 512

#: The expansion is trusted while ``eps`` times its terms' bound stays below
#: this (the row kernel's limit for its shared whitening): about 1e-8 of the
#: squared distance at worst, ``6700`` standard deviations from the centre
#: for a well-conditioned component.
CANCEL_LIMIT = ROW_SHARED_CANCEL_LIMIT

_EPS = float(np.finfo(np.float64).eps)

#: The largest share of a pass's components that may take exact columns;
#: past it the pass takes an exact route whole. A column (its log-densities
#: and its moments) costs about ``1.5/K`` to ``2/K`` of the expansion's time
#: (one thread, 10 000 rows, K=16: +0.2-0.35 ms of 4.9 at d=16, whose exact
#: route took 6.4; +1.0 ms of 7.7 at d=24, route 10.6; +1.2-1.35 ms of 10.8
#: at d=32, route 13.2; K=64, d=16: sixteen columns 13.8 ms, route 20.7).
MAX_EXACT_SHARE = 0.125

#: The largest sum of the expansion's terms that is kept clear of overflow.
_TERMS_MAX = 1e300


class Expansion(NamedTuple):
    """The expansion of one pass: ``W``, the components it leaves to exact columns, and its reach.

    ``W`` (K, p): row k holds component k's coefficients of the features
    (the module docstring's W, transposed), zero for a component in
    ``exact``. ``exact`` (int64): the components whose terms could cancel
    more than :data:`CANCEL_LIMIT` allows; their log-densities are made
    exactly, column by column (``quadratic_tiles``). ``runs``: whether the
    expansion is worth running, with at most :data:`MAX_EXACT_SHARE` of
    the components exact. ``reach``: the largest ``|x_a - c_a|`` whose
    terms stay finite; a chunk with a row further out (1e150, say, where
    ``z_a z_b`` overflows) takes an exact route, whose distances grow as
    ``|x - mu|``, not its square.
    """

    W: np.ndarray
    exact: np.ndarray
    runs: bool
    reach: float


class QuadraticPlan(Plan):
    """A :class:`plan.Plan` that also makes the pass's :class:`Expansion`, on first need.

    Made once, by whichever thread first needs it (a pass of small chunks,
    which go to another route, never does).
    """

    def __init__(self, eparams):
        super().__init__(eparams)
        self._expansion = None
        self._lock = threading.Lock()

    def expansion(self):
        """The pass's :class:`Expansion`, made on the first call."""
        if self._expansion is None:
            with self._lock:
                if self._expansion is None:
                    self._expansion = self._expand()
        return self._expansion

    def _expand(self):
        U, m = self.U, self.means - self.centre
        K, d = m.shape
        P = U @ np.swapaxes(U, 1, 2)
        upper = np.triu_indices(d)
        Pm = np.einsum("kab,kb->ka", P, m)
        const = np.einsum("ka,ka->k", m, Pm)
        pairs = P[:, upper[0], upper[1]] * np.where(upper[0] == upper[1], -0.5, -1.0)
        W = np.ascontiguousarray(np.concatenate([pairs, Pm, (self.log_norm - 0.5 * const)[:, None]], axis=1))
        # A component of zero precision (the noise's) has no terms to cancel.
        live = np.flatnonzero(U.any(axis=(1, 2)))
        bound = _term_bound(U[live], m[live], P[live], const[live])
        exact = live[~(_EPS * bound <= CANCEL_LIMIT)]  # a NaN bound is not trusted either
        W[exact] = 0.0
        with np.errstate(all="ignore"):
            largest = float(np.max(np.abs(W[:, :len(upper[0]) + d]), initial=0.0))
            reach = math.sqrt(_TERMS_MAX / (W.shape[1] * max(largest, 1.0)))
        return Expansion(W, exact.astype(np.int64), len(exact) <= MAX_EXACT_SHARE * K, reach)


def _term_bound(U, m, P, const):
    """A bound on ``sum |terms|`` of the expansion for rows within 3 sd of each mean.

    There ``|z_a| <= |m_a| + 3 sigma_a``, and the rounding of the sum is
    ``eps`` times ``sum_ab |P_ab z_a z_b|`` plus the constant's. Inf (not
    trusted) where a factor is singular; NaN compares as not trusted too.
    """
    try:
        inverse = np.linalg.inv(U)
    except np.linalg.LinAlgError:
        return np.full(len(U), np.inf)
    with np.errstate(all="ignore"):
        # Sigma = U^{-T} U^{-1}: its diagonal sums the squares of U^{-1}'s columns.
        sigma = np.sqrt(np.einsum("kab,kab->kb", inverse, inverse))
        reach = np.abs(m) + 3.0 * sigma
        return np.einsum("ka,kab,kb->k", reach, np.abs(P), reach) + np.abs(const)


def _extent(X, centre):
    """A bound on ``max |x_ia - c_a|`` over the chunk: its largest magnitude plus the centre's.

    Two flat reductions over the chunk, no copy. The per-feature extremes
    (``X.max(axis=0)``, strided) took 1.4 ms of a 20 000 x 16 chunk, a
    quarter of an EM iteration at N=1e5, d=16, K=16; these take 67 us. The
    bound overstates only for rows that lie together far from zero: past the
    expansion's reach (about 1e148 for unit variances) they take an exact
    route though their offsets from the centre are small.
    """
    return float(max(X.max(), -X.min())) + float(np.max(np.abs(centre)))


def plan_of_quadratic(eparams):
    """The :class:`QuadraticPlan` of ``eparams`` (made where another kernel's plan is there)."""
    if not isinstance(eparams.plan, QuadraticPlan):
        eparams.plan = QuadraticPlan(eparams)
    return eparams.plan


def _buffers(n, d):
    """``(rows per tile, p, a tile's features)`` for a chunk of n rows."""
    rows = max(1, min(n, TILE_ROWS))
    p = d * (d + 1) // 2 + d + 1
    return rows, p, np.empty(rows * p)


def _exact_arguments(plan, expansion, rows, moments):
    """What a compiled pass reads for exact columns: the list, the parameters and its buffers.

    Two for the log-densities (``xt``, ``y``), then, with ``moments``
    (``statistics_pass``), three for the moments (``dkx``, ``wdk``,
    ``mom``), else one for the column (``log_prob_pass``'s ``sq``); empty
    where no component is exact.
    """
    d = plan.means.shape[1]
    size = rows if len(expansion.exact) else 0
    common = (expansion.exact, plan.means, plan.U, plan.log_norm, np.empty(size * d), np.empty(size))
    if moments:
        return common + (np.empty((d + 1) * size), np.empty(d * size), np.empty((d, d + 1)))
    return common + (np.empty(size),)


def raw_moments(acc, d, scatter):
    """``(nk, a, raw)`` about the centre from the accumulated ``F^T (w r)`` (K, p).

    ``raw`` as ``vectorised.moments_from_sums`` takes it for ``scatter``:
    (K, d*d), (1, d*d) summed over components, or the diagonals (K, d).
    """
    K = acc.shape[0]
    q = d * (d + 1) // 2
    upper = np.triu_indices(d)
    nk, a = acc[:, q + d].copy(), np.ascontiguousarray(acc[:, q:q + d])
    if scatter == "diag":
        return nk, a, np.ascontiguousarray(acc[:, np.flatnonzero(upper[0] == upper[1])])
    full = np.empty((K, d, d))
    full[:, upper[0], upper[1]] = acc[:, :q]
    full[:, upper[1], upper[0]] = acc[:, :q]
    raw = full.reshape(K, d * d)
    if scatter == "pooled":
        raw = raw.sum(axis=0, keepdims=True)
    return nk, a, raw


#: Where the expansion beats the row kernel and TRMM: ``(fewest components,
#: fewest features, most features)``, float64. In fits on both cores,
#: with and without it in one process (five alternating pairs, medians;
#: 2-core EPYC, 2026-12-02): K=16 1.20x at d=6, 1.17x at d=8, 1.30x-1.36x
#: at d=16, 1.23x at d=32 (N=1e5, and 3e4 from d=32), even at d=40 and 48
#: (1.01x, 0.98x), 0.89x at d=56; K=64 1.06x at d=64 (N=2e4). K=8 lost or
#: tied at every d tried (0.77x at d=8, 0.91x at 12, 0.93x at 16, 0.99x at
#: 24), where one thread on 10 000 rows had given 1.08x-1.24x the day
#: before and 0.58x-1.06x that day: GEMMs of so few columns run below
#: BLAS's rate (K=4 lost everywhere, 0.42x-0.78x).
QUADRATIC_LIMITS = ((16, 6, 40), (64, 6, 64))

#: The same for float32 chunks, whose exact routes run in float32 (TRMM at
#: about twice float64's rate), so the expansion wins less often. One
#: thread, 10 000 rows (2-core EPYC, 2026-12-02): K=16 1.06x-1.38x at
#: d=12-16, about even at d=8 and 20, 0.86x-0.92x at d=24 and below that
#: at d=32-64 and d=4-6; K=64 1.07x-2.5x at d=4-48; K=8 lost at every d
#: (0.62x-0.88x). In fits on both cores (N=1e5, K=16, five alternating
#: pairs, medians): 1.19x at d=10, 1.34x at d=12, 1.25x at d=16, 1.22x at
#: d=20; at K=64 (N=3e4) 1.34x at d=6, 2.12x at d=8, 1.36x at d=24, 1.13x
#: at d=32 (1.00x at N=1e5),
#: and 0.83x at d=48, which the limit leaves to TRMM.
QUADRATIC_LIMITS_FLOAT32 = ((16, 10, 20), (64, 6, 32))

#: Fewer rows than this in a chunk go to the exact routes: making ``W`` (once
#: a pass) and a chunk's set-up cost 80-120 us together, repaid only from
#: 1000-2000 rows (one thread: d=16 K=16 1.29x at 1000 rows, 0.95x at 500;
#: d=8 K=16 1.04x at 2000; d=6 K=8 0.78x at 2000, 1.14x at 5000).
QUADRATIC_MIN_ROWS = 2000


class QuadraticKernel(CompiledBlasKernel):
    """Full covariances at mid d: two float64 GEMMs a tile on the rows' quadratic features."""

    name = "numba-quadratic"
    structures = ("full",)
    dtypes = ("float32", "float64")

    def supports(self, namespace, dtype, structure=None, n_components=None, n_features=None):
        # An EM pass's route only: statistics for given responsibilities
        # (a start's) are the row kernel's.
        return structure is not None and super().supports(namespace, dtype, structure, n_components, n_features)

    def within_limits(self, structure, n_components, n_features, dtype):
        # A loop, not any() of a generator over np.dtype's comparison: every
        # small fit and scoring call asks (1.5 us of 3 for a kernel's choice).
        limits = QUADRATIC_LIMITS_FLOAT32 if dtype_name(dtype) == "float32" else QUADRATIC_LIMITS
        for k, lo, hi in limits:
            if n_components >= k and lo <= n_features <= hi:
                return True
        return False

    def bytes_per_row(self, n_components, n_features, itemsize):
        # Tiles hold the features; a chunk holds (n, K) log-densities and a
        # float64 copy of itself only for an exact recompute.
        return 8 * (2 * n_components + n_features + 2)

    def prepare(self, eparams):
        return plan_of_quadratic(eparams)

    def exact_route(self, X, eparams):
        """The kernel that takes this chunk instead, or None where the expansion runs.

        The row kernel (TRMM past its d) takes a chunk of fewer than
        :data:`QUADRATIC_MIN_ROWS` rows, which would not repay making ``W``,
        a chunk with a row beyond the expansion's reach, and every chunk of
        a pass with more than :data:`MAX_EXACT_SHARE` of its components
        exact.
        """
        K, d = eparams.host.n_components, eparams.host.n_features
        if X.shape[0] >= QUADRATIC_MIN_ROWS:
            plan = plan_of_quadratic(eparams)
            expansion = plan.expansion()
            if expansion.runs and _extent(X, plan.centre) <= expansion.reach:
                return None
        return ROWS if ROWS.within_limits("full", K, d, X.dtype) else TRIANGULAR

    def log_prob64(self, X, plan):
        # Reached through the base class's E-step once exact_route has
        # chosen the expansion, or for an exact recompute of its chunk.
        n, d = X.shape
        expansion = plan.expansion()
        rows, _, ft = _buffers(n, d)
        out = np.empty((n, expansion.W.shape[0]))
        log_prob_pass(X, plan.centre, expansion.W, out, ft, *_exact_arguments(plan, expansion, rows, False))
        return out

    def weighted_log_prob(self, X, eparams):
        other = self.exact_route(X, eparams)
        if other is not None:
            return other.weighted_log_prob(X, eparams)
        return super().weighted_log_prob(X, eparams)

    def e_step(self, X, eparams, with_resp=True):
        other = self.exact_route(X, eparams)
        if other is not None:
            return other.e_step(X, eparams, with_resp)
        return super().e_step(X, eparams, with_resp)

    def statistics(self, X, sample_weight, eparams, scatter):
        other = self.exact_route(X, eparams)
        if other is not None:
            return other.statistics(X, sample_weight, eparams, scatter)
        plan = plan_of_quadratic(eparams)
        expansion = plan.expansion()
        X = np.ascontiguousarray(X)
        n, d = X.shape
        K = expansion.W.shape[0]
        w = weights_or_ones(sample_weight, n)
        weight = float(n) if sample_weight is None else float(w.sum())
        rows, p, ft = _buffers(n, d)
        acc = np.zeros((K, p))
        ll = statistics_pass(X, w, plan.centre, expansion.W, acc, ft, np.empty(K * rows), np.empty((K, p)),
                             np.empty(rows), np.empty(rows), *_exact_arguments(plan, expansion, rows, True))
        nk, a, raw = raw_moments(acc, d, scatter)
        # An exact component's moments are about its own mean (``quadratic_tiles``).
        origin = np.repeat(plan.centre[None, :], K, axis=0)
        origin[expansion.exact] = plan.means[expansion.exact]
        stats = finish_statistics(nk, a, raw, origin, X, scatter,
                                  lambda: density_and_resp(self.log_prob64(X, plan), w)[0])
        return stats, float(ll), weight


KERNEL = QuadraticKernel()
