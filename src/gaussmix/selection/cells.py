"""One cell of a selection: a mixture fitted from the cell's start, tested as mclust tests it, and scored.

``select`` runs :func:`fit_cell` for every (covariance model, K), on joblib's
workers. A cell never raises: a fit that fails, or that mclust's rule
(``selection.singular``) rejects at its start or at its end, gives NaN and
the reason, as mclust's table gives NA.
"""

from __future__ import annotations

import contextlib
import math
import warnings

import numpy as np
from sklearn import config_context, get_config

from ..criteria import Criteria
from ..engine.threads import single_threaded_blas
from ..estimators import GaussianMixture, scoring_fits, sharing_starts, vetting_starts
from ..structures import STRUCTURES
from .singular import near_singular_reason, reads_rows_of
from .starts import cell_start


def fit_cell(X, sample_weight, K, code, partition, params, config):
    """Fit one cell under scikit-learn's ``config``; never raise: a failure is a NaN with its reason."""
    # One BLAS setting for the whole cell: its two fits, the tests and the
    # criteria would each set and restore it (a dozen threadpoolctl calls).
    # Where select runs its cells in its own thread, its one setting holds
    # already and this one does nothing; so does its configuration.
    with single_threaded_blas(), holding_config(config):
        return _fit_held(X, sample_weight, K, code, partition, params)


def fit_cells(X, sample_weight, cells, partitions, params, config):
    """:func:`fit_cell` of each ``(K, code)`` of ``cells``, in turn, sharing their starts: a worker's task.

    ``partitions`` maps each K of ``cells`` to its partition. One task per
    run of cells, not per cell, so that a worker's cells of one K share
    their start's check and statistics (``estimators.sharing``), as a
    sequential select's do, and X crosses to the worker once a task.
    """
    with single_threaded_blas(), holding_config(config), sharing_starts():
        return [fit_cell(X, sample_weight, K, code, partitions[K], params, config) for K, code in cells]


