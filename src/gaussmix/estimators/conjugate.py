"""A conjugate prior for an estimator: MAP EM, with what a prior changes around a fit.

:class:`ConjugatePriorMixin` gives an estimator with a ``prior`` parameter
(None, ``"default"`` or a :class:`gaussmix.ConjugatePrior`) the MAP
updater (``updaters.map``), the prior's values from the data
(``prior_``, one chunked pass), frequency weights, the refusal of stepwise
EM, and the prior's place in a model file.
"""

from __future__ import annotations

from ..backends.moments import DataMoments
from ..conjugate import as_prior, resolve
from ..conjugate.prior import prior_from_json, prior_to_json, resolved_from_dict
from ..io.models import ModelFileError
from ..models import get_model
from ..updaters import MaximumAPosteriori


class ConjugatePriorMixin:
    """MAP EM under ``self.prior`` for a ``BaseMixture`` with a covariance model."""

    @property
    def scale_free_weights(self):
        """Without a prior a fit does not depend on the weights' scale; with one they count rows."""
        return self.prior is None

    def _resolve_prior(self, model, source):
        """Set ``prior_``: the prior's slots filled from the data, for this model and K."""
        prior = as_prior(self.prior)
        if prior is None:
            return
        if getattr(self, "learning_method", "batch") != "batch":
            raise ValueError(self._stepwise_refusal())
        self.prior_ = resolve(prior, model, self.n_components, DataMoments(source))

    def _map_updater(self, model):
        return MaximumAPosteriori(model, self.reg_covar, self.prior_)

    def _stepwise_refusal(self):
        if self.prior is None:
            return None
        return ("a prior needs batch EM over the whole data (it weighs against the total weight "
                "of the rows), not partial_fit or learning_method='online': use fit with "
                "learning_method='batch', which streams files and Dask collections in bounded "
                "memory too.")

    # ----------------------------------------------------------- model files
    def _file_params(self):
        params = super()._file_params()
        params["prior"] = prior_to_json(self.prior)
        return params

    @classmethod
    def _params_from_file(cls, params):
        return {**params, "prior": prior_from_json(params.get("prior"))}

    def _extra_meta(self):
        prior = getattr(self, "prior_", None)
        return {} if self.prior is None or prior is None else {"prior_": prior.to_dict()}

    def _restore_extra(self, meta, path):
        if self.prior is None:
            return
        model, _ = get_model(self.covariance_type)
        try:
            self.prior_ = resolved_from_dict(meta.get("prior_"), model, self.n_features_in_)
        except ValueError as exc:
            raise ModelFileError(f"{path}: {exc}; the file is damaged or was altered.") from None
