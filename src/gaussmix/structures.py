"""Precision structures: how a mixture's covariances are stored and used.

Every covariance model stores its covariances in one of four *structures*:

========== =================== ==============================================
structure  covariance shape    meaning
========== =================== ==============================================
full       (K, d, d)           one full matrix per component
shared     (d, d)              one full matrix shared by all components
diag       (K, d)              one diagonal per component
spherical  (K,)                one variance per component
========== =================== ==============================================

These are scikit-learn's ``full``, ``tied``, ``diag`` and ``spherical`` shapes.
Everything that depends on the storage lives here: the Cholesky factor of the
precision that the E-step uses (host side, float64), its log-determinant, the
whitening step of the E-step (array API, any namespace), expansion to (K, d, d)
and sampling. Models and the EM driver never branch on a structure's name;
they look the structure up in :data:`STRUCTURES`.

The Cholesky convention is scikit-learn's: ``prec_chol`` is upper triangular
with ``precision = prec_chol @ prec_chol.T``, so that the squared Mahalanobis
distance is ``||(x - mu) @ prec_chol||^2``.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import linalg

from . import compiled
from .compiled import jit
from .exceptions import ILL_DEFINED, DegenerateCovarianceError

#: The smallest positive normal float64 (``np.finfo`` costs 1 us a call).
_TINY = float(np.finfo(np.float64).tiny)

_SINGULAR_ADVICE = (
    "increase reg_covar, reduce n_components, remove duplicated or constant "
    "features, or scale the data"
)


def _check_positive(values, what):
    values = np.asarray(values)
    # Two reductions (a NaN fails the first): cheaper than isfinite's array and two more.
    if values.size and not (values.min() > 0.0 and values.max() < np.inf):
        raise DegenerateCovarianceError(
            f"{ILL_DEFINED} A {what} is not positive (a component collapsed onto a point or a "
            f"constant feature); {_SINGULAR_ADVICE}."
        )


@functools.lru_cache(maxsize=64)
def _identity_and_lower_mask(n):
    """The n x n identity and the mask of its lower triangle (diagonal included), read-only."""
    eye, below = np.eye(n), np.tri(n, dtype=bool)
    eye.flags.writeable = below.flags.writeable = False
    return eye, below


#: Up to this d the precision factors come from one compiled call; past it
#: from LAPACK, whose blocked factorisations then win.
COMPILED_FACTOR_MAX_D = 32


@jit()
def upper_inverse_factors(cov, upper):
    """``U_k = L_k^-T`` for ``cov_k = L_k L_k^T`` (Cholesky), every k; False unless all are positive definite.

    Factorises the lower triangle of each ``cov_k``, as LAPACK's ``potrf``
    does; a NaN or infinity anywhere in ``cov_k`` fails it too.
    """
    K, d = cov.shape[0], cov.shape[1]
    L = np.empty((d, d))
    for k in range(K):
        for i in range(d):
            for j in range(d):
                if not np.isfinite(cov[k, i, j]):
                    return False
        for j in range(d):
            s = cov[k, j, j]
            for m in range(j):
                s -= L[j, m] * L[j, m]
            if not (s > 0.0 and s < np.inf):
                return False
            L[j, j] = np.sqrt(s)
            for i in range(j + 1, d):
                s = cov[k, i, j]
                for m in range(j):
                    s -= L[i, m] * L[j, m]
                L[i, j] = s / L[j, j]
                if not np.isfinite(L[i, j]):
                    return False
        # Column j of L^-1 by forward substitution, stored as row j of U = L^-T.
        for j in range(d):
            for i in range(j):
                upper[k, j, i] = 0.0
            upper[k, j, j] = 1.0 / L[j, j]
            for i in range(j + 1, d):
                s = 0.0
                for m in range(j, i):
                    s -= L[i, m] * upper[k, j, m]
                upper[k, j, i] = s / L[i, i]
    return True


def _chol_upper_inv(cov, component=None):
    """Upper-triangular factor U of inv(cov) with inv(cov) = U @ U.T."""
    try:
        cov_chol = linalg.cholesky(cov, lower=True)
    except (linalg.LinAlgError, ValueError):
        where = "" if component is None else f" of component {component}"
        raise DegenerateCovarianceError(
            f"{ILL_DEFINED} The covariance matrix{where} is singular or not positive definite "
            f"(a component collapsed onto a point, a line or a constant feature); "
            f"{_SINGULAR_ADVICE}."
        ) from None
    d = cov.shape[0]
    return linalg.solve_triangular(cov_chol, np.eye(d), lower=True).T


class Structure:
    """Base class: one storage layout of the mixture's covariances."""

    name: str
    #: True when covariances are stored as matrices (full or shared).
    matrix = False

    # -- host side, float64 ---------------------------------------------------
    def prec_chol_from_cov(self, cov):  # pragma: no cover - abstract
        raise NotImplementedError

    def precision_from_prec_chol(self, prec_chol):  # pragma: no cover
        raise NotImplementedError

    def cov_from_precision(self, precision):  # pragma: no cover
        raise NotImplementedError

    def log_det_prec_chol(self, prec_chol, n_components, n_features):
        """log det(prec_chol_k) = 0.5 log det(precision_k), shape (K,)."""
        raise NotImplementedError  # pragma: no cover

    def shape(self, n_components, n_features):  # pragma: no cover
        raise NotImplementedError

    def to_full(self, arr, n_components, n_features):  # pragma: no cover
        raise NotImplementedError

    def from_full(self, arr):  # pragma: no cover
        raise NotImplementedError

    def keep_components(self, new, old, mask):
        """Copy ``old``'s components where ``mask`` is True into ``new``."""
        new = np.array(new, copy=True)
        new[mask] = old[mask]
        return new

    def singular(self, cov):
        """Which components' covariances cannot be factorised, as a bool mask of shape (K,)."""
        values = np.asarray(cov)
        return ~np.isfinite(values).all(axis=tuple(range(1, values.ndim))) | (values <= 0).reshape(
            len(values), -1).any(axis=1)

    def collapsed(self, scatter, nk, reg_covar):
        """Which scatters (full (m, d, d) or diagonal (m, d)) have collapsed.

        Collapsed means the covariance estimate ``S / n`` has a direction of
        variance at most ``reg_covar`` (or below 1e-10 of its largest, when
        ``reg_covar`` is 0): only the regularisation keeps it invertible.
        """
        low, high = self._extremes(np.asarray(scatter))
        n = np.maximum(np.asarray(nk, dtype=float), _TINY)
        return low / n <= np.maximum(reg_covar, 1e-10 * high / n)

    def _extremes(self, scatter):
        if scatter.ndim == 3:
            from .models.eigen import extreme_eigenvalues  # here: the models import this module

            return extreme_eigenvalues(scatter)  # Jacobi's: LAPACK's to a few ulps of the largest
        return scatter.min(axis=1), scatter.max(axis=1)

    def draw(self, rng, mean, cov_k, n):
        """``n`` rows from N(mean, component covariance ``cov_k``), as scikit-learn draws."""
        return rng.multivariate_normal(mean, cov_k, int(n))

    def precision_diagonal(self, prec_chol, n_features):
        """The precisions as (K, d) diagonals, or None for matrix storage."""
        return None

    # -- chunk side, array API ------------------------------------------------
    def whiten(self, diff, prec_chol, xp):  # pragma: no cover
        """Return the squared Mahalanobis distances from diff (K, n, d): (K, n)."""
        raise NotImplementedError