def cell_groups(cells, n_workers):
    """``cells`` in runs for :func:`fit_cells`: about four a worker, the runs of the largest K first.

    Runs of consecutive cells keep a K's models together (they share a
    start); the largest K's go first, as they take longest, so that no
    worker is left with a long run at the end. With many workers the runs
    shrink to single cells.
    """
    size = max(1, len(cells) // (4 * max(1, n_workers)))
    runs = [cells[i:i + size] for i in range(0, len(cells), size)]
    return sorted(runs, key=lambda run: -max(K for K, _ in run))


def holding_config(config):
    """``config_context(**config)``, or nothing where scikit-learn's configuration is ``config`` already.

    Setting it and restoring it cost about 7 us (two ``set_config`` calls
    that check every key), where a sequential ``select`` holds it for all
    its cells; a worker's thread or process sets it here.
    """
    return contextlib.nullcontext() if get_config() == config else config_context(**config)


def _fit_held(X, sample_weight, K, code, partition, params):
    """:func:`fit_cell` within its BLAS setting and configuration."""
    # mclust's test reads the fitted rows' responsibilities for 3 of its 14
    # models: the fit's last compiled pass gives them where it can.
    reads = reads_rows_of(code, K, params["reg_covar"], params["prior"])
    try:
        with warnings.catch_warnings(record=True) as caught, scoring_fits(responsibilities=reads) as scores:
            warnings.simplefilter("always")
            resp = cell_start(X, sample_weight, K, code, partition, params["reg_covar"], params["prior"],
                              params["noise_init"])
            if resp is None:
                gm = _fit_tested_after_start(X, sample_weight, K, code, params)
            else:
                # One fit, its start tested inside it (a second fit from a
                # tested start cost 0.35-0.5 ms a cell on 145 rows).
                gm = GaussianMixture(K, covariance_type=code, init_params="hc", resp_init=resp, **params)
                with vetting_starts(_start_test(X, sample_weight, resp)):
                    gm.fit(X, sample_weight=sample_weight)
                # The start is not kept as a parameter of the model (a saved
                # model would otherwise carry an n x K matrix): init_params="hc"
                # says how it began. Set as set_params would, without its
                # signature inspection (0.15 ms).
                gm.resp_init = None
        messages = sorted({str(w.message) for w in caught})
        resp = None
        if reads:
            last = scores[-1] if scores else None
            resp = gm.predict_proba(X) if last is None or last.responsibilities is None \
                else last.responsibilities
        reason = near_singular_reason(gm, "the fit", X, resp, sample_weight)
        if reason is not None:
            raise ValueError(reason)
        crit = _criteria(gm, X, sample_weight, scores)
        loglik, bic, icl = crit.log_likelihood, crit.bic, crit.icl
        if not (np.isfinite(bic) and np.isfinite(icl)):
            raise ValueError("the fitted log-likelihood is not finite")
        return (K, code), (gm, bic, icl, loglik, None, messages)
    except (ValueError, np.linalg.LinAlgError, FloatingPointError) as exc:
        return (K, code), (None, math.nan, math.nan, math.nan, str(exc), [])


def _criteria(gm, X, sample_weight, scores):
    """The fitted cell's criteria: from its fit's own last compiled pass where it made one, else one pass of ``criteria``.

    ``scores`` are the fits' sums (``estimators.scoring_fits``); they are in
    the units of the weights the fit used, so they serve a fit without weights.
    """
    if sample_weight is None and scores and scores[-1] is not None:
        last = scores[-1]
        return Criteria(last.log_likelihood, last.log_map, last.weight, gm.n_parameters())
    return gm.criteria(X, sample_weight)  # one pass for all three


# mclust applies its test (``selection.singular``) after every M-step, the
# first one included: a start that gives a component on fewer rows than
# features fails there, even where EM would move away from it. We test that
# first M-step and the final fit, not the steps between.

def _start_test(X, sample_weight, resp):
    """The test of a start from the responsibilities ``resp`` (``estimators.vetting_starts``)."""

    def vet(estimator, state, start, dtype):
        K, d = state.means.shape
        # As the fitted attributes would hold them: full, in the data's dtype.
        exact = STRUCTURES[state.structure].to_full(np.asarray(state.covariances, dtype=np.float64), K, d)
        cov = exact
        if np.dtype(dtype) != np.float64:  # float64 values are published as they are: nothing to test
            cov = exact.astype(dtype)
            for name, value, rounded in (("means_", state.means, np.asarray(state.means).astype(dtype)),
                                         ("covariances_", exact, cov)):
                if not np.all(np.isfinite(rounded)) and np.all(np.isfinite(value)):
                    raise ValueError(f"the start's {name} do not fit in {np.dtype(dtype).name}: they reach "
                                     f"{np.max(np.abs(value)):.3g}; fit float64 data, or scale X.")
            cov = cov.astype(np.float64)
        rows = resp
        if start["noise"] is not None:  # the rows first deemed noise start in no Gaussian
            rows = np.where(start["noise"][:, None], 0.0, resp)
        reason = near_singular_reason(estimator, "the start", X, rows, sample_weight, covariances=cov)
        if reason is not None:
            raise ValueError(reason)

    return vet


def _fit_tested_after_start(X, sample_weight, K, code, params):
    """A cell without a partition: a start of ``init_params`` tested on its own E-step, then EM from it."""
    gm = GaussianMixture(K, covariance_type=code, **dict(params, max_iter=0))
    # Its warnings are the cell's: EM goes on from this fit, whose start
    # (a pair of features never observed together, say) is not made again.
    # With max_iter=0 a fit does not warn that it did not converge.
    gm.fit(X, sample_weight=sample_weight)
    reason = near_singular_reason(gm, "the start", X, gm.predict_proba(X), sample_weight)
    if reason is not None:
        raise ValueError(reason)
    # EM goes on from the start just tested, a warm start: the same
    # parameters a second fit from the start would compute again.
    gm.max_iter, gm.warm_start = params["max_iter"], True
    gm.fit(X, sample_weight=sample_weight)
    gm.warm_start = False
    return gm
