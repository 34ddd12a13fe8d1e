"""Saving a fitted GaussianMixtureClassifier to a model file, and loading one back, checked.

One file holds every class's mixture, each as its own model file would
(``estimators.files``: the float64 arrays under a ``class<c>.`` prefix and
its metadata in a list), with the classes, their priors, the classifier's
hyper-parameters and the choices of the fit. Loading checks every mixture as
``GaussianMixture.load`` does, and the classes and priors besides; each
violation is a ``ModelFileError``. What is only a record of the fit's search
(``selections_``, ``mixture_``, ``model_bic_``, ``errors_``) is not kept: a
loaded classifier has None there.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..io.models import ARRAYS, ModelFileError, json_safe, read_model, write_model
from .files import OPTIONAL_ARRAYS
from .gaussian import GaussianMixture

#: The estimator name a classifier's file records.
NAME = "GaussianMixtureClassifier"


def encode(value):
    """A hyper-parameter as JSON holds it: ranges and dicts (by class) tagged, lists kept."""
    if isinstance(value, range):
        return {"range": [value.start, value.stop, value.step]}
    if isinstance(value, dict):
        return {"dict": [[json_safe(k), encode(v)] for k, v in value.items()]}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    return json_safe(value)


def decode(value):
    """The inverse of :func:`encode`."""
    if isinstance(value, dict):
        if set(value) == {"range"}:
            return range(*value["range"])
        if set(value) == {"dict"}:
            return {key: decode(v) for key, v in value["dict"]}
        raise ValueError(f"unknown parameter encoding {sorted(value)}")
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


def _require(condition, path, message):
    if not condition:
        raise ModelFileError(f"{path}: {message}; the file is damaged or was altered.")


class ClassifierFilesMixin:
    """``save`` and ``load`` for ``GaussianMixtureClassifier``."""

    def save(self, path):
        """Save the fitted classifier to ``path``: arrays plus JSON metadata, no pickle.

        The file is written atomically; ``GaussianMixtureClassifier.load``
        and :func:`gaussmix.load` read it back and predict exactly as before.
        """
        check_is_fitted(self)
        arrays, mixtures = {"priors_": np.asarray(self.priors_, dtype=np.float64)}, []
        for c, mixture in enumerate(self.mixtures_):
            meta_c, arrays_c = mixture.file_contents()
            mixtures.append(meta_c)
            arrays.update({f"class{c}.{name}": value for name, value in arrays_c.items()})
        meta = {
            "estimator": NAME,
            "params": {name: encode(value) for name, value in self.get_params().items()},
            "classes": [json_safe(c) for c in self.classes_],
            "classes_dtype": self.classes_.dtype.str,
            "n_features_in": int(self.n_features_in_),
            "feature_names": [str(f) for f in getattr(self, "feature_names_in_", [])] or None,
            "covariance_types_": [str(code) for code in self.covariance_types_],
            "n_components_": [int(k) for k in self.n_components_],
            "fit": {name: json_safe(getattr(self, name)) for name in ("log_likelihood_", "n_parameters_", "bic_")},
            "mixtures": mixtures,
        }
        write_model(path, meta, arrays)

    @classmethod
    def load(cls, path):
        """Read a classifier written by :meth:`save`, checking everything it holds.

        Raises
        ------
        FileNotFoundError
            If there is no such file.
        ModelFileError
            If the file is not a gaussmix classifier, is damaged, or holds
            parameters that break a mixture's invariants.
        """
        meta, _ = read_model(path, names=())
        return cls.from_file(meta, path)

    @classmethod
    def from_file(cls, meta, path):
        """The classifier of a file whose metadata ``meta`` were read already."""
        _require(meta.get("estimator") == NAME, path, f"it holds a {meta.get('estimator')!r}, not a {NAME}")
        mixtures = meta.get("mixtures")
        _require(isinstance(mixtures, list) and len(mixtures) >= 2, path, "it holds fewer than two classes")
        names = [f"class{c}.{name}" for c in range(len(mixtures)) for name in ARRAYS + OPTIONAL_ARRAYS]
        _, arrays = read_model(path, names=("priors_",), optional=names)
        params = meta.get("params")
        _require(isinstance(params, dict), path, "its parameters are not a mapping")
        try:
            model = cls(**{name: decode(value) for name, value in params.items()})
        except (TypeError, ValueError) as exc:
            raise ModelFileError(f"{path}: bad parameters ({exc}).") from None
        return cls._restored_classifier(model, meta, arrays, path)

    def _restored_classifier(self, meta, arrays, path):
        """This (new) classifier with its mixtures, classes, priors and features, each checked."""
        try:
            self._validate_params()
        except (TypeError, ValueError) as exc:  # InvalidParameterError is both
            raise ModelFileError(f"{path}: bad parameters ({exc}).") from None
        self.mixtures_ = []
        for c, meta_c in enumerate(meta["mixtures"]):
            _require(isinstance(meta_c, dict), path, f"class {c}'s mixture is not a mapping")
            prefix = f"class{c}."
            arrays_c = {name[len(prefix):]: value for name, value in arrays.items() if name.startswith(prefix)}
            self.mixtures_.append(GaussianMixture.from_file_contents(meta_c, arrays_c, path))
        priors = arrays["priors_"]
        K = len(self.mixtures_)
        try:
            classes = np.asarray(meta.get("classes"), dtype=np.dtype(meta.get("classes_dtype")))
        except (TypeError, ValueError):
            raise ModelFileError(f"{path}: its classes are not what their dtype says; the file is "
                                 f"damaged or was altered.") from None
        _require(classes.shape == (K,) and len(np.unique(classes)) == K, path,
                 f"it holds {K} mixtures but classes {meta.get('classes')!r}")
        _require(priors.shape == (K,) and np.all(np.isfinite(priors)) and np.all(priors >= 0)
                 and abs(priors.sum() - 1.0) <= 1e-9, path, "its priors are not one probability per class")
        d = meta.get("n_features_in")
        _require(isinstance(d, numbers.Integral) and all(m.n_features_in_ == d for m in self.mixtures_), path,
                 "its classes' mixtures disagree on the number of features")
        self.classes_, self.priors_, self.n_features_in_ = classes, priors, int(d)
        names = meta.get("feature_names")
        if names:
            _require(isinstance(names, list) and len(names) == d and all(isinstance(n, str) for n in names),
                     path, "feature_names do not match the number of features")
            self.feature_names_in_ = np.asarray(names, dtype=object)
        types, counts = meta.get("covariance_types_"), meta.get("n_components_")
        _require(isinstance(types, list) and isinstance(counts, list) and len(types) == len(counts) == K
                 and all(counts[c] == m.n_components for c, m in enumerate(self.mixtures_)), path,
                 "its record of the chosen models does not match the mixtures")
        self.covariance_types_, self.n_components_ = [str(t) for t in types], np.asarray(counts, dtype=int)
        fit = meta.get("fit") or {}
        for name in ("log_likelihood_", "n_parameters_", "bic_"):
            value = fit.get(name)
            _require(isinstance(value, numbers.Real) and math.isfinite(value), path, f"its {name} is {value!r}")
            setattr(self, name, value)
        # A record of the fit's search, not kept in the file.
        self.selections_ = self.mixture_ = self.model_bic_ = self.errors_ = None
        return self
