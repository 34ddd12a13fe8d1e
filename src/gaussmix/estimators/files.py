"""Saving a fitted estimator to a model file, and loading one back, checked.

The file (``io.models``) holds the float64 parameters, whatever dtype the
attributes are published in, so a float32 model loses nothing on a round
trip; and the running statistics of ``partial_fit``, so a loaded model
continues its stream. A model file is untrusted input: loading checks every
invariant the model needs (parameters, shapes, weights on the simplex,
positive-definite covariances, precisions that match them) and reports each
violation as a ``ModelFileError``.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..engine.schedules import OnlineState
from ..engine.stats import SuffStats
from ..exceptions import DegenerateCovarianceError
from ..io.models import ARRAYS, ModelFileError, json_safe, read_model, write_model
from ..namespaces import host_dtype, to_host

#: The running statistics of stepwise EM, when there are any.
ONLINE_ARRAYS = ("online_nk", "online_means", "online_scatter")

#: A variational posterior's parameters (``BayesianGaussianMixture``).
POSTERIOR_ARRAYS = ("posterior_weight_concentration", "posterior_mean_precision",
                    "posterior_degrees_of_freedom")

#: The weight of a noise component (``estimators.noise``), as an array of one value.
NOISE_ARRAYS = ("noise_weight",)

#: Hyper-parameters that may be arrays of a value per row (``resp_init``,
#: a ``noise_init`` mask): kept as arrays of the file, not in its JSON, whose
#: size a reader bounds. A file names the array in the parameter's place.
ARRAY_PARAMS = ("weights_init", "means_init", "precisions_init", "resp_init", "noise_init")
PARAM_ARRAYS = tuple(f"param_{name}" for name in ARRAY_PARAMS)

#: The arrays a model file may hold beside ``io.models.ARRAYS``.
OPTIONAL_ARRAYS = ONLINE_ARRAYS + POSTERIOR_ARRAYS + NOISE_ARRAYS + PARAM_ARRAYS


def read_model_file(path):
    """``(meta, arrays)`` of a model file, every array it may hold."""
    return read_model(path, ARRAYS, optional=OPTIONAL_ARRAYS)


def _require(condition, path, message):
    if not condition:
        raise ModelFileError(f"{path}: {message}; the file is damaged or was altered.")


def _array_param(value, arrays, path):
    """A parameter as the file gives it: the array a ``{"array": name, "dtype": ...}`` names, else as is."""
    if not (isinstance(value, dict) and set(value) == {"array", "dtype"}):
        return value
    held = arrays.get(value["array"]) if value["array"] in PARAM_ARRAYS else None
    _require(held is not None, path, f"its parameter array {value['array']!r} is missing")
    try:
        dtype = np.dtype(value["dtype"])
    except TypeError:
        dtype = None
    _require(dtype is not None and dtype.kind in "biuf", path, f"its parameter dtype {value['dtype']!r} is not numeric")
    converted = held.astype(dtype)
    _require(np.array_equal(converted, held, equal_nan=True), path,
             f"its parameter array {value['array']!r} does not hold {dtype} values")
    return converted


class FilesMixin:
    """``save`` and ``load`` for an estimator with ``_state``, ``_set_state``,
    ``_public_arrays`` and ``_state_from_arrays``."""

    def save(self, path, input_transform=None):
        """Save the fitted model to ``path``: arrays plus JSON metadata, no pickle.

        The file is written atomically; :func:`gaussmix.load` reads it back
        exactly. Feature names, the covariance model, the hyper-parameters and
        the gaussmix version travel with it.

        Parameters
        ----------
        path : str or path-like
        input_transform : dict, optional
            ``{"center": ..., "scale": ...}``, one value per feature: the
            model was fitted on ``(X - center) / scale``. A loaded model has
            it as ``input_transform_`` (the command line applies it).
        """
        meta, arrays = self.file_contents(input_transform)
        write_model(path, meta, arrays)

    def _array_params(self):
        """``{name: array}``: the hyper-parameters a file keeps as arrays (see ``ARRAY_PARAMS``)."""
        params = self.get_params()
        return {name: to_host(params[name]) for name in ARRAY_PARAMS
                if name in params and params[name] is not None and not isinstance(params[name], str)}

    def file_contents(self, input_transform=None):
        """``(meta, arrays)``: what :meth:`save` writes, for a file that holds this model among others."""
        check_is_fitted(self)
        arrays = self._file_arrays()
        array_params = self._array_params()
        arrays.update({f"param_{name}": value for name, value in array_params.items()})
        online = self._running_state()
        if online is not None:
            stats = online.stats.to_numpy()
            arrays.update(online_nk=stats.nk, online_means=stats.means, online_scatter=stats.scatter)
        meta = {
            "estimator": type(self).__name__,
            "params": {**self._file_params(),
                       **{name: {"array": f"param_{name}", "dtype": value.dtype.str}
                          for name, value in array_params.items()}},
            "dtype": host_dtype(self.means_.dtype).name,
            "n_features_in": int(self.n_features_in_),
            "feature_names": [str(f) for f in getattr(self, "feature_names_in_", [])] or None,
            "converged": bool(self.converged_),
            "n_iter": int(self.n_iter_),
            "lower_bound": float(getattr(self, "_lower_bound", self.lower_bound_)),
            "lower_bounds": [float(v) for v in self.lower_bounds_],
            "online_steps": None if online is None else int(online.n_steps),
            **self._extra_meta(),
            "standardize": None if input_transform is None else {
                k: [float(v) for v in np.ravel(input_transform[k])] for k in ("center", "scale")
            },
        }
        return meta, arrays

    def _file_arrays(self):
        """The float64 arrays a file holds (a subclass adds its own)."""
        return self._public_arrays(self._state())

    def _file_params(self):
        """The hyper-parameters as JSON holds them (a subclass encodes its objects)."""
        return {k: json_safe(v) for k, v in self.get_params().items()}

    @classmethod
    def _params_from_file(cls, params):
        """The constructor's arguments from a file's parameters (inverse of ``_file_params``)."""
        return params

    def _extra_meta(self):
        """What a subclass keeps beside the arrays, as JSON (nothing here)."""
        return {}

    def _restore_extra(self, meta, path):
        """Restore what ``_extra_meta`` kept (nothing here)."""

    @classmethod
    def load(cls, path):
        """Read a model written by :meth:`save`, checking everything it holds.

        Raises
        ------
        FileNotFoundError
            If there is no such file.
        ModelFileError
            If the file is not a gaussmix model, is damaged, or holds
            parameters that break the model's invariants.
        """
        meta, _ = read_model(path, names=())  # what it holds, before its arrays are looked for
        held = meta.get("estimator", cls.__name__)
        if held != cls.__name__:
            raise ModelFileError(f"{path} holds a {held!r}, not a {cls.__name__}: read it with gaussmix.load.")
        meta, arrays = read_model_file(path)
        return cls._from_file(meta, arrays, path)

    @classmethod
    def from_file_contents(cls, meta, arrays, path):
        """The estimator :meth:`file_contents` describes, checked as :meth:`load` checks a file."""
        return cls._from_file(meta, arrays, path)

    @classmethod
    def _from_file(cls, meta, arrays, path):
        """A new estimator from a file's contents, checked."""
        params = meta.get("params")
        _require(isinstance(params, dict), path, "its parameters are not a mapping")
        params = {name: _array_param(value, arrays, path) for name, value in params.items()}
        try:
            model = cls(**cls._params_from_file(params))
        except (TypeError, ValueError) as exc:
            raise ModelFileError(f"{path}: bad parameters ({exc}).") from None
        return cls._restored(model, meta, arrays, path)

    def _restored(self, meta, arrays, path):
        """This (new) estimator with the fitted state the file holds, checked."""
        try:
            self._validate_params()
        except (TypeError, ValueError) as exc:  # InvalidParameterError is both
            raise ModelFileError(f"{path}: bad parameters ({exc}).") from None
        d = meta.get("n_features_in")
        _require(isinstance(d, numbers.Integral) and not isinstance(d, bool) and d >= 1, path,
                 f"n_features_in is {d!r}, not a positive integer")
        dtype = meta.get("dtype", "float64")
        _require(dtype in ("float32", "float64"), path, f"dtype is {dtype!r}")
        try:
            state = self._state_from_arrays(arrays, int(d))
        except (ValueError, DegenerateCovarianceError) as exc:
            raise ModelFileError(f"{path}: {str(exc).rstrip('.')}; the file is damaged or was altered.") from None
        self._set_state(state, np.dtype(dtype))
        self.n_features_in_ = int(d)
        names = meta.get("feature_names")
        if names:
            _require(isinstance(names, list) and len(names) == d and all(isinstance(n, str) for n in names),
                     path, "feature_names do not match the number of features")
            self.feature_names_in_ = np.asarray(names, dtype=object)
        self._restore_trace(meta, path, np.dtype(dtype).type)
        self._restore_extra(meta, path)
        self._restore_online(meta, arrays, path)
        transform = meta.get("standardize")
        if transform:
            try:
                center = np.asarray(transform["center"], dtype=float)
                scale = np.asarray(transform["scale"], dtype=float)
            except (KeyError, TypeError, ValueError):
                raise ModelFileError(f"{path}: its standardisation is not numbers.") from None
            _require(center.shape == scale.shape == (d,) and np.all(np.isfinite(center))
                     and np.all(np.isfinite(scale)) and np.all(scale > 0), path,
                     "its standardisation needs one finite centre and positive scale per feature")
            # Informational: the model expects (X - center) / scale. The CLI
            # applies it; in Python, transform X before predict.
            self.input_transform_ = {"center": center, "scale": scale}
        return self

    def _restore_trace(self, meta, path, scalar):
        bounds = meta.get("lower_bounds")
        _require(isinstance(bounds, list) and all(isinstance(v, numbers.Real) for v in bounds), path,
                 "lower_bounds is not a list of numbers")
        n_iter, bound = meta.get("n_iter"), meta.get("lower_bound")
        _require(isinstance(n_iter, numbers.Integral) and n_iter >= 0, path, "n_iter is not a count")
        _require(isinstance(bound, numbers.Real), path, "lower_bound is not a number")
        _require(isinstance(meta.get("converged"), bool), path, "converged is not true or false")
        self.converged_ = meta["converged"]
        self.n_iter_ = int(n_iter)
        self._lower_bound = float(bound)
        self.lower_bound_ = scalar(bound)
        self.lower_bounds_ = [scalar(v) for v in bounds]

    def _restore_online(self, meta, arrays, path):
        steps = meta.get("online_steps")
        if steps is None:
            return
        _require(isinstance(steps, numbers.Integral) and steps >= 1, path, "online_steps is not a count")
        _require(all(name in arrays for name in ONLINE_ARRAYS), path,
                 "it counts online steps but has no running statistics")
        K, d = self.means_.shape
        nk, means, scatter = (arrays[name] for name in ONLINE_ARRAYS)
        _require(nk.shape == (K,) and means.shape == (K, d) and scatter.shape[1:] in ((d, d), (d,)), path,
                 "its running statistics have the wrong shapes")
        _require(all(np.all(np.isfinite(a)) for a in (nk, means, scatter)) and np.all(nk >= 0), path,
                 "its running statistics are not finite and non-negative")
        self._online_state = OnlineState(SuffStats(nk, means, scatter), int(steps))
        self.n_steps_ = int(steps)
