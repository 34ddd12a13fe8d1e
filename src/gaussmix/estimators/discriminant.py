"""The fits behind GaussianMixtureClassifier: a mixture per class (MclustDA), or one shared model (EDDA, MclustSSC).

Each function returns the classifier's fitted attributes as a dict.
``fit_mclustda`` runs :func:`gaussmix.select` on each class's rows, with
mclust's retreat where every cell of a class fails. ``fit_edda`` fits, for
each candidate covariance model, one ``LabelledMixture`` whose components
are the classes, and keeps the model of lowest BIC, counted as mclust
counts it: EDDA's ``-2 log L + (K d + q) log n`` with ``L`` the mixture
likelihood and no proportion parameters; MclustSSC's with the
log-likelihood with the labels (``updaters.labels``) and ``K - 1``
proportions.
"""

from __future__ import annotations

import math
import warnings
from numbers import Integral

import numpy as np
from scipy.special import logsumexp

from ..models import available_models, get_model
from ..selection import select
from ..selection.singular import near_singular_reason
from .gaussian import GaussianMixture
from .labelled import LabelledMixture

#: mclust's default numbers of components per class (MclustDA's G = 1:5).
MCLUST_DA_COMPONENTS = range(1, 6)


def per_class(value, classes, name):
    """``value`` for each class: the same for all, or a dict keyed by class label."""
    if not isinstance(value, dict):
        return [value] * len(classes)
    missing = [c for c in classes.tolist() if c not in value]
    extra = [k for k in value if k not in set(classes.tolist())]
    if missing or extra:
        raise ValueError(
            f"{name} as a dict needs one entry per class: missing {missing}, unknown {extra}; "
            f"the classes are {classes.tolist()}."
        )
    return [value[c] for c in classes.tolist()]


def component_counts(value):
    """An int or an iterable of ints as a sorted list of positive ints."""
    values = [value] if isinstance(value, Integral) else list(value)
    if not values or not all(isinstance(k, Integral) and not isinstance(k, bool) and k >= 1 for k in values):
        raise ValueError(f"n_components must be a positive int or ints, for example range(1, 6); got {value!r}.")
    return sorted({int(k) for k in values})


def model_codes(value, n_features):
    """``"all"``, a name or a list of names as mclust codes (scikit-learn's names translated)."""
    if isinstance(value, str) and value == "all":
        return available_models(n_features=n_features)
    names = [value] if isinstance(value, str) else list(value)
    if not names:
        raise ValueError("covariance_type is empty; give a model, a list of models, or 'all'.")
    return list(dict.fromkeys(get_model(name)[0].code for name in names))


# ------------------------------------------------------------------- MclustDA
def fit_mclustda(X, codes, classes, n_components, covariance_type, settings):
    """A mixture per class by :func:`gaussmix.select`; ``codes`` index ``classes`` (-1: none)."""
    ks = per_class(MCLUST_DA_COMPONENTS if n_components is None else n_components, classes, "n_components")
    models = per_class(covariance_type, classes, "covariance_type")
    mixtures, selections = [], []
    for c, label in enumerate(classes.tolist()):
        Xc = X[codes == c]
        if len(Xc) < 2:
            raise ValueError(
                f"class {label!r} has one row; MclustDA fits a mixture to each class and needs "
                f"two rows or more per class. model_type='EDDA' with a shared model (EEE) can fit it."
            )
        wanted = component_counts(ks[c])
        result = select_class(Xc, label, [k for k in wanted if k <= len(Xc)] or [len(Xc)],
                              model_codes(models[c], X.shape[1]), settings)
        mixtures.append(result.best_)
        selections.append(result)
    # mclust's logLik.MclustDA: the mixture over classes with their shares as weights.
    shares = np.bincount(codes[codes >= 0], minlength=len(classes)) / np.sum(codes >= 0)
    log_dens = np.column_stack([m.score_samples(X) for m in mixtures]) + np.log(shares)
    loglik = float(logsumexp(log_dens, axis=1).sum())
    df = int(sum(m.n_parameters() for m in mixtures))
    return {
        "mixtures_": mixtures, "selections_": selections, "mixture_": None, "model_bic_": None,
        "errors_": {}, "n_components_": np.array([m.n_components for m in mixtures]),
        "covariance_types_": [m.covariance_type for m in mixtures],
        "n_iter_": np.array([m.n_iter_ for m in mixtures]),
        "log_likelihood_": loglik, "n_parameters_": df,
        "bic_": -2.0 * loglik + df * math.log(X.shape[0]),
    }


