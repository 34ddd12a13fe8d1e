"""BayesianGaussianMixture: scikit-learn's variational mixture on the EM engine.

A small subclass of ``estimators.base.BaseMixture``: its updater is
variational Bayes (``updaters.vb``), its start computes the priors from the
data (one pass), and its fitted attributes are scikit-learn's. The E-step
and the statistics are the engine's, so the fit runs on the compiled
kernels, in bounded memory, on streamed sources and Dask, with sample
weights.
"""

from __future__ import annotations

from numbers import Real

import numpy as np
from sklearn.base import clone
from sklearn.utils._param_validation import Interval, StrOptions

from ..io.models import ModelFileError, json_safe
from ..models import get_model
from ..namespaces import to_host
from ..updaters.vb import Posterior, Priors, VariationalBayes, point_weights
from .attributes import FittedGaussiansMixin
from .base import BaseMixture
from .files import POSTERIOR_ARRAYS
from .priors import check_priors


class BayesianGaussianMixture(FittedGaussiansMixin, BaseMixture):
    r"""Variational Bayesian estimation of a Gaussian mixture.

    A drop-in replacement for :class:`sklearn.mixture.BayesianGaussianMixture`:
    the same parameters, fitted attributes and results from the same start,
    on gaussmix's engine (compiled kernels, bounded memory, streamed sources,
    Dask) and with sample weights. The priors are a Dirichlet process (or
    distribution) on the weights and a Gauss-Wishart distribution on each
    component's mean and precision; the fit maximises the variational lower
    bound (``updaters.vb`` gives the update and the E-step's inputs). Weights
    of unneeded components shrink towards 0, which is how this estimator
    chooses the number of components.

    Parameters
    ----------
    n_components : int, default=1
        The largest number of components.
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
    tol : float, default=1e-3
        EM stops when the lower bound (a sum over rows) changes by less.
    reg_covar : float, default=1e-6
        Added to the diagonal of each covariance estimate.
    max_iter : int, default=100
    n_init : int, default=1
    init_params : {"kmeans", "k-means++", "random", "random_from_data", "hc"}, default="kmeans"
    weight_concentration_prior_type : {"dirichlet_process", "dirichlet_distribution"}, \
            default="dirichlet_process"
    weight_concentration_prior : float, default=None
        ``1 / n_components`` when None.
    mean_precision_prior : float, default=None
        ``beta_0``; 1 when None.
    mean_prior : array-like of shape (n_features,), default=None
        ``m_0``; the (weighted) mean of X when None.
    degrees_of_freedom_prior : float, default=None
        ``nu_0``, above ``n_features - 1``; ``n_features`` when None.
    covariance_prior : float or array-like, default=None
        ``W_0^{-1}``: the (weighted) covariance of X (full, tied), its
        variances (diag) or their mean (spherical) when None.
    random_state : int, RandomState instance or None, default=None
    warm_start : bool, default=False
    verbose : int, default=0
    verbose_interval : int, default=10
    chunk_size : int, default=None
        Rows per chunk (None: a size whose temporaries stay under 4 MiB).
    init_sample_size : int or "auto", default="auto"
        Rows the start reads (see :class:`gaussmix.GaussianMixture`).

    Attributes
    ----------
    weights_, means_, covariances_, precisions_, precisions_cholesky_ : ndarray
        The posterior's point estimates, in scikit-learn's shapes.
    weight_concentration_prior_, mean_precision_prior_, mean_prior_, \
    degrees_of_freedom_prior_, covariance_prior_ :
        The priors used.
    weight_concentration_ : ndarray of shape (n_components,) or a pair of them
    mean_precision_ : ndarray of shape (n_components,)
    degrees_of_freedom_ : ndarray of shape (n_components,), or a float for "tied"
    converged_, n_iter_, lower_bound_, lower_bounds_, n_features_in_ :
        As in :class:`gaussmix.GaussianMixture`; the lower bound is a sum
        over rows, as in scikit-learn.

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix import BayesianGaussianMixture
    >>> X = np.array([[1, 2], [1, 4], [1, 0], [4, 2], [12, 4], [10, 7]])
    >>> bgm = BayesianGaussianMixture(n_components=2, random_state=42).fit(X)
    >>> bgm.means_.round(2)  # scikit-learn's, to the last digit
    array([[2.5 , 2.29],
           [8.46, 4.52]])
    >>> bgm.predict([[0, 0], [9, 3]])
    array([0, 1])
    """

    #: The posterior counts the weights: weights of 2 are two rows each.
    scale_free_weights = False

    _parameter_constraints: dict = {
        **BaseMixture._parameter_constraints,
        "covariance_type": [StrOptions({"spherical", "tied", "diag", "full"})],
        "weight_concentration_prior_type": [StrOptions({"dirichlet_process", "dirichlet_distribution"})],
        "weight_concentration_prior": [None, Interval(Real, 0.0, None, closed="neither")],
        "mean_precision_prior": [None, Interval(Real, 0.0, None, closed="neither")],
        "mean_prior": [None, "array-like"],
        "degrees_of_freedom_prior": [None, Interval(Real, 0.0, None, closed="neither")],
        "covariance_prior": [None, "array-like", Interval(Real, 0.0, None, closed="neither")],
    }

    def __init__(
        self,
        *,
        n_components=1,
        covariance_type="full",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        weight_concentration_prior_type="dirichlet_process",
        weight_concentration_prior=None,
        mean_precision_prior=None,
        mean_prior=None,
        degrees_of_freedom_prior=None,
        covariance_prior=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
        chunk_size=None,
        init_sample_size="auto",
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weight_concentration_prior_type = weight_concentration_prior_type
        self.weight_concentration_prior = weight_concentration_prior
        self.mean_precision_prior = mean_precision_prior
        self.mean_prior = mean_prior
        self.degrees_of_freedom_prior = degrees_of_freedom_prior
        self.covariance_prior = covariance_prior
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.chunk_size = chunk_size
        self.init_sample_size = init_sample_size

    # ------------------------------------------------------------ the hooks
    def _prepare_start(self, source):
        """The priors, from the data where they are not given (one pass over a stream)."""
        check_priors(self, source)
        return None

    def _make_updater(self):
        process = self.weight_concentration_prior_type == "dirichlet_process"
        priors = Priors(float(self.weight_concentration_prior_), float(self.mean_precision_prior_),
                        to_host(self.mean_prior_, np.float64),
                        float(self.degrees_of_freedom_prior_),
                        to_host(self.covariance_prior_, np.float64), process)
        return VariationalBayes(self.covariance_type, priors, self.reg_covar)

    def _set_state(self, posterior, dtype=np.float64):
        """Publish the posterior: its point estimates in the data's dtype, and its parameters."""
        super()._set_state(posterior.params, dtype)
        self.weight_concentration_ = posterior.weight_concentration
        self.mean_precision_ = posterior.mean_precision
        self.degrees_of_freedom_ = posterior.degrees_of_freedom
        self._posterior = posterior

    def _state(self):
        """The posterior (from the attributes, where they were replaced since the fit)."""
        params = super()._state()
        kept = getattr(self, "_posterior", None)
        if kept is not None and kept.params is params:
            return kept
        concentration = self.weight_concentration_
        concentration = (tuple(to_host(c, np.float64) for c in concentration) if isinstance(concentration, tuple)
                         else to_host(concentration, np.float64))
        return Posterior(concentration, to_host(self.mean_precision_, np.float64),
                         to_host(self.degrees_of_freedom_, np.float64), params)

    def _point_estimates(self):
        return self._state().params

    def n_parameters(self):
        """Free parameters of the point estimates, as for :class:`gaussmix.GaussianMixture`."""
        model, _ = get_model(self.covariance_type)
        return model.n_parameters(self.n_components, self.means_.shape[1])

    # ----------------------------------------------------------- model files
    def _file_arrays(self):
        posterior = self._state()
        arrays = self._public_arrays(posterior.params)
        arrays["posterior_weight_concentration"] = np.asarray(posterior.weight_concentration, dtype=np.float64)
        arrays["posterior_mean_precision"] = np.asarray(posterior.mean_precision, dtype=np.float64)
        arrays["posterior_degrees_of_freedom"] = np.atleast_1d(np.asarray(posterior.degrees_of_freedom,
                                                                          dtype=np.float64))
        return arrays

    def _state_from_arrays(self, arrays, n_features):
        """The posterior from a file's arrays, each checked (see the base class)."""
        params = super()._state_from_arrays(arrays, n_features)
        K, process = self.n_components, self.weight_concentration_prior_type == "dirichlet_process"
        missing = [name for name in POSTERIOR_ARRAYS if name not in arrays]
        if missing:
            raise ValueError(f"it has no {', '.join(missing)}")
        concentration = arrays["posterior_weight_concentration"]
        mean_precision = arrays["posterior_mean_precision"]
        dof = arrays["posterior_degrees_of_freedom"]
        expected = {concentration.shape: (2, K) if process else (K,), mean_precision.shape: (K,),
                    dof.shape: (1,) if self.covariance_type == "tied" else (K,)}
        for found, shape in expected.items():
            if found != shape:
                raise ValueError(f"a posterior array has shape {found}, expected {shape}")
        for name, values in (("weight concentration", concentration), ("mean precision", mean_precision),
                             ("degrees of freedom", dof - (n_features - 1.0))):
            if not np.all(np.isfinite(values)) or np.any(values <= 0):
                raise ValueError(f"the posterior's {name} is not finite and positive")
        concentration = (concentration[0], concentration[1]) if process else concentration
        if not np.allclose(point_weights(concentration, process), params.weights, rtol=1e-8, atol=1e-12):
            raise ValueError("weights_ are not what the posterior's weight concentration gives")
        return Posterior(concentration, mean_precision,
                         float(dof[0]) if self.covariance_type == "tied" else dof, params)

    def _extra_meta(self):
        return {"priors_": {name: json_safe(getattr(self, name)) for name in PRIOR_ATTRIBUTES}}

    def _restore_extra(self, meta, path):
        priors = meta.get("priors_")
        if not isinstance(priors, dict) or set(priors) != set(PRIOR_ATTRIBUTES):
            raise ModelFileError(f"{path}: its priors are missing or incomplete; the file is damaged or was altered.")
        given = {name[:-1]: priors[name] for name in PRIOR_ATTRIBUTES}
        try:
            checked = clone(self).set_params(**given)
            check_priors(checked, _NoData(self.n_features_in_))
        except (TypeError, ValueError) as exc:
            raise ModelFileError(f"{path}: its priors are wrong ({exc}); the file is damaged or was altered.") from None
        for name in PRIOR_ATTRIBUTES:
            setattr(self, name, getattr(checked, name))


#: The fitted priors a model file keeps, for a warm start.
PRIOR_ATTRIBUTES = ("weight_concentration_prior_", "mean_precision_prior_", "mean_prior_",
                    "degrees_of_freedom_prior_", "covariance_prior_")


class _NoData:
    """A source with no rows: every prior is given, so none is computed from data."""

    def __init__(self, n_features):
        self.n_features = n_features


__all__ = ["BayesianGaussianMixture"]
