"""GaussianMixture: scikit-learn's estimator, with mclust's models, on the EM engine.

A small subclass of ``estimators.base.BaseMixture``: it says which updater
fits it (maximum likelihood with a covariance model, ``updaters.ml``), how
its start takes ``weights_init``, ``means_init``, ``precisions_init`` and
``resp_init``, and how the parameters map to scikit-learn's attributes.
"""

from __future__ import annotations

from sklearn.utils._param_validation import StrOptions

from ..conjugate import ConjugatePrior
from ..validation import NAN_POLICIES
from ..models import available_models, get_model, sklearn_names
from ..updaters import MaximumLikelihood
from .attributes import FittedGaussiansMixin
from .base import BaseMixture
from .conjugate import ConjugatePriorMixin
from .impute import ImputeMixin
from .noise import NoiseMixin
from .starting import GivenStartMixin
from .stepwise import StepwiseMixin


class GaussianMixture(NoiseMixin, GivenStartMixin, ImputeMixin, ConjugatePriorMixin, StepwiseMixin,
                      FittedGaussiansMixin, BaseMixture):
    r"""Gaussian mixture model fitted by Expectation-Maximisation.

    A drop-in replacement for :class:`sklearn.mixture.GaussianMixture`: the
    same parameters, methods and fitted attributes, plus sample weights,
    chunked fitting in bounded memory, and mclust's covariance models.

    The density is

    .. math::

        p(x) = \sum_{k=1}^K \pi_k\, \mathcal N(x \mid \mu_k, \Sigma_k).

    Each EM iteration computes the responsibilities
    ``r_ik = pi_k N(x_i | mu_k, Sigma_k) / p(x_i)`` (E-step) chunk by chunk,
    accumulates the weighted statistics ``n_k = sum_i w_i r_ik``,
    ``mu_k = sum_i w_i r_ik x_i / n_k`` and the centred scatter
    ``S_k = sum_i w_i r_ik (x_i - mu_k)(x_i - mu_k)^T``, and sets
    ``pi_k = n_k / sum_j n_j``, ``mu_k`` and the covariance from ``S_k`` as the
    covariance model prescribes (M-step).

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components K.
    covariance_type : str, default="full"
        The covariance model. scikit-learn's names ``"full"``, ``"tied"``,
        ``"diag"``, ``"spherical"`` keep scikit-learn's attribute shapes.
        mclust's codes name the same models (``"VVV"``, ``"EEE"``, ``"VVI"``,
        ``"VII"``); with a code, ``covariances_``, ``precisions_`` and
        ``precisions_cholesky_`` are always (n_components, n_features, n_features).
    tol : float, default=1e-3
        EM stops when the mean log-likelihood per sample changes by less.
    reg_covar : float, default=1e-6
        Added to the diagonal of every covariance, so that they stay positive
        definite.
    max_iter : int, default=100
        Maximum number of EM iterations per initialisation.
    n_init : int, default=1
        Number of initialisations; the one with the highest final
        log-likelihood is kept.
    init_params : {"kmeans", "k-means++", "random", "random_from_data", "hc"}, \
            default="kmeans"
        How the starting responsibilities are chosen; all use sample weights.
        ``"hc"`` is mclust's model-based hierarchical agglomeration, the
        default of :func:`gaussmix.select`.
    weights_init : array-like of shape (n_components,), default=None
        Starting mixing weights; they must sum to 1.
    means_init : array-like of shape (n_components, n_features), default=None
        Starting means.
    precisions_init : array-like, default=None
        Starting precisions (inverse covariances), in the shape of
        ``precisions_`` for ``covariance_type``.
    resp_init : array-like of shape (n_samples, n_components), default=None
        Starting responsibilities: EM begins with an M-step from them, as
        mclust's ``me()`` does, and ``init_params`` is not used. Rows must be
        non-negative and sum to 1, to within 1e-3 (they are renormalised);
        one-hot rows give a hard start. ``*_init`` above take precedence.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation and :meth:`sample`.
    warm_start : bool, default=False
        If True, each ``fit`` starts from the previous fit's parameters and
        ``n_init`` is ignored.
    verbose : int, default=0
        0 is silent; 1 prints each initialisation and the iteration count;
        2 also prints the time and the change of the log-likelihood.
    verbose_interval : int, default=10
        Iterations between two progress lines.
    chunk_size : int, default=None
        Rows per chunk. ``None`` chooses a size whose temporaries stay under
        4 MiB, small enough to stay in cache. Results do not depend on it
        beyond rounding.
    init_sample_size : int or "auto", default="auto"
        Rows the initialisation (``init_params``) reads: a uniform random
        sample of at most this many rows, drawn in one pass with a reservoir
        (every row gets a random key; the smallest keys are kept), so that
        starting costs bounded memory on data of any size. EM itself always
        runs on all rows. ``"auto"`` uses every row of an array in memory,
        exactly as scikit-learn does, and 100 000 rows (at most 64 MiB) of
        streamed or Dask data. When the data have no more rows than the
        sample, the start equals the in-memory one.
    learning_method : {"batch", "online"}, default="batch"
        ``"batch"`` is EM: every iteration is a pass over all rows, then one
        M-step. ``"online"`` is stepwise EM (mini-batch EM; see
        :meth:`partial_fit` for the update and its sources): an M-step after
        every ``batch_size`` rows, and ``max_iter`` counts passes (epochs).
        Each pass then improves the fit far more, so very large data need
        fewer passes, at the price of a final log-likelihood slightly below
        batch EM's (the benchmark's RESULTS.md gives the figures). Rows of
        arrays in memory are visited in a new random order each pass;
        streamed rows in their stored order, which should be random. Not for
        Dask collections.
    batch_size : int, default=4096
        Rows per mini-batch of ``learning_method="online"``. After a batch
        ``fit``, :meth:`partial_fit` counts the fit as one step per
        ``batch_size`` rows of its data.
    learning_decay : float, default=0.7
        ``κ`` in the step size ``η_t = (t + τ)^-κ`` of stepwise EM; in
        (0.5, 1] for convergence.
    learning_offset : float, default=10.0
        ``τ`` in that step size: larger values damp the first steps.
    prior : None, "default" or ConjugatePrior, default=None
        A conjugate prior on the means and covariances (Fraley & Raftery,
        2007), fitted by MAP EM. ``"default"`` is mclust's
        ``priorControl()``: shrinkage 0.01 towards the data's mean, ``d + 2``
        degrees of freedom and mclust's scale for the model and K;
        :class:`gaussmix.ConjugatePrior` sets any of them. A prior keeps
        every covariance positive definite, even for a component on one row
        (set ``reg_covar=0`` to fit as mclust does); the criteria are
        evaluated at the MAP estimate. Weights then count as repeated rows
        (the prior weighs against the total weight), and ``partial_fit``
        and ``learning_method="online"`` are not available. See
        ``docs/map-em.md``.
    nan_policy : {"marginalize", "omit", "raise"}, default="marginalize"
        What a NaN in X is. ``"marginalize"``: a missing value (missing at
        random); EM fits the observed data, every method uses the densities
        of the observed coordinates, and :meth:`impute` fills the holes (see
        ``docs/missing-values.md``). ``"omit"``: rows holding a NaN are
        dropped from ``fit`` and the criteria, and refused by the per-row
        methods. ``"raise"``: NaN is an error. Infinity always is.
    noise_init : None, "knn" or array-like of bool of shape (n_samples,), default=None
        A uniform noise component for outliers (Banfield & Raftery, 1993;
        mclust's ``initialization = list(noise = ...)``): the rows first
        deemed noise, or ``"knn"`` for Byers & Raftery's nearest-neighbour
        rule (prabclus's ``NNclean`` with k = 5, on X as given). The
        Gaussians start from ``init_params`` (or ``resp_init``) on the other
        rows; then EM updates every weight, the noise's included. None: no
        noise component. Needs X in memory, without NaN, and batch EM.
        :meth:`sample` draws from the Gaussians alone: the noise has no
        place, only a density. The rule, and the default density, read the
        rows of positive weight; ``resp_init``'s rows for the noise's rows are
        not read. The fitted density is kept as ``noise_log_density_`` too: on
        wide data the density itself over- or underflows a float.
    noise_density : float, default=None
        The noise's constant density; None is mclust's ``1 / hypvol(X)``
        (``gaussmix.outliers.hypervolume``), from the training rows.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
    covariances_ : ndarray
        (n_components, n_features, n_features) for "full" and mclust codes,
        (n_features, n_features) for "tied", (n_components, n_features) for
        "diag" and (n_components,) for "spherical".
    precisions_ : ndarray
        Inverses of ``covariances_``, same shape.
    precisions_cholesky_ : ndarray
        Upper-triangular ``U`` with ``precision = U @ U.T``, same shape.
    converged_ : bool
    n_iter_ : int
        Iterations of the best initialisation.
    lower_bound_ : float
        Weighted mean log-likelihood per sample at the last iteration of the
        best initialisation; with a prior, plus the log-prior divided by
        the total weight (EM then stops when the log-likelihood alone
        changes by less than ``tol``, as mclust does).
    lower_bounds_ : list of float
        That value at every iteration. It never decreases when every M-step
        maximises exactly (``reg_covar=0``); with ``reg_covar > 0`` it may
        fall slightly (see ``updaters.ml``). With ``learning_method="online"``,
        one value per pass, each batch scored under the parameters entering
        its step.
    noise_weight_ : float
        With a noise component: its weight; ``weights_`` and it sum to 1.
    noise_density_ : float
        With a noise component: the density it was fitted with.
    n_steps_ : int
        Steps of stepwise EM taken (after :meth:`partial_fit`).
    prior_ : conjugate.ResolvedPrior
        With a prior: its values for this model and K, every slot filled.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only when X has string column names.

    See Also
    --------
    sklearn.mixture.GaussianMixture : The estimator this one replaces.

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix import GaussianMixture
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(2, 1, (300, 2)), rng.normal(9, 1, (100, 2))])
    >>> gm = GaussianMixture(n_components=2, random_state=0).fit(X)
    >>> np.sort(gm.means_[:, 0]).round()
    array([2., 9.])
    >>> np.sort(gm.weights_).round(2)
    array([0.25, 0.75])
    >>> labels = gm.predict([[0, 0], [12, 3]])
    >>> bool(labels[0] != labels[1])
    True
    """

    _parameter_constraints: dict = {
        **BaseMixture._parameter_constraints,
        **StepwiseMixin.stepwise_constraints,
        "covariance_type": [StrOptions(set(sklearn_names()) | set(available_models()))],
        "weights_init": ["array-like", None],
        "means_init": ["array-like", None],
        "precisions_init": ["array-like", None],
        "resp_init": ["array-like", None],
        "prior": [None, StrOptions({"default"}), ConjugatePrior],
        "nan_policy": [StrOptions(set(NAN_POLICIES))],
        **NoiseMixin.noise_constraints,
    }

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="full",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        weights_init=None,
        means_init=None,
        precisions_init=None,
        resp_init=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
        chunk_size=None,
        init_sample_size="auto",
        learning_method="batch",
        batch_size=4096,
        learning_decay=0.7,
        learning_offset=10.0,
        prior=None,
        nan_policy="marginalize",
        noise_init=None,
        noise_density=None,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.resp_init = resp_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.chunk_size = chunk_size
        self.init_sample_size = init_sample_size
        self.learning_method = learning_method
        self.batch_size = batch_size
        self.learning_decay = learning_decay
        self.learning_offset = learning_offset
        self.prior = prior
        self.nan_policy = nan_policy
        self.noise_init = noise_init
        self.noise_density = noise_density

    # ------------------------------------------------------------ the hooks
    def _make_updater(self):
        model, _ = get_model(self.covariance_type)
        gaussians = MaximumLikelihood(model, self.reg_covar) if self.prior is None else self._map_updater(model)
        return self._with_noise(gaussians)
