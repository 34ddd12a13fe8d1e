"""The updater seam: what the E-step receives, and how statistics become the next state.

The EM loop (``engine.driver``) knows nothing of the mathematics. Each
iteration it asks the updater for the E-step's inputs, has the kernels turn
the data into merged sufficient statistics ``(n_k, x̄_k, S_k)``, and asks the
updater for the next state and the value to trace. Maximum likelihood is one
updater (``updaters.ml``); a conjugate prior (MAP), variational Bayes, a
noise component or fixed labels are others: each changes what the E-step is
given and what the update returns, never the loop, the kernels or the
sources.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class MixtureParams:
    """Mixture parameters (point estimates) in a structure's layout, float64, on the host.

    Attributes
    ----------
    weights : ndarray of shape (n_components,)
    means : ndarray of shape (n_components, n_features)
    covariances : ndarray
        In the layout of ``structure`` (``structures.STRUCTURES``).
    precisions_cholesky : ndarray
        Upper-triangular factors ``U_k`` with ``Sigma_k^{-1} = U_k U_k^T``,
        same layout.
    structure : str
    noise_weight : float
        The weight of a uniform noise component (``updaters.noise``); then
        ``weights`` sum to ``1 - noise_weight``. 0 without one.
    """

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray | None
    precisions_cholesky: np.ndarray
    structure: str
    noise_weight: float = 0.0

    def sample(self, n_samples, random_state):
        """``n_samples`` rows from the Gaussian components, drawn as scikit-learn draws them.

        Counts per component are multinomial with the weights (renormalised:
        a noise component draws none), then each component's rows in turn,
        so the rows come grouped by component.

        Parameters
        ----------
        n_samples : int
        random_state : numpy.random.RandomState
            Consumed as ``sklearn.mixture.GaussianMixture.sample`` consumes it.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,)
            The component of each row.
        """
        from ..structures import STRUCTURES  # here: the structures' module imports the models

        K, d = self.means.shape
        counts = random_state.multinomial(n_samples, self.weights / self.weights.sum())
        struct = STRUCTURES[self.structure]
        # Matrices per component for full and shared storage, variances else.
        cov = struct.to_full(self.covariances, K, d) if struct.matrix else self.covariances
        X = np.vstack([struct.draw(random_state, self.means[k], cov[k], counts[k]) for k in range(K)])
        return X, np.repeat(np.arange(K), counts)


class Update:
    """What one update returns: the next state, and what happened to the components.

    Attributes
    ----------
    state : object
        The updater's state (``MixtureParams`` for maximum likelihood).
    empty : ndarray of bool, shape (n_components,)
        Components that received no weight.
    collapsed : ndarray of bool, shape (n_components,)
        Components whose covariance is singular but for the regularisation.
        It may be given as a function that computes it: only the last
        update's is read (for the fit's warning), and computing it every
        iteration (an eigen-decomposition per component) took a tenth of a
        small EM iteration.
    kept : ndarray of bool, shape (n_components,) or None
        Components whose new covariance was singular (``reg_covar=0``), so
        that they kept their previous one.
    """

    def __init__(self, state, empty, collapsed, kept=None):
        self.state, self.empty, self.kept = state, empty, kept
        self._collapsed = collapsed

    @property
    def collapsed(self):
        if callable(self._collapsed):
            self._collapsed = self._collapsed()
        return self._collapsed


class Updater:
    """Base class of the updaters.

    Attributes
    ----------
    scatter : {"full", "diag", "pooled"}
        The statistics the update needs (``engine.stats.SCATTER_KINDS``);
        the kernels collect only these.
    """

    scatter = "full"

    #: Whether EM stops when ``objective`` changes by less than ``tol``; if
    #: False, when the mean log-likelihood does (MAP EM, as mclust stops).
    stops_on_objective = True

    def estep_inputs(self, state):
        """The E-step's means, precision factors and log-normalisers (``estep.EStepInputs``)."""
        raise NotImplementedError

    def ordinary_m_step(self):
        """``(code, reg_covar)`` where an update is plain maximum likelihood with mclust's model ``code``; else None.

        Ordinary iterations of such an updater may run compiled on small
        data (``engine.stretch``), which computes them itself.
        """
        return None

    def ordinary_update(self, stats, state):
        """The :class:`Update` of ``state``, which ``ordinary_m_step``'s M-step made from ``stats`` elsewhere.

        Called only where :meth:`ordinary_m_step` is not None, and only for
        an M-step that emptied no component and factorised every covariance.
        """
        raise NotImplementedError

    def update(self, stats, previous=None):
        """Turn merged statistics into the next state; returns an :class:`Update`.

        ``stats`` is a ``SuffStats`` of any namespace (merged over every
        chunk of the pass, or a stepwise schedule's running statistics);
        ``previous`` is the state entering the step (None at the start).
        """
        raise NotImplementedError

    def objective(self, loglik, weight, entering, stats, state):
        """The value traced per iteration.

        Parameters
        ----------
        loglik, weight : float
            ``sum_i w_i log p(x_i)`` and ``sum_i w_i`` over the iteration's
            rows, under the E-step of ``entering``.
        entering : object
            The state entering the iteration.
        stats : SuffStats or None
            The statistics the last update used.
        state : object
            The state after the iteration's updates.
        """
        raise NotImplementedError
