"""The EM driver: one loop for every schedule, source and updater.

Each iteration asks the schedule (``engine.schedules``) for the parts of the
data it visits: the whole source once (batch EM) or one mini-batch after
another (stepwise EM). For each part, one step:

1. the updater (``updaters``) gives the E-step's inputs for the current state;
2. the source makes one pass over the part's chunks: per chunk the kernels
   compute the E-step and the weighted sufficient statistics, and the
   statistics are merged (``engine.passes``), wherever the chunks live;
3. the schedule folds the merged statistics into its running ones;
4. the updater turns them into the next state, on the host, in float64.

After the iteration, the updater's objective is traced (maximum likelihood:
the log-likelihood of the parameters entering it; variational Bayes: the
lower bound of the new posterior; MAP: the penalised log-likelihood), and EM
stops when it changes by less than ``tol``, or, for an updater that says so
(``Updater.stops_on_objective``), when the mean log-likelihood does, as
mclust's MAP EM stops. No array of shape (n_samples, n_components) is ever
held whole.

A small fit in memory first hands its ordinary iterations to one compiled
call (``engine.stretch``), then makes the last of their updates here and
goes on as above.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np

from .stretch import ordinary_stretch

logger = logging.getLogger("gaussmix")


@dataclass
class EMResult:
    """What one run of EM returns.

    Attributes
    ----------
    state : object
        The updater's final state.
    lower_bound : float
        The last traced objective.
    lower_bounds : list of float
        The objective of every iteration.
    n_iter : int
    converged : bool
    emptied : set of int
        Components that lost all their weight at some update.
    kept : set of int
        Components whose covariance collapsed and kept its previous value.
    collapsed : ndarray of bool or None
        Components singular but for the regularisation at the last update
        (None if no update ran). Worked out when first read (``last_update``):
        a run whose result no one warns about (a restart of ``n_init`` that
        is not the best, a bootstrap replicate's refit) never pays for it.
    last_update : Update or None
        The last update made (``updaters.Update``), whose collapsed
        components ``collapsed`` reads.
    running : BatchPass or OnlineState or None
        The schedule's running statistics (``partial_fit`` continues from them).
    scores : tuple of float or None
        Where ``run`` was asked to ``score`` and could in its last compiled
        pass: ``(sum_i w_i log p(x_i), sum_i w_i log max_k r_ik, sum_i w_i)``
        of the rows at ``state`` (``engine.stretch.Stretch.scores``).
    responsibilities : ndarray or None
        Where ``run`` was asked for them too and ``scores`` were made: the
        rows' responsibilities at ``state``.
    """

    state: object
    lower_bound: float
    lower_bounds: list = field(default_factory=list)
    n_iter: int = 0
    converged: bool = False
    emptied: set = field(default_factory=set)
    last_update: object = None
    running: object = None
    kept: set = field(default_factory=set)
    scores: tuple | None = None
    responsibilities: np.ndarray | None = None

    @property
    def collapsed(self):
        return None if self.last_update is None else self.last_update.collapsed


def step(part, updater, state, schedule, running=None):
    """One E-step pass over ``part``, the schedule's fold, and one update.

    Returns ``(running, state, loglik, weight, update)``; a part whose rows
    all have zero weight carries no information and changes nothing
    (``update`` is then None).
    """
    stats, loglik, weight = part.statistics(updater.estep_inputs(state), updater.scatter)
    if weight <= 0:
        return running, state, 0.0, 0.0, None
    running, merged = schedule.fold(running, stats, weight)
    update = updater.update(merged, previous=state)
    return running, update.state, loglik, weight, update


def listening(on_iteration=None):
    """Whether :func:`report_iteration` would reach anyone: a callback, or a logger at DEBUG.

    A small fit's stretch replays its twenty-odd iterations; building each
    record no one reads cost about 0.7 us, 2 ms of a ``select`` on 145 rows
    (about 2 800 iterations).
    """
    return on_iteration is not None or logger.isEnabledFor(logging.DEBUG)


def report_iteration(n_iter, max_iter, lower_bound, change, on_iteration=None):
    """Log one iteration (the record progress displays read) and call back."""
    logger.debug(
        "iteration %d: lower bound %.10g, change %.3g",
        n_iter,
        lower_bound,
        change,
        extra={"gaussmix_iteration": (n_iter, max_iter, lower_bound, change)},
    )
    if on_iteration is not None:
        on_iteration(n_iter, lower_bound, change)


def run(source, updater, state, schedule, *, tol, max_iter, lower_bound=-math.inf,
        random_state=None, on_iteration=None, score=False, responsibilities=False):
    """Run EM from ``state`` until the objective changes by less than ``tol``.

    Parameters
    ----------
    source : Source
        Where the chunks come from and run (``backends``).
    updater : Updater
    state : object
        The updater's starting state.
    schedule : Batch or Stepwise
    tol : float
    max_iter : int
    lower_bound : float
        The objective before the first iteration (a warm start's last).
    random_state : RandomState
        For a schedule that visits rows in random order.
    on_iteration : callable, optional
        ``on_iteration(n_iter, lower_bound, change)`` after each iteration.
    score : bool
        Whether to score the rows at the final state where a compiled
        stretch made it (``EMResult.scores``; one more compiled pass).
    responsibilities : bool
        With ``score``, also the rows' responsibilities there
        (``EMResult.responsibilities``).
    """
    lower_bounds, emptied, kept = [], set(), set()
    last = None  # the last update; its collapsed components are read from the result, if at all
    converged, running, n_iter = False, None, 0
    watched = -math.inf  # the mean log-likelihood, where the updater stops on it

    def note(update):
        if update.empty.any():
            emptied.update(np.flatnonzero(update.empty).tolist())
        if update.kept is not None:
            kept.update(np.flatnonzero(update.kept).tolist())

    # Small fits: ordinary iterations compiled, their last update too unless it failed there.
    stretch = ordinary_stretch(source, updater, state, schedule, tol=tol, max_iter=max_iter,
                               lower_bound=lower_bound, score=score, responsibilities=responsibilities)
    scores, resp = (None, None) if stretch is None else (stretch.scores, stretch.responsibilities)
    if stretch is not None:
        # Reported as the general path would: each iteration after its
        # update, so the last one only once its update here succeeds.
        reporting = listening(on_iteration)
        for i, value in enumerate(stretch.values):
            if i + 1 == len(stretch.values):
                running, merged = schedule.fold(running, stretch.stats, stretch.weight)
                if stretch.state is not None:  # an ordinary M-step, made compiled
                    last = updater.ordinary_update(merged, stretch.state)
                else:  # it failed there: made again here, with the updater's policies
                    last = updater.update(merged, previous=stretch.entering)
                note(last)
                state = last.state
            n_iter += 1
            lower_bounds.append(value)
            if reporting:
                report_iteration(n_iter, max_iter, value, value - lower_bound, on_iteration)
            lower_bound = watched = value
        converged = stretch.converged
    for n_iter in range(max_iter + 1 if converged else n_iter + 1, max_iter + 1):
        entering, scores, resp = state, None, None  # the stretch's scores are not of the state this makes
        loglik = weight = 0.0
        for part in schedule.parts(source, random_state):
            running, state, part_loglik, part_weight, update = step(part, updater, state, schedule, running)
            loglik, weight = loglik + part_loglik, weight + part_weight
            if update is not None:
                note(update)
                last = update
        if not weight > 0:
            raise ValueError("every sample_weight is zero; give some rows a positive weight.")
        value = updater.objective(loglik, weight, entering, None if running is None else running.stats,
                                  state)
        lower_bounds.append(value)
        change = value - lower_bound
        lower_bound = value
        report_iteration(n_iter, max_iter, lower_bound, change, on_iteration)
        if updater.stops_on_objective:
            converged = abs(change) < tol
        else:
            watched, previous = loglik / weight, watched
            converged = abs(watched - previous) < tol
        if converged:
            break
    return EMResult(state, lower_bound, lower_bounds, n_iter, converged, emptied, last, running,
                    kept, scores, resp)


__all__ = ["EMResult", "step", "run", "listening", "report_iteration"]
