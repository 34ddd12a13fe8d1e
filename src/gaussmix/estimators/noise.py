"""A uniform noise component for ``GaussianMixture``: ``noise_init`` and ``noise_density``.

The mathematics is the updater's (``updaters.noise``); here is what the
estimator adds: the rows first deemed noise, the noise density (mclust's
``1 / hypvol(X)`` by default), a start on the other rows, the published
``noise_weight_`` and ``noise_density_``, labels of -1 for noise rows, the
two parameters the criteria count, and the noise in model files.
"""

from __future__ import annotations

import math
from dataclasses import replace
from numbers import Real

import numpy as np
from array_api_compat import array_namespace
from sklearn.utils._param_validation import Interval, StrOptions

from .. import outliers
from ..backends.dask import is_dask_collection
from ..init import initial_resp
from ..io.models import ModelFileError
from ..namespaces import placement_of
from ..updaters import NoiseComponent
from ..updaters.noise import NOT_WITH_MISSING

#: ``noise_init`` names a rule for a first guess of the noise.
NOISE_RULES = {"knn": outliers.nearest_neighbour_noise}

def positive_rows(X, sample_weight):
    """The rows of positive weight (all without weights): the rows the noise's start reads."""
    return None if sample_weight is None else np.asarray(sample_weight) > 0


def noise_rows(noise_init, X, sample_weight=None, rows=None):
    """The mask of rows first deemed noise: ``noise_init`` checked, or its rule run on X.

    A rule reads the rows of positive weight only; a row of weight 0 is
    never deemed noise by it. A mask names the rows as the caller gave them:
    ``rows`` says which of those X holds, where ``nan_policy="omit"`` dropped
    some. A mask that deems no row of X noise is refused: the noise's weight
    would start, and stay, at 0.
    """
    n = X.shape[0] if rows is None else rows.size
    if isinstance(noise_init, str):
        kept = positive_rows(X, sample_weight)
        noise = np.zeros(n, dtype=bool)
        if kept is None:
            noise = NOISE_RULES[noise_init](X)
        else:
            noise[kept] = NOISE_RULES[noise_init](X[kept])
        found = f"the {noise_init!r} rule deems"
    else:
        noise = np.asarray(noise_init)
        if noise.shape != (n,) or noise.dtype.kind not in "biu" or not np.isin(noise, (0, 1)).all():
            raise ValueError(
                f"noise_init must be a boolean array with one value per row of X ({n}), True where "
                f"a row is first deemed noise, or 'knn'; got an array of shape {noise.shape} and "
                f"dtype {noise.dtype}."
            )
        noise, found = noise.astype(bool), "noise_init deems"
        if rows is not None:
            noise, found = noise[rows], "noise_init deems, of the rows without NaN,"
    if not noise.any():
        raise ValueError(
            f"{found} no row noise, so the noise component would keep a weight of 0 (EM cannot "
            f"move it from there); fit without one (noise_init=None), or deem some rows noise."
        )
    return noise


def log_noise_density(X, density=None, sample_weight=None):
    """``log density``, or mclust's default ``-log hypvol(X)`` over the rows of positive weight.

    Kept as a logarithm: the volume of wide data over- or underflows a float.
    """
    if density is not None:
        return math.log(density)
    kept = positive_rows(X, sample_weight)
    return -outliers.log_hypervolume(X if kept is None else X[kept])


def density_of_log(log_density):
    """``exp(log_density)``, 0 or infinity where a float cannot hold it (it is for display)."""
    with np.errstate(over="ignore", under="ignore"):
        return float(np.exp(np.float64(log_density)))


#: What a fit with a noise component says of another library's array.
NOISE_ON_NUMPY_ONLY = ("a noise component (noise_init) runs on NumPy arrays only: its start reads "
                       "every row at once on the host. Pass X as a NumPy array, or fit without "
                       "noise_init on the device.")


