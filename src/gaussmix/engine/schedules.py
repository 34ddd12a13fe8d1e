r"""Schedules: how the statistics of successive passes combine before each update.

**Batch** (EM): every iteration is one pass over all rows; its merged
statistics replace the last ones, and one update follows.

**Stepwise** (online EM; Cappé & Moulines, 2009, "On-line
expectation-maximization algorithm for latent data models", JRSS B 71(3);
Liang & Klein, 2009, "Online EM for unsupervised models", NAACL): every
iteration (an epoch) visits mini-batches ``B_t`` of rows, and keeps running
statistics ``s`` *per unit of weight*; after each batch

.. math::

    \hat s_t = \frac{1}{\sum_{i \in B_t} w_i}\,
               \mathrm{stats}(B_t \mid \theta_{t-1}), \qquad
    s_t = (1 - \eta_t)\, s_{t-1} + \eta_t\, \hat s_t, \qquad
    \theta_t = \mathrm{M}(s_t),

where ``stats(B | θ)`` are the sufficient statistics of the batch under the
responsibilities of ``θ`` (the E-step) and ``M`` is the updater. The step
size is

.. math::

    \eta_1 = 1, \qquad \eta_t = (t + \tau)^{-\kappa} \quad (t \ge 2),

with ``τ = learning_offset`` and ``κ = learning_decay``; ``κ ∈ (0.5, 1]``
gives the convergence conditions ``Σ η_t = ∞, Σ η_t² < ∞`` of stochastic
approximation. This is the schedule and the parameterisation of
scikit-learn's online ``LatentDirichletAllocation``. The interpolation is
an exact convex combination of the two sets of moments: scaling every
weight by ``c`` scales ``n_k`` and ``S_k`` and keeps ``x̄_k``, and Chan's
merge then combines the centred statistics without cancellation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .stats import merge


@dataclass
class OnlineState:
    """Running statistics per unit of weight, and the number of steps taken."""

    stats: object
    n_steps: int

    def as_stepwise(self, batch_size):
        return self


@dataclass
class BatchPass:
    """The statistics of a batch pass and their total weight."""

    stats: object
    weight: float

    def as_stepwise(self, batch_size):
        """These statistics as stepwise EM's running state: one step per ``batch_size`` rows."""
        if self.stats is None or self.weight <= 0:
            return None
        steps = max(1, math.ceil(self.weight / batch_size))
        return OnlineState(self.stats.to_numpy().scaled(1.0 / self.weight), steps)


def step_size(step, learning_offset, learning_decay):
    """``eta_t`` for step ``t`` (1-based): 1 for the first, then ``(t + tau)^-kappa``."""
    if step <= 1:
        return 1.0
    return float((step + learning_offset) ** (-learning_decay))


def online_step(state, batch_stats, batch_weight, learning_offset, learning_decay):
    """Fold one batch's statistics into the running ones; return the new state."""
    step = 1 if state is None else state.n_steps + 1
    eta = step_size(step, learning_offset, learning_decay)
    batch = batch_stats.to_numpy().scaled(1.0 / batch_weight)
    if state is None or eta >= 1.0:
        return OnlineState(batch, step)
    return OnlineState(merge(state.stats.scaled(1.0 - eta), batch.scaled(eta)), step)


class Batch:
    """EM: one pass over all rows per iteration; its statistics replace the last."""

    def parts(self, source, random_state):
        """The sources of one iteration's steps: the whole source, once."""
        return (source,)

    def fold(self, running, stats, weight):
        """``(running, statistics for the update)`` after one step."""
        return BatchPass(stats, weight), stats


class Stepwise:
    """Stepwise EM: an update after every mini-batch, from interpolated statistics.

    Parameters
    ----------
    batch_size : int
        Rows per mini-batch.
    learning_offset, learning_decay : float
        ``τ`` and ``κ`` of the step size.
    chunk_size : int
        Rows per compute chunk of a mini-batch.
    """

    def __init__(self, batch_size, learning_offset, learning_decay, chunk_size):
        self.batch_size = batch_size
        self.learning_offset = learning_offset
        self.learning_decay = learning_decay
        self.chunk_size = chunk_size

    def parts(self, source, random_state):
        """The mini-batches of one epoch, as sources (``Source.batches``)."""
        return source.batches(self.batch_size, random_state, self.chunk_size)

    def fold(self, running, stats, weight):
        running = online_step(running, stats, weight, self.learning_offset, self.learning_decay)
        return running, running.stats


__all__ = ["OnlineState", "BatchPass", "step_size", "online_step", "Batch", "Stepwise"]
