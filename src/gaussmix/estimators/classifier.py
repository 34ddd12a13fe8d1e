r"""GaussianMixtureClassifier: classification by Gaussian mixtures, as mclust's MclustDA, EDDA and MclustSSC.

Each class ``c`` has a density ``f_c`` and a prior ``p_c``; a row goes to
the class of highest posterior

.. math::

    P(c \mid x) = \frac{p_c f_c(x)}{\sum_j p_j f_j(x)} .

``model_type="MclustDA"`` fits a mixture to each class apart, its number of
components and covariance model chosen by BIC (``gaussmix.select``, with
mclust's hierarchical start). ``model_type="EDDA"`` gives each class one
Gaussian and one covariance model shared across classes: the classes are the
components of one mixture whose responsibilities are the labels
(``estimators.labelled``), so the model's constraints couple the classes
(EEE is linear discriminant analysis, VVV quadratic) and its BIC chooses the
model. Unlabelled rows (``y == -1``) make EDDA semi-supervised, as mclust's
``MclustSSC``: EM over them, the labelled rows keeping their class.
``save`` and ``load`` (``estimators.classifier_files``) keep a fitted
classifier in one model file.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from scipy.special import logsumexp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ..namespaces import placement_of
from .classifier_files import ClassifierFilesMixin
from .discriminant import fit_edda, fit_mclustda

#: The label of an unlabelled row (scikit-learn's semi-supervised convention).
UNLABELLED = -1


class GaussianMixtureClassifier(ClassifierFilesMixin, ClassifierMixin, BaseEstimator):
    r"""Classifier with a Gaussian mixture density per class (mclust's MclustDA, EDDA, MclustSSC).

    A row is given the class of highest posterior ``p_c f_c(x) / sum_j p_j f_j(x)``
    (module docstring), with ``f_c`` a Gaussian mixture fitted to class
    ``c`` and ``p_c`` the class's share of the training rows, as in mclust.

    Parameters
    ----------
    n_components : int, iterable of int, dict or None, default=None
        Components per class. An iterable is a range that BIC chooses from,
        per class. A dict gives each class label its own int or range, as
        mclust's ``G`` list does. None is mclust's ``1:5`` for MclustDA and 1
        for EDDA, which has exactly one Gaussian per class.
    covariance_type : str, list of str or dict, default="all"
        The covariance model (mclust code or scikit-learn name), a list that
        BIC chooses from, or ``"all"`` (mclust's 14 models; E and V for one
        feature). MclustDA chooses per class, and a dict gives each class
        label its own; EDDA chooses one model for all classes.
    model_type : {"MclustDA", "EDDA"}, default="MclustDA"
        ``"MclustDA"``: a mixture per class, fitted apart. ``"EDDA"``
        (``n_components=1`` with one model shared across classes): one
        Gaussian per class, the classes coupled by the model's constraints
        (EEE is LDA, VVV is QDA); its BIC is ``-2 log L + (K d + q) log n``
        with ``L`` the mixture likelihood of the rows, K classes and ``q``
        covariance parameters, without the proportions, as mclust's.
        Required for unlabelled rows.
    priors : array-like of shape (n_classes,), default=None
        Class priors ``p_c`` for prediction, in the order of ``classes_``
        (normalised). None: the classes' shares of the labelled rows
        (MclustDA, EDDA), or the fitted mixing weights with unlabelled rows
        (MclustSSC).
    tol : float, default=1e-5
        mclust's EM tolerance: relative for the per-class selections of
        MclustDA (see :func:`gaussmix.select`); with unlabelled rows, EM
        stops when the log-likelihood with the labels gains less than
        ``tol`` in total, as MclustSSC stops.
    reg_covar : float, default=0.0
        Added to the diagonal of every covariance estimate. mclust's 0 lets
        a singular fit fail (its model is then not chosen).
    max_iter : int, default=1000
        EM iterations per fit.
    random_state : int, RandomState instance or None, default=None
        For the hierarchical start's subsample on classes of more than
        2000 rows (:func:`gaussmix.select`).
    n_jobs : int or None, default=None
        Cells of each class's selection fitted in parallel (joblib); None
        is 1.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    mixtures_ : list of GaussianMixture
        The density of each class, in the order of ``classes_`` (for EDDA,
        one-component mixtures cut from ``mixture_``).
    selections_ : list of SelectionResult or None
        MclustDA: each class's selection, with its BIC table.
    mixture_ : LabelledMixture or None
        EDDA: the mixture with one component per class.
    model_bic_ : dict or None
        EDDA: BIC of each candidate model (NaN where its fit failed, the
        reason in ``errors_``).
    errors_ : dict
        EDDA: model -> why its fit failed.
    n_components_ : ndarray of shape (n_classes,)
    n_iter_ : ndarray of int
        EM iterations of each class's chosen fit (MclustDA), or of the one
        fit (EDDA; 1, one M-step, when every row is labelled).
    covariance_types_ : list of str
        The chosen model of each class. With one component the models of a
        family are the same fit and tie (to rounding), and any of them may
        be named: mclust names them XXX (full), XXI (diagonal) and XII
        (spherical).
    priors_ : ndarray of shape (n_classes,)
    log_likelihood_ : float
        mclust's log-likelihood of the fit: of the mixture over classes
        (MclustDA, EDDA), or with the labels (MclustSSC, ``updaters.labels``).
    n_parameters_ : int
        mclust's degrees of freedom of the fit.
    bic_ : float
        ``-2 log_likelihood_ + n_parameters_ log n``: mclust's BIC, negated.
    n_features_in_ : int
    feature_names_in_ : ndarray
        Only when X has string column names.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from gaussmix import GaussianMixtureClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = GaussianMixtureClassifier(model_type="EDDA").fit(X, y)
    >>> clf.covariance_types_[0]
    'VEV'
    >>> round(clf.score(X, y), 2)
    0.98
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left"), "array-like", dict, None],
        "covariance_type": [str, "array-like", dict],
        "model_type": [StrOptions({"MclustDA", "EDDA"})],
        "priors": ["array-like", None],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "reg_covar": [Interval(Real, 0.0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
    }

    def __init__(self, n_components=None, *, covariance_type="all", model_type="MclustDA", priors=None,
                 tol=1e-5, reg_covar=0.0, max_iter=1000, random_state=None, n_jobs=None):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.model_type = model_type
        self.priors = priors
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, X, y):
        """Fit a density to each class.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training rows; NaN is not accepted.
        y : array-like of shape (n_samples,)
            The class of each row; -1 marks an unlabelled row (numeric y
            only), which needs ``model_type="EDDA"``.

        Returns
        -------
        self : object
        """
        self._validate_params()
        _numpy_only(X)
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32])
        check_classification_targets(y)
        unlabelled = np.zeros(len(y), dtype=bool)
        if np.issubdtype(y.dtype, np.number):
            unlabelled = y == UNLABELLED
        self.classes_, labels = np.unique(y[~unlabelled], return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(
                f"y holds {len(self.classes_)} class among its labelled rows; a classifier needs at "
                f"least two classes (rows labelled -1 are unlabelled)."
            )
        codes = np.full(len(y), UNLABELLED)
        codes[~unlabelled] = labels
        if unlabelled.any() and self.model_type != "EDDA":
            raise ValueError(
                "y holds -1 (unlabelled rows); semi-supervised fitting (mclust's MclustSSC) gives one "
                "Gaussian per class with one model shared across classes: use model_type='EDDA'."
            )
        X = np.asarray(X)
        settings = {name: getattr(self, name) for name in ("reg_covar", "tol", "max_iter", "random_state", "n_jobs")}
        if self.model_type == "MclustDA":
            fitted = fit_mclustda(X, codes, self.classes_, self.n_components, self.covariance_type, settings)
        else:
            fitted = fit_edda(X, codes, self.classes_, self.n_components, self.covariance_type, settings)
        for name, value in fitted.items():
            setattr(self, name, value)
        self.priors_ = self._resolve_priors(codes)
        return self

    def _resolve_priors(self, codes):
        if self.priors is not None:
            priors = np.asarray(self.priors, dtype=np.float64)
            if priors.shape != (len(self.classes_),) or not np.all(priors >= 0) or not priors.sum() > 0:
                raise ValueError(
                    f"priors must hold one non-negative number per class ({len(self.classes_)}, "
                    f"in the order of classes_ {self.classes_.tolist()}), not all zero; got {self.priors!r}."
                )
            return priors / priors.sum()
        if self.mixture_ is not None and np.any(codes < 0):
            return np.asarray(self.mixture_.weights_, dtype=np.float64)  # MclustSSC's predict
        counts = np.bincount(codes[codes >= 0], minlength=len(self.classes_))
        return counts / counts.sum()

    # -------------------------------------------------------------- predict
    def predict_log_proba(self, X):
        """Log posterior class probabilities ``log P(c | x)``.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self)
        _numpy_only(X)
        X = np.asarray(validate_data(self, X, reset=False, dtype=[np.float64, np.float32]))
        with np.errstate(divide="ignore"):  # a prior of 0 excludes its class
            joint = np.column_stack([m.score_samples(X) for m in self.mixtures_]) + np.log(self.priors_)
        return joint - logsumexp(joint, axis=1, keepdims=True)

    def predict_proba(self, X):
        """Posterior class probabilities ``p_c f_c(x) / sum_j p_j f_j(x)``; rows sum to 1.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        log_proba = self.predict_log_proba(X)
        # Normalised once more after exp, so that rows sum to 1 to rounding
        # even where the log-sum-exp of far rows is large.
        proba = np.exp(log_proba - log_proba.max(axis=1, keepdims=True))
        return proba / proba.sum(axis=1, keepdims=True)

    def predict(self, X):
        """The class of highest posterior probability of each row.

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        log_proba = self.predict_log_proba(X)  # checks that the model is fitted
        return self.classes_[np.argmax(log_proba, axis=1)]


def _numpy_only(X):
    """The classifier runs on NumPy arrays: refuse another library's array (under dispatch) clearly."""
    if placement_of(X) is not None:
        raise ValueError(
            "GaussianMixtureClassifier runs on NumPy arrays only; pass X as a NumPy array "
            "(for a torch tensor, X.cpu().numpy()), or fit GaussianMixture per class on the device."
        )