class Full(Structure):
    name = "full"
    matrix = True

    def shape(self, n_components, n_features):
        return (n_components, n_features, n_features)

    def prec_chol_from_cov(self, cov):
        # One batched factorisation: per-component SciPy calls cost 60 us
        # each, which at small N and d is a third of an EM iteration. For
        # small matrices one compiled call (1 us against NumPy's 12 at K=3,
        # d=4): Cholesky by columns, then the factor's inverse by forward
        # substitution, exact to rounding as LAPACK's.
        if compiled.AVAILABLE and cov.ndim == 3 and cov.shape[-1] <= COMPILED_FACTOR_MAX_D:
            upper = np.empty(cov.shape)
            if upper_inverse_factors(np.ascontiguousarray(cov, dtype=np.float64), upper):
                return upper
        elif np.isfinite(cov).all():
            try:
                lower = np.linalg.cholesky(cov)
            except np.linalg.LinAlgError:
                pass
            else:
                if (np.diagonal(lower, axis1=1, axis2=2) > 0).all():
                    # solve broadcasts the identity over the stack; the cached
                    # identity and mask save 25 us an EM iteration at d=4, K=3.
                    eye, below = _identity_and_lower_mask(cov.shape[-1])
                    return np.swapaxes(np.where(below, np.linalg.solve(lower, eye), 0.0), 1, 2)
        # The slow path names the component that failed.
        return np.stack([_chol_upper_inv(c, k) for k, c in enumerate(cov)])

    def precision_from_prec_chol(self, prec_chol):
        return prec_chol @ np.swapaxes(prec_chol, -1, -2)

    def singular(self, cov):
        bad = np.zeros(len(cov), dtype=bool)
        for k, c in enumerate(cov):
            try:
                bad[k] = not np.all(np.isfinite(c)) or not np.all(np.diag(np.linalg.cholesky(c)) > 0)
            except np.linalg.LinAlgError:
                bad[k] = True
        return bad

    def cov_from_precision(self, precision):
        return np.linalg.inv(np.asarray(precision))  # the stack at once (5 us a component apart)

    def log_det_prec_chol(self, prec_chol, n_components, n_features):
        # The array's own methods: np.diagonal's and np.sum's wrappers cost 1.5 us a pass.
        return np.log(np.asarray(prec_chol).diagonal(0, -2, -1)).sum(axis=-1)

    def to_full(self, arr, n_components, n_features):
        return np.asarray(arr)

    def from_full(self, arr):
        return np.asarray(arr)

    def whiten(self, diff, prec_chol, xp):
        y = xp.matmul(diff, prec_chol)
        return xp.sum(y * y, axis=-1)


