"""Where the driver hands ordinary iterations of a small fit to one compiled call.

An EM iteration on a few hundred rows spends about a hundred times longer
in Python than in arithmetic (``kernels.stretch``). Where the whole
iteration is known to be plain, :func:`ordinary_stretch` runs a stretch of
them compiled: batch EM, an updater that is plain maximum likelihood
(``Updater.ordinary_m_step``) with a model of ``models.fused.M_STEPS``, rows in memory as one
NumPy chunk without missing values (``Source.single_chunk``) and the row
kernel chosen for them. The driver takes the stretch's last state, or,
where its last M-step failed, makes that update itself from the statistics
and state the stretch returns, and goes on as usual: the warnings and every
policy for empty and singular components come from the general path, and
results agree with it to rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..updaters.base import MixtureParams
from . import kernels
from .kernels import rows
from .kernels.plan import GEOMETRY_OF
from .kernels.primitives import LANES, weights_or_ones
from ..models.base import empty_components
from ..models.fused import M_STEP_FAMILIES, M_STEPS
from .kernels.stretch import STRETCHES, final_scores
from .schedules import Batch
from .stats import SuffStats

#: The most iterations one stretch runs (its trace is allocated whole); the
#: driver goes on from there.
MAX_STRETCH = 100_000


@dataclass
class Stretch:
    """What a stretch of ordinary iterations returns.

    Attributes
    ----------
    values : list of float
        The mean log-likelihood of each iteration (its traced objective).
    converged : bool
        Whether the last iteration met the tolerance.
    state : MixtureParams or None
        The state after the last iteration's M-step, made compiled; None
        where that M-step failed, for the driver to make it again with the
        updater's policies.
    entering : MixtureParams
        The state entering the last iteration.
    stats : SuffStats
        The last iteration's statistics, from which ``state`` was made.
    weight : float
        The total weight of the rows.
    scores : tuple of float or None
        Where asked for and ``state`` was made: ``(sum_i w_i log p(x_i), sum_i
        w_i log max_k r_ik, sum_i w_i)`` of the rows at ``state``, the sums
        of the criteria (``Source.criterion_sums``), in the weights' units.
    responsibilities : ndarray of shape (n_samples, n_components) or None
        Where asked for with ``scores``: the rows' responsibilities at
        ``state``, as ``predict_proba`` gives them.
    """

    values: list
    converged: bool
    state: MixtureParams | None
    entering: MixtureParams
    stats: SuffStats
    weight: float
    scores: tuple | None = None
    responsibilities: np.ndarray | None = None


def _full_to_work(cov, prec_chol, K, d):
    return cov, prec_chol, np.zeros((K, d))


def _repeated(a, shape):
    """``a`` broadcast to ``shape``, as a new array (``np.repeat``'s, without its wrapper: 2-3 us a call)."""
    out = np.empty(shape)
    out[...] = a
    return out


def _shared_to_work(cov, prec_chol, K, d):
    return _repeated(cov, (K, d, d)), _repeated(prec_chol, (K, d, d)), np.zeros((K, d))


def _diag_to_work(cov, prec_chol, K, d):
    return cov[:, :, None], np.zeros((K, 1, 1)), prec_chol


def _spherical_to_work(cov, prec_chol, K, d):
    return _repeated(cov[:, None, None], (K, d, 1)), np.zeros((K, 1, 1)), _repeated(prec_chol[:, None], (K, d))


#: Per precision structure: the compiled loop's layout of ``(covariances,
#: factors, variance factors)`` from the structure's, and back.
_LAYOUTS = {
    "full": (_full_to_work, lambda cov, U, pc: (cov, U)),
    "shared": (_shared_to_work, lambda cov, U, pc: (cov[0], U[0])),
    "diag": (_diag_to_work, lambda cov, U, pc: (cov[:, :, 0], pc)),
    "spherical": (_spherical_to_work, lambda cov, U, pc: (cov[:, 0, 0], pc[:, 0])),
}

#: The statistics' scatter in the engine's layout, per the updater's kind.
_SCATTER_OUT = {"full": lambda s: s, "pooled": lambda s: s, "diag": lambda s: s[:, :, 0]}

#: The models whose compiled M-step reads no previous covariances, so that a
#: start's (from statistics alone) may be made compiled too.
FROM_STATISTICS_ALONE = frozenset({"VVV", "EEE", "VVI", "EEI", "VII", "EII", "E", "V", "EVI", "EEV", "EVV"})


def compiled_m_step(code, reg_covar, stats, structure, scatter):
    """The M-step of model ``code`` from ``stats`` alone, compiled: ``MixtureParams``, or None where it cannot be.

    For a start: a model of :data:`FROM_STATISTICS_ALONE`, shapes the row
    kernel takes, finite NumPy statistics (``scatter`` names their kind)
    with no empty component, and every covariance factorised, as an
    ordinary M-step of a stretch. None otherwise (or without the row
    kernel's compiler), for the updater to make it itself with its policies
    and errors. The stretch makes every later M-step so, and the Python
    M-step of a start took 20-60 us a cell of ``select``.
    """
    if code not in FROM_STATISTICS_ALONE or code not in M_STEPS or not rows.KERNEL.available:
        return None
    nk = stats.nk
    if not isinstance(nk, np.ndarray) or empty_components(nk).any():
        return None
    K, d = stats.means.shape
    if not rows.KERNEL.within_limits(structure, K, d, np.float64):
        # Shapes the stretch never takes (many features): its compiled
        # factorisation is no faster there (d=400: 0.10 s against 0.04).
        return None
    work = np.ascontiguousarray(stats.scatter if scatter != "diag" else stats.scatter[:, :, None], dtype=np.float64)
    if not np.isfinite(work).all():  # compiled LAPACK raises its own error; the updater says what to do
        return None
    diagonal = structure in ("diag", "spherical")
    cov = np.empty((K, d, 1) if diagonal else (K, d, d))
    U, pc = np.zeros((K, 1, 1) if diagonal else (K, d, d)), np.empty((K, d))
    family, m_step = M_STEPS[code]
    # ``previous`` (none here) as the stretch passes it, so that no other signature compiles.
    if not M_STEP_FAMILIES[family](np.ascontiguousarray(nk, dtype=np.float64), work, m_step, float(reg_covar),
                                   np.zeros_like(cov), cov, U, pc):
        return None
    return MixtureParams(nk / nk.sum(), stats.means, *_LAYOUTS[structure][1](cov, U, pc), structure)


def ordinary_stretch(source, updater, state, schedule, *, tol, max_iter, lower_bound, score=False,
                     responsibilities=False):
    """Run ordinary iterations from ``state`` compiled; a :class:`Stretch`, or None where none ran.

    None where the fit is not of the kind this serves (see the module
    docstring), or where its first iteration is not ordinary. With
    ``score``, one more compiled pass scores the rows at the last state
    (``Stretch.scores``), and with ``responsibilities`` too, gives their
    responsibilities there (``Stretch.responsibilities``).
    """
    if max_iter < 1 or type(schedule) is not Batch:
        return None
    ordinary = updater.ordinary_m_step()
    chunk = source.single_chunk()
    if ordinary is None or chunk is None or ordinary[0] not in M_STEPS:
        return None
    code, reg_covar = ordinary
    X, sample_weight = chunk
    X = np.ascontiguousarray(X)
    structure = state.structure
    means = np.ascontiguousarray(state.means, dtype=np.float64)
    K, d = means.shape
    if kernels.for_chunk(X, structure, K, d) is not rows.KERNEL or not rows.KERNEL.available:
        return None
    w = weights_or_ones(sample_weight, X.shape[0])
    weight = float(X.shape[0]) if sample_weight is None else float(w.sum())
    if not weight > 0:
        return None
    to_work, from_work = _LAYOUTS[structure]
    cov, U, pc = (np.ascontiguousarray(a, dtype=np.float64) for a in to_work(
        np.asarray(state.covariances, dtype=np.float64), np.asarray(state.precisions_cholesky, dtype=np.float64),
        K, d))
    values = np.empty(min(max_iter, MAX_STRETCH))
    family, m_step = M_STEPS[code]
    done, converged, updated, final, entering, stats = STRETCHES[family](
        X, w, weight, np.ascontiguousarray(state.weights, dtype=np.float64), means, cov, U,
        pc, GEOMETRY_OF[structure], rows.ROW_MODES[updater.scatter], m_step, float(reg_covar),
        float(tol), len(values), float(lower_bound), LANES, values)
    if done == 0:
        return None

    def params(work):
        weights, means, cov, U, pc = work
        return MixtureParams(weights, means, *from_work(cov, U, pc), structure)

    scores = resp = None
    if score and updated:
        rows_out = np.empty((X.shape[0] if responsibilities else 0, K))  # no rows: none asked for
        scores = tuple(float(v) for v in final_scores(X, w, final[0], final[1], final[3], final[4],
                                                      GEOMETRY_OF[structure], rows_out))
        resp = rows_out if responsibilities else None
    nk, stat_means, scatter = stats
    stats = SuffStats(nk, stat_means, _SCATTER_OUT[updater.scatter](scatter))
    return Stretch(values[:done].tolist(), bool(converged), params(final) if updated else None, params(entering),
                   stats, weight, scores, resp)


__all__ = ["Stretch", "ordinary_stretch", "compiled_m_step", "FROM_STATISTICS_ALONE", "MAX_STRETCH"]
