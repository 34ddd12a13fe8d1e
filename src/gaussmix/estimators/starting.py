"""The start of a ``GaussianMixture``: ``*_init`` arguments, ``resp_init``, and the noise's rows.

``weights_init``, ``means_init`` and ``precisions_init`` fix parts of the
starting parameters; ``resp_init`` gives starting responsibilities, from
which EM begins with an M-step as mclust's ``me()`` does; whatever is not
fixed comes from ``init_params`` on the start's rows. With a noise component
(``estimators.noise``) the Gaussians start on the rows outside the noise.
"""

from __future__ import annotations

from .. import starts
from ..init import start_rows
from ..models import get_model
from ..structures import STRUCTURES
from ..updaters import MixtureParams
from .sharing import shared


class GivenStartMixin:
    """``_prepare_start``, ``_start_reads_data`` and ``_initial_state`` of ``GaussianMixture``."""

    def _prepare_start(self, source):
        """The checked ``*_init`` arguments; ``resp_init`` only for ``fit`` (``source`` given).

        With a prior, ``fit`` also fills its slots from the data (one pass
        over a stream) into ``prior_``.
        """
        model, sklearn_layout = get_model(self.covariance_type)
        if source is not None:
            self._resolve_prior(model, source)
        n_features = self.n_features_in_
        K = self.n_components
        start = {
            "weights": None if self.weights_init is None else starts.check_weights_init(self.weights_init, K),
            "means": None if self.means_init is None else starts.check_means_init(self.means_init, K, n_features),
            "covariances": None if self.precisions_init is None else starts.check_precisions_init(
                self.precisions_init, model, sklearn_layout, K, n_features),
            "resp": None,
            "noise": self._noise_rows(source) if source is not None else self._check_noise_parameters(),
        }
        if source is not None and self.resp_init is not None:
            if not source.in_memory:
                raise ValueError(
                    "resp_init needs X as an array in memory (one row of responsibilities "
                    "per row of X); for streamed or Dask data use means_init, or init_params."
                )
            start["resp"] = shared("resp_init", (self.resp_init,), lambda: starts.check_resp_init(
                self.resp_init, source.n_samples, K), (source.n_samples, K))
        return start

    def _start_reads_data(self, start):
        return any(start[name] is None for name in ("weights", "means", "covariances"))

    def _initial_state(self, X, sample_weight, start, updater, random_state):
        """Starting parameters: an M-step from the initial responsibilities
        on the start's rows, then whatever the user fixed with ``*_init``."""
        model, _ = get_model(self.covariance_type)
        noise, noise_weight = start["noise"], 0.0
        from_data = self._start_reads_data(start)
        if from_data:
            if noise is not None:
                first = self._noise_start(X, sample_weight, start, updater, random_state)
            elif start["resp"] is not None:
                X, sample_weight, rows = start_rows(X, sample_weight, self.n_components,
                                                    self._estimates_covariances())
                resp = start["resp"] if rows is None else start["resp"][rows]
                first = self._state_from_resp(X, sample_weight, lambda sl: resp[sl, ...], updater, resp)
            else:
                first = super()._initial_state(X, sample_weight, start, updater, random_state)
            w = first.weights if start["weights"] is None else start["weights"]
            mu = first.means if start["means"] is None else start["means"]
            cov = first.covariances if start["covariances"] is None else start["covariances"]
            noise_weight = first.noise_weight
        else:
            w, mu, cov = start["weights"], start["means"], start["covariances"]
            if noise is not None:
                noise_weight = self._noise_weight_of_rows(noise, sample_weight)
        if noise is not None and start["weights"] is not None:
            w = w * (1.0 - noise_weight)  # weights_init share what the noise leaves
        struct = STRUCTURES[model.structure]
        # The start's own covariances were factorised by its update already.
        prec_chol = first.precisions_cholesky if from_data and start["covariances"] is None \
            else struct.prec_chol_from_cov(cov)
        return MixtureParams(w, mu, cov, prec_chol, model.structure, noise_weight)