class Shared(Full):
    name = "shared"

    def shape(self, n_components, n_features):
        return (n_features, n_features)

    def prec_chol_from_cov(self, cov):
        if compiled.AVAILABLE and cov.shape[-1] <= COMPILED_FACTOR_MAX_D:  # as Full's: 1 us against SciPy's 14
            upper = np.empty((1,) + cov.shape)
            if upper_inverse_factors(np.ascontiguousarray(cov, dtype=np.float64)[None], upper):
                return upper[0]
        return _chol_upper_inv(cov)

    def cov_from_precision(self, precision):
        return np.linalg.inv(precision)

    def log_det_prec_chol(self, prec_chol, n_components, n_features):
        value = np.sum(np.log(np.diag(prec_chol)))
        return np.full(n_components, value)

    def to_full(self, arr, n_components, n_features):
        return np.broadcast_to(arr, (n_components, n_features, n_features)).copy()

    def from_full(self, arr):
        arr = np.asarray(arr)
        if not np.allclose(arr, arr[0], rtol=1e-10, atol=0.0):
            raise ValueError(
                "this covariance model shares one matrix between all components, "
                "but the (n_components, n_features, n_features) array given differs "
                "between components; pass a single (n_features, n_features) matrix."
            )
        return arr[0]

    def keep_components(self, new, old, mask):
        # Nothing is per-component: an empty component simply adds no scatter.
        return new

    def singular(self, cov):
        return super().singular(np.asarray(cov)[None])

class _Variances(Structure):
    """Covariances stored as variances: the precision factor is 1 / sqrt."""

    def draw(self, rng, mean, cov_k, n):
        return mean + rng.standard_normal(size=(int(n), len(mean))) * np.sqrt(cov_k)

    def prec_chol_from_cov(self, cov):
        _check_positive(cov, f"{self.name} variance")
        return 1.0 / np.sqrt(cov)

    def precision_from_prec_chol(self, prec_chol):
        return prec_chol**2

    def cov_from_precision(self, precision):
        return 1.0 / precision


class Diag(_Variances):
    name = "diag"

    def precision_diagonal(self, prec_chol, n_features):
        return prec_chol**2

    def shape(self, n_components, n_features):
        return (n_components, n_features)

    def log_det_prec_chol(self, prec_chol, n_components, n_features):
        return np.sum(np.log(prec_chol), axis=1)

    def to_full(self, arr, n_components, n_features):
        arr = np.asarray(arr)
        out = np.zeros((n_components, n_features, n_features))
        idx = np.arange(n_features)
        out[:, idx, idx] = arr
        return out

    def from_full(self, arr):
        arr = np.asarray(arr)
        diag = np.diagonal(arr, axis1=-2, axis2=-1).copy()
        off = arr - self.to_full(diag, arr.shape[0], arr.shape[1])
        if np.any(off != 0.0):
            raise ValueError(
                "this covariance model is diagonal, but the matrices given have "
                "off-diagonal entries; pass an (n_components, n_features) array of "
                "variances."
            )
        return diag

    def whiten(self, diff, prec_chol, xp):
        y = diff * xp.expand_dims(prec_chol, axis=1)
        return xp.sum(y * y, axis=-1)


class Spherical(_Variances):
    name = "spherical"

    def precision_diagonal(self, prec_chol, n_features):
        return np.repeat((prec_chol**2)[:, None], n_features, axis=1)

    def _extremes(self, scatter):
        # One variance per component: judged on the mean over features (the
        # sum over their count, as ndarray.mean makes it, without its checks).
        scatter = np.asarray(scatter).reshape(len(scatter), -1)
        mean = scatter.sum(axis=1) / scatter.shape[1]
        return mean, mean

    def shape(self, n_components, n_features):
        return (n_components,)

    def log_det_prec_chol(self, prec_chol, n_components, n_features):
        return n_features * np.log(prec_chol)

    def to_full(self, arr, n_components, n_features):
        arr = np.asarray(arr)
        return arr[:, None, None] * np.eye(n_features)[None, :, :]

    def from_full(self, arr):
        arr = np.asarray(arr)
        values = arr[:, 0, 0].copy()
        if not np.allclose(arr, self.to_full(values, arr.shape[0], arr.shape[1]),
                           rtol=1e-10, atol=0.0):
            raise ValueError(
                "this covariance model is spherical, but the matrices given are "
                "not multiples of the identity; pass an (n_components,) array."
            )
        return values

    def whiten(self, diff, prec_chol, xp):
        scale = xp.expand_dims(prec_chol * prec_chol, axis=1)
        return xp.sum(diff * diff, axis=-1) * scale


#: The structures by name; models name theirs in ``CovarianceModel.structure``.
STRUCTURES = {s.name: s for s in (Full(), Shared(), Diag(), Spherical())}