def select_class(Xc, label, ks, codes, settings):
    """One class's selection; where every cell fails, mclust's MclustDA retreats and so do we.

    With one model, to the model before it in mclust's order (before EII:
    one component fewer); with several, to one component fewer each. A
    warning says so.
    """
    while True:
        try:
            return select(Xc, ks, codes, **settings)
        except ValueError as exc:
            if "every cell failed" not in str(exc):
                raise ValueError(f"class {label!r}: {exc}") from None
            order = available_models(n_features=Xc.shape[1])
            before = ks, codes
            if len(codes) == 1 and codes[0] in order and order.index(codes[0]) > 0:
                codes = [order[order.index(codes[0]) - 1]]
            else:
                ks = [k - 1 for k in ks if k > 1]
            if not ks:
                raise ValueError(f"class {label!r}: {exc}") from None
            warnings.warn(
                f"class {label!r}: no fit of {before[1]} with {before[0]} component(s) succeeded; "
                f"trying {codes} with {ks}, as mclust's MclustDA does.", UserWarning, stacklevel=4,
            )


# ------------------------------------------------------------------ EDDA, SSC
def fit_edda(X, codes, classes, n_components, covariance_type, settings):
    """One Gaussian per class, one model for all, chosen by BIC; semi-supervised where ``codes`` hold -1."""
    if isinstance(covariance_type, dict) or isinstance(n_components, dict):
        raise ValueError("EDDA shares one model across classes: give covariance_type and "
                         "n_components for all classes, not a dict.")
    if n_components is not None and component_counts(n_components) != [1]:
        raise ValueError(
            f"EDDA has one Gaussian per class, so n_components must be 1 or None, got "
            f"{n_components!r}; use model_type='MclustDA' for a mixture per class."
        )
    semi_supervised = bool(np.any(codes < 0))
    n, d = X.shape
    K = len(classes)
    table, errors, fits = {}, {}, {}
    for code in model_codes(covariance_type, d):
        # mclust's SSC tolerance is absolute on the total log-likelihood; ours is per row.
        mixture = LabelledMixture(K, covariance_type=code, reg_covar=settings["reg_covar"],
                                  tol=settings["tol"] / n, max_iter=settings["max_iter"])
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a failed or poor model is not chosen
                mixture.fit(X, codes)
            resp = mixture.predict_proba(X)  # the labelled rows keep their class
            resp[codes >= 0] = np.eye(K)[codes[codes >= 0]]
            reason = near_singular_reason(mixture, "the fit", X, resp)
            if reason is not None:
                raise ValueError(reason)
        except (ValueError, np.linalg.LinAlgError, FloatingPointError) as exc:
            table[code], errors[code] = math.nan, str(exc)
            continue
        loglik, df = shared_loglik_df(mixture, X, semi_supervised)
        table[code] = -2.0 * loglik + df * math.log(n)
        fits[code] = (mixture, loglik, df)
    if not fits:
        raise ValueError("no covariance model could be fitted; first reason: "
                         + next(iter(errors.values())) + " Try a positive reg_covar.")
    best = min(fits, key=table.__getitem__)
    mixture, loglik, df = fits[best]
    return {
        "mixture_": mixture, "log_likelihood_": loglik, "n_parameters_": df, "bic_": table[best],
        "model_bic_": table, "errors_": errors, "selections_": None,
        "n_iter_": np.array([mixture.n_iter_]),
        "mixtures_": [class_density(mixture, X, c, settings["reg_covar"]) for c in range(K)],
        "n_components_": np.ones(K, dtype=int), "covariance_types_": [best] * K,
    }


def shared_loglik_df(mixture, X, semi_supervised):
    """mclust's log-likelihood and degrees of freedom of an EDDA or MclustSSC fit."""
    if semi_supervised:  # MclustSSC: with the labels, proportions counted
        return mixture.log_likelihood_, mixture.n_parameters()
    # EDDA: the mixture's log-likelihood, proportions not counted.
    loglik = float(mixture.score_samples(X).sum())
    return loglik, mixture.n_parameters() - (mixture.n_components - 1)


def class_density(mixture, X, c, reg_covar):
    """Component ``c`` of ``mixture`` as a one-component GaussianMixture (fitted without EM)."""
    density = GaussianMixture(
        1, covariance_type=mixture.covariance_type, weights_init=[1.0], means_init=mixture.means_[c:c + 1],
        precisions_init=mixture.precisions_[c:c + 1], max_iter=0, reg_covar=reg_covar,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter=0: no EM, nothing converged
        return density.fit(X)
