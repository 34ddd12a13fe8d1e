r"""The conjugate prior of a Gaussian mixture, and mclust's default values for it.

Fraley & Raftery (2007) put a conjugate prior on each component's mean and
covariance (none on the mixing proportions):

.. math::

    \mu_k \mid \Sigma_k \sim \mathcal N(\mu_P, \Sigma_k / \kappa_P), \qquad
    \Sigma_k \sim \mathcal{W}^{-1}(\nu_P, \Lambda_P),

an inverse-gamma ``IG(nu_P / 2, varsigma_P^2 / 2)`` on each variance for the
spherical and diagonal models, and one prior on the covariance a model
shares (EII, EEI, EEE, E) rather than one per component.
:class:`ConjugatePrior` holds ``(kappa_P, mu_P, nu_P, Lambda_P)``; any slot
left None takes mclust's default (``defaultPrior``), computed from the data:

========== ======================================================================
shrinkage  ``kappa_P = 0.01``
mean       the data's column means
dof        ``d + 2`` (3 in one dimension)
scale      ``var(x) / G^2`` for E and V (one dimension); for the spherical and
           diagonal models the number ``(1/G)^{2/d} sum_j var(x_j) / d``; for
           the ellipsoidal ones the matrix ``(1/G)^{2/d} cov(x)`` (its diagonal
           when there are no more rows than features)
========== ======================================================================

where ``G`` is the number of components and variances divide by ``n - 1``.
mclust's ``defaultPrior`` ignores a ``dof`` given to ``priorControl()``;
gaussmix uses it.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np

from ..validation import finite_array

#: How a model's covariance prior is shaped, by its structure: an
#: inverse-Wishart on a matrix, or inverse-gammas on variances.
FAMILIES = {"full": "ellipsoidal", "shared": "ellipsoidal", "diag": "diagonal", "spherical": "spherical"}

#: ``ConjugatePrior.method``: mclust's M-steps, or the exact MAP for every model.
METHODS = ("mclust", "exact")


@dataclass(frozen=True)
class ConjugatePrior:
    """A conjugate prior on the components' means and covariances (MAP EM).

    Pass it as ``GaussianMixture(prior=...)``; ``prior="default"`` is
    ``ConjugatePrior()``, mclust's ``priorControl()``.

    Parameters
    ----------
    shrinkage : float, default=0.01
        ``kappa_P``: the prior's weight on the mean, in rows. 0 puts no prior
        on the means.
    mean : array-like of shape (n_features,), default=None
        ``mu_P``, the prior mean; None is the data's column means.
    dof : float, default=None
        ``nu_P``, the degrees of freedom; None is ``n_features + 2``.
    scale : float or array-like of shape (n_features, n_features), default=None
        ``Lambda_P``: a matrix for the ellipsoidal models (a number is that
        number times the identity), a number for the spherical, diagonal and
        one-dimensional ones. None is mclust's rule (module docstring).
    method : {"mclust", "exact"}, default="mclust"
        ``"mclust"`` reproduces mclust's M-steps, including where they depart
        from the exact maximum a posteriori (``docs/map-em.md`` lists each
        departure); the four models mclust refuses with a prior (EVE, VEE,
        VVE, EVV) take the exact MAP. ``"exact"`` maximises the penalised
        log-likelihood in every model, so that EM never decreases it.

    Examples
    --------
    >>> from gaussmix import ConjugatePrior, GaussianMixture
    >>> gm = GaussianMixture(3, covariance_type="VVV", prior=ConjugatePrior(shrinkage=0.1))
    """

    shrinkage: float = 0.01
    mean: Any = None
    dof: float | None = None
    scale: Any = None
    method: str = "mclust"

    def __eq__(self, other):
        # Array slots compare by value (a frozen dataclass compares with ==,
        # which is ambiguous for arrays).
        if not isinstance(other, ConjugatePrior):
            return NotImplemented
        return all(_same(getattr(self, f), getattr(other, f))
                   for f in ("shrinkage", "mean", "dof", "scale", "method"))

    __hash__ = None


def _same(a, b):
    if a is None or b is None:
        return a is b
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and bool(np.all(a == b))


@dataclass(frozen=True)
class ResolvedPrior:
    """A prior's values for one model and number of components, all slots filled, float64.

    Attributes
    ----------
    shrinkage : float
    mean : ndarray of shape (n_features,)
    dof : float
    scale : float or ndarray of shape (n_features, n_features)
        A number for the spherical and diagonal families, a matrix for the
        ellipsoidal one.
    family : {"spherical", "diagonal", "ellipsoidal"}
    method : {"mclust", "exact"}
    n_components : int
        The number of components the values are for (mclust's default
        scale depends on it, and its M-steps differ for one component).
    """

    shrinkage: float
    mean: np.ndarray
    dof: float
    scale: Any
    family: str
    method: str
    n_components: int

    def to_dict(self):
        """The values as plain lists and numbers (for a model file)."""
        return {
            "shrinkage": self.shrinkage,
            "mean": self.mean.tolist(),
            "dof": self.dof,
            "scale": np.asarray(self.scale).tolist(),
            "family": self.family,
            "method": self.method,
            "n_components": self.n_components,
        }


def prior_to_json(prior):
    """``prior`` (None, "default" or a ConjugatePrior) as JSON can hold it."""
    if prior is None or isinstance(prior, str):
        return prior
    return {
        "ConjugatePrior": {
            "shrinkage": prior.shrinkage,
            "mean": None if prior.mean is None else np.asarray(prior.mean, dtype=float).tolist(),
            "dof": prior.dof,
            "scale": None if prior.scale is None else np.asarray(prior.scale, dtype=float).tolist(),
            "method": prior.method,
        }
    }


def prior_from_json(value):
    """The inverse of :func:`prior_to_json`; a ValueError for anything else."""
    if value is None or isinstance(value, str):
        return value
    fields = value.get("ConjugatePrior") if isinstance(value, dict) else None
    if not isinstance(fields, dict) or set(fields) != {"shrinkage", "mean", "dof", "scale", "method"}:
        raise ValueError("prior is neither None, 'default' nor a ConjugatePrior's fields")
    return ConjugatePrior(**fields)


def resolved_from_dict(values, model, n_features):
    """A :class:`ResolvedPrior` from :meth:`ResolvedPrior.to_dict`, checked; a ValueError if broken."""
    if not isinstance(values, dict):
        raise ValueError("prior_ is not a mapping")
    try:
        G = values["n_components"]
        given = ConjugatePrior(values["shrinkage"], values["mean"] if values["shrinkage"] else None,
                               values["dof"], values["scale"], values["method"])
    except (KeyError, TypeError):
        raise ValueError("prior_ lacks some of its values") from None
    if not isinstance(G, int) or G < 1 or values.get("family") != FAMILIES[model.structure]:
        raise ValueError("prior_ does not fit the model")
    # Every slot is given, so no default reads the data.
    resolved = resolve(given, model, G, SimpleNamespace(n_features=n_features))
    if not values["shrinkage"]:
        mean = _finite(values["mean"], "mean")
        if mean.shape != (n_features,):
            raise ValueError("prior_'s mean does not have one value per feature")
        resolved = ResolvedPrior(resolved.shrinkage, mean, resolved.dof, resolved.scale,
                                 resolved.family, resolved.method, resolved.n_components)
    return resolved


def as_prior(prior):
    """``None``, ``"default"`` or a :class:`ConjugatePrior` as a ``ConjugatePrior`` (or None)."""
    if prior is None or isinstance(prior, ConjugatePrior):
        return prior
    if isinstance(prior, str) and prior == "default":
        return ConjugatePrior()
    raise ValueError(
        f"prior must be None, 'default' (mclust's priorControl()) or a gaussmix.ConjugatePrior, "
        f"got {prior!r}."
    )


def resolve(prior, model, n_components, moments):
    """Fill ``prior``'s empty slots with mclust's defaults for ``model`` and check them all.

    Parameters
    ----------
    prior : ConjugatePrior
    model : CovarianceModel
    n_components : int
    moments : object
        The data's weighted moments, read only where a default needs them:
        ``mean()``, ``variances()`` and ``covariance()`` (divisor ``n - 1``)
        and ``n_rows()``.

    Returns
    -------
    ResolvedPrior
    """
    if prior.method not in METHODS:
        raise ValueError(f"ConjugatePrior.method must be one of {METHODS}, got {prior.method!r}.")
    family = FAMILIES[model.structure]
    shrinkage = _nonnegative(prior.shrinkage, "shrinkage")
    d = moments.n_features
    if prior.mean is None:
        mean = np.asarray(moments.mean(), dtype=np.float64)
    else:
        if shrinkage == 0.0:
            raise ValueError(
                "ConjugatePrior has a mean but shrinkage=0, so the mean would not be used; "
                "give a positive shrinkage, or leave the mean out."
            )
        mean = _finite(prior.mean, "mean")
        if mean.shape != (d,):
            raise ValueError(
                f"ConjugatePrior.mean must hold one value per feature ({d}), "
                f"got shape {mean.shape}."
            )
    dof = float(d + 2) if prior.dof is None else _positive(prior.dof, "dof")
    if family == "ellipsoidal" and dof <= d - 1:
        raise ValueError(
            f"ConjugatePrior.dof must exceed n_features - 1 = {d - 1} for an inverse-Wishart prior "
            f"on a {d} x {d} covariance, got {dof}."
        )
    scale = _scale(prior.scale, model, family, n_components, d, moments)
    return ResolvedPrior(shrinkage, mean, dof, scale, family, prior.method, int(n_components))


def _scale(given, model, family, G, d, moments):
    if given is None:
        if model.univariate:
            return float(moments.variances()[0]) / G**2
        factor = (1.0 / G) ** (2.0 / d)
        if family != "ellipsoidal":
            return factor * float(np.sum(moments.variances())) / d
        if moments.n_rows() > d:
            return factor * np.asarray(moments.covariance(), dtype=np.float64)
        return factor * np.diag(moments.variances())
    if family == "ellipsoidal":
        if np.ndim(given) == 0:
            return _positive(given, "scale") * np.eye(d)
        scale = _finite(given, "scale")
        if scale.shape != (d, d):
            raise ValueError(
                f"ConjugatePrior.scale must be a number or a {d} x {d} matrix for model "
                f"{model.code!r}, got shape {scale.shape}."
            )
        if not np.allclose(scale, scale.T) or np.linalg.eigvalsh(scale).min() <= 0.0:
            raise ValueError("ConjugatePrior.scale must be symmetric and positive definite.")
        return (scale + scale.T) / 2.0
    if np.ndim(given) != 0:
        raise ValueError(
            f"ConjugatePrior.scale must be a single positive number for the {family} model "
            f"{model.code!r} (the prior's variance scale), got shape {np.shape(given)}."
        )
    return _positive(given, "scale")


def _finite(value, name):
    return finite_array(value, f"ConjugatePrior.{name}")


def _number(value, name):
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not np.isfinite(value):
        raise ValueError(f"ConjugatePrior.{name} must be a finite number, got {value!r}.")
    return float(value)


def _nonnegative(value, name):
    value = 0.0 if value is None else _number(value, name)
    if value < 0.0:
        raise ValueError(f"ConjugatePrior.{name} must be non-negative, got {value}.")
    return value


def _positive(value, name):
    value = _number(value, name)
    if value <= 0.0:
        raise ValueError(f"ConjugatePrior.{name} must be positive, got {value}.")
    return value


__all__ = ["ConjugatePrior", "ResolvedPrior", "as_prior", "resolve", "FAMILIES", "METHODS"]