class NoiseMixin:
    """A uniform noise component beside the Gaussians of a ``BaseMixture``."""

    noise_constraints: dict = {
        "noise_init": ["array-like", StrOptions(set(NOISE_RULES)), None],
        "noise_density": [Interval(Real, 0.0, None, closed="neither"), None],
    }

    @property
    def has_noise(self):
        """Whether the model has a noise component (``noise_init`` is set)."""
        return self.noise_init is not None

    def _check_noise_parameters(self):
        if self.noise_init is None and self.noise_density is not None:
            raise ValueError(
                "noise_density is set but noise_init is None: a noise component needs a first "
                "guess of the noise rows; give noise_init (a boolean array, or 'knn')."
            )

    def _with_noise(self, updater):
        """``updater``, wrapped in the noise component when there is one."""
        if not self.has_noise:
            return updater
        return NoiseComponent(updater, self.noise_log_density_)

    def _noise_rows(self, source):
        """The boolean mask of rows first deemed noise; sets ``noise_density_``."""
        self._check_noise_parameters()
        if not self.has_noise:
            return None
        if self.learning_method != "batch":
            raise ValueError(self._stepwise_refusal())
        if source is None or not source.in_memory:
            raise ValueError(
                "a noise component needs X as an array in memory (noise_init names rows of X, "
                "and its density is the rows' volume); for streamed data fit a sample of rows."
            )
        if source.has_nan:
            raise ValueError(NOT_WITH_MISSING)
        X, w = source.X, source.sample_weight
        noise = noise_rows(self.noise_init, X, w, source.rows)
        signal = np.count_nonzero(~noise if w is None else ~noise & (w > 0))
        if signal < self.n_components:
            raise ValueError(
                f"noise_init leaves {signal} row(s) of positive weight outside the noise, fewer "
                f"than n_components={self.n_components}; deem fewer rows noise."
            )
        self.noise_log_density_ = log_noise_density(X, self.noise_density, w)
        self.noise_density_ = density_of_log(self.noise_log_density_)
        return noise

    def _noise_start(self, X, sample_weight, start, updater, random_state):
        """The starting state with noise: ``init_params`` (or ``resp_init``) on the other rows.

        As mclust starts: the Gaussians' responsibilities come from the rows
        outside the noise alone (its hierarchical tree is grown on them), the
        rows of ``noise`` are noise, and one M-step of every component, the
        noise's included, follows.
        """
        noise = start["noise"]
        if X.shape[0] != noise.shape[0]:
            raise ValueError(
                "a noise component starts from every row of X: leave init_sample_size='auto'."
            )
        signal = ~noise
        if start["resp"] is not None:
            gaussian = start["resp"][signal]
        else:
            w = None if sample_weight is None else sample_weight[signal]
            rows = int(np.count_nonzero(signal))
            gaussian = initial_resp(X[signal], w, self.n_components, self.init_params, random_state)(slice(0, rows))
        resp = np.zeros((X.shape[0], self.n_components + 1))
        resp[signal, :-1] = gaussian
        resp[noise, -1] = 1.0
        return self._state_from_resp(X, sample_weight, resp.__getitem__, updater)

    def _noise_weight_of_rows(self, noise, sample_weight):
        """The weight of the rows first deemed noise, as a fraction of all."""
        if sample_weight is None:
            return float(np.mean(noise))
        return float(sample_weight[noise].sum() / sample_weight.sum())

    def _stepwise_refusal(self):
        """Why stepwise EM cannot fit this model: a noise component needs batch EM."""
        if not self.has_noise:
            return super()._stepwise_refusal()
        return ("a noise component is fitted by batch EM from a start on the whole data "
                "(noise_init names its rows), not by partial_fit or learning_method='online'.")

    def _continuation(self, best):
        """Nothing for ``partial_fit`` to continue: a noise component is fitted in batch only."""
        return None if self.has_noise else super()._continuation(best)

    # ------------------------------------------------------------ fitted
    def _set_state(self, params, dtype=np.float64):
        """Publish ``params`` as the fitted attributes, ``noise_weight_`` (a float) with them.

        A fit without noise removes what an earlier fit with noise published.
        """
        super()._set_state(params, dtype)
        if self.has_noise:
            self.noise_weight_ = float(params.noise_weight)
            return
        for name in ("noise_weight_", "noise_density_", "noise_log_density_"):
            self.__dict__.pop(name, None)

    def _state(self):
        """The fitted parameters, with the published ``noise_weight_``.

        A warm start cannot add a noise component to a fit without one; one
        without noise from a fit with noise starts from its Gaussians alone.
        """
        state = super()._state()
        if self.has_noise:
            if not hasattr(self, "noise_weight_"):
                raise ValueError("warm_start continues a fit without a noise component: it cannot add one; "
                                 "fit afresh with warm_start=False.")
            return replace(state, noise_weight=float(self.noise_weight_))
        if state.noise_weight > 0:
            return replace(state, weights=state.weights / state.weights.sum(), noise_weight=0.0)
        return state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        if self.has_noise:  # the noise has no density for the observed part of a row
            tags.input_tags.allow_nan = False
        return tags

    def fit(self, X, y=None, sample_weight=None):
        """Estimate the parameters with EM (see :meth:`BaseMixture.fit`).

        With a noise component a memmap is read as an array in memory: the
        noise's start needs every row at once.
        """
        if self.has_noise and isinstance(X, np.memmap):
            X = np.asarray(X)
        if self.has_noise and placement_of(X) is not None:
            raise ValueError(NOISE_ON_NUMPY_ONLY)
        return super().fit(X, y, sample_weight)

    def predict(self, X):
        """The most probable component of each row; -1 for rows most probably noise.

        X may be streamed, as in :meth:`score_samples`.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        labels = super().predict(X)
        if not self.has_noise:
            return labels
        if isinstance(labels, np.ndarray) or is_dask_collection(labels):
            return np.where(labels == self.n_components, -1, labels)
        xp = array_namespace(labels)  # another library's labels, on their device
        return xp.where(labels == self.n_components, xp.full_like(labels, -1), labels)

    def n_parameters(self):
        """Free parameters, as mclust counts them; a noise component adds its weight and density."""
        return super().n_parameters() + (2 if self.has_noise else 0)

    # ------------------------------------------------------------ files
    def _file_arrays(self):
        arrays = super()._file_arrays()
        if self.has_noise:
            arrays["noise_weight"] = np.array([self._state().noise_weight])
        return arrays

    def _extra_meta(self):
        meta = super()._extra_meta()
        if self.has_noise:
            meta["noise_log_density_"] = self.noise_log_density_
        return meta

    def _restore_extra(self, meta, path):
        super()._restore_extra(meta, path)
        if not self.has_noise:
            return
        log_density = meta.get("noise_log_density_")
        if not (isinstance(log_density, Real) and not isinstance(log_density, bool)
                and math.isfinite(log_density)):
            raise ModelFileError(f"{path}: its noise density's logarithm is {log_density!r}, not a finite "
                                 f"number; the file is damaged or was altered.")
        self.noise_log_density_ = float(log_density)
        self.noise_density_ = density_of_log(self.noise_log_density_)
