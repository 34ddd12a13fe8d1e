r"""The E-step on one chunk of rows: log-densities, log-sum-exp, responsibilities.

With mixture weights ``pi_k``, means ``mu_k`` and precision Cholesky factors
``U_k`` (``Sigma_k^{-1} = U_k U_k^T``), the log-density of row ``x`` under
component ``k`` is

.. math::

    \log \mathcal N(x \mid \mu_k, \Sigma_k)
      = -\tfrac12 \big(d \log 2\pi + \lVert (x - \mu_k) U_k \rVert^2\big)
        + \log\det U_k ,

the log-likelihood of the row is the log-sum-exp over components,

.. math::

    \log p(x) = \log \sum_k \pi_k \mathcal N(x \mid \mu_k, \Sigma_k),

and the responsibilities are ``r_k(x) = pi_k N(x | mu_k, Sigma_k) / p(x)``.

The functions here are written against the array API standard: they run
unchanged on NumPy, PyTorch, CuPy or ``array_api_strict`` arrays and compute
in the chunk's own dtype (float32 stays float32). ``x - mu_k`` is formed
before any product, so data far from the origin do not cancel, and it is
formed as ``(x - c_k) - (mu_k - c_k)`` with ``c_k`` the mean rounded to the
chunk's dtype: in float32, ``mu_k`` far from the origin would be rounded (to
1/16 at 1e6), while ``x - c_k`` is exact for rows near the component and
``mu_k - c_k`` carries the rest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from array_api_compat import array_namespace

from ._structures import STRUCTURES


@dataclass
class EStepParams:
    """The parameters one E-step needs, in the chunk's namespace and dtype.

    Attributes
    ----------
    means : array of shape (n_components, n_features)
        The means rounded to the chunk's dtype, ``c_k``.
    means_residual : array of shape (n_components, n_features)
        ``mu_k - c_k``: what the rounding lost (zero in float64).
    prec_chol : array
        Precision Cholesky factors, in the layout of ``structure``.
    precision_diag : array of shape (n_components, n_features) or None
        The precisions as diagonals, for diagonal and spherical structures
        (the NumPy kernels use them); None for matrix structures.
    log_norm : array of shape (n_components,)
        ``log pi_k + log det U_k - d/2 log(2 pi)``.
    structure : str
        Name of the precision structure (a key of ``STRUCTURES``).
    """

    means: Any
    means_residual: Any
    prec_chol: Any
    log_norm: Any
    structure: str
    precision_diag: Any = None
    #: float64 host copies of the weights, means, ``log_norm``, ``prec_chol`` and
    #: ``precision_diag``, and the compiled kernels' cached ``_fast.Plan``.
    weights_host: Any = None
    means_host: Any = None
    log_norm_host: Any = None
    prec_chol_host: Any = None
    precision_diag_host: Any = None
    plan: Any = None

    @classmethod
    def from_host(cls, weights, means, prec_chol, structure, xp, dtype):
        """Convert float64 host parameters to the chunk namespace and dtype."""
        n_components, n_features = np.shape(means)
        struct = STRUCTURES[structure]
        with np.errstate(divide="ignore"):
            log_weights = np.log(np.asarray(weights, dtype=np.float64))
        log_norm = (
            log_weights
            + struct.log_det_prec_chol(prec_chol, n_components, n_features)
            - 0.5 * n_features * math.log(2.0 * math.pi)
        )
        means = np.asarray(means, dtype=np.float64)
        host_dtype = np.float32 if dtype == xp.float32 else np.float64
        rounded = means.astype(host_dtype).astype(np.float64)
        prec_chol = np.asarray(prec_chol, dtype=np.float64)
        diag = struct.precision_diagonal(prec_chol, n_features)
        return cls(
            means=xp.asarray(rounded, dtype=dtype),
            means_residual=xp.asarray(means - rounded, dtype=dtype),
            prec_chol=xp.asarray(prec_chol, dtype=dtype),
            log_norm=xp.asarray(log_norm, dtype=dtype),
            structure=structure,
            precision_diag=None if diag is None else xp.asarray(diag, dtype=dtype),
            weights_host=np.asarray(weights, dtype=np.float64),
            means_host=means,
            log_norm_host=log_norm,
            prec_chol_host=prec_chol,
            precision_diag_host=diag,
        )


def weighted_log_prob(X, params):
    """``log pi_k + log N(x_i | mu_k, Sigma_k)`` for a chunk, shape (n_rows, K).

    NumPy chunks take the kernels of ``_kernels`` (matrix products for
    float64 diagonal and spherical precisions, a per-component loop
    otherwise); other namespaces, and the tests' reference,
    :func:`weighted_log_prob_reference`.
    """
    from . import _fast

    if _fast.supports(X):
        return _fast.weighted_log_prob(X, params)
    if isinstance(X, np.ndarray):
        from ._kernels import sq_distances_by_component, sq_distances_diagonal

        precision = params.precision_diag  # computed once per pass, not per chunk
        if precision is not None and X.dtype == np.float64:
            # float64: means_residual is zero, means are the exact means.
            sq = sq_distances_diagonal(X, params.means, precision)
        else:
            sq = sq_distances_by_component(
                X, params.means, params.means_residual, params.prec_chol,
                precision is None, precision,
            )
        return -0.5 * sq + params.log_norm
    return weighted_log_prob_reference(X, params)


def weighted_log_prob_reference(X, params):
    """``log pi_k + log N(x_i | mu_k, Sigma_k)`` for a chunk (array API reference)."""
    xp = array_namespace(X)
    diff = xp.expand_dims(X, axis=0) - xp.expand_dims(params.means, axis=1)  # (K, n, d)
    diff = diff - xp.expand_dims(params.means_residual, axis=1)
    sq = STRUCTURES[params.structure].whiten(diff, params.prec_chol, xp)  # (K, n)
    return xp.matrix_transpose(-0.5 * sq) + params.log_norm


def log_resp_from_weighted(wlp):
    """Log-sum-exp over components: returns ``(log p(x_i), log r_ik)``."""
    xp = array_namespace(wlp)
    top = xp.max(wlp, axis=1, keepdims=True)
    # A row whose every component density underflowed to 0 has top = -inf;
    # shifting by 0 instead keeps the arithmetic free of inf - inf.
    finite = xp.isfinite(top)
    top = xp.where(finite, top, xp.zeros_like(top))
    total = xp.sum(xp.exp(wlp - top), axis=1)
    # log(0) = -inf is the right log-likelihood for such a row; its
    # responsibilities are then undefined, and shared out evenly instead.
    log_prob_norm = xp.log(xp.where(total > 0, total, xp.zeros_like(total))) + top[:, 0]
    log_resp = wlp - xp.expand_dims(log_prob_norm, axis=1)
    uniform = xp.full_like(log_resp, -math.log(wlp.shape[1]))
    log_resp = xp.where(finite & (xp.expand_dims(total, axis=1) > 0), log_resp, uniform)
    return log_prob_norm, log_resp


def density_and_resp(wlp):
    """``(log p(x_i), r_ik)`` from ``wlp``; NumPy arrays in one compiled pass."""
    from . import _fast

    if _fast.AVAILABLE and isinstance(wlp, np.ndarray):
        resp, log_prob_norm, _ = _fast.density_and_resp(wlp)
        return log_prob_norm, resp
    xp = array_namespace(wlp)
    log_prob_norm, log_resp = log_resp_from_weighted(wlp)
    return log_prob_norm, xp.exp(log_resp)


def e_step(X, params):
    """E-step on one chunk.

    Parameters
    ----------
    X : array of shape (n_rows, n_features)
    params : EStepParams

    Returns
    -------
    log_prob_norm : array of shape (n_rows,)
        ``log p(x_i)``, the log-likelihood of each row.
    resp : array of shape (n_rows, n_components)
        Responsibilities ``r_ik``; each row sums to 1.
    """
    from . import _fast

    if _fast.supports(X):
        return _fast.e_step(X, params)
    xp = array_namespace(X)
    log_prob_norm, log_resp = log_resp_from_weighted(weighted_log_prob(X, params))
    return log_prob_norm, xp.exp(log_resp)


def log_density(X, params):
    """``log p(x_i)`` of one chunk (:func:`e_step` without the responsibilities)."""
    from . import _fast

    if _fast.supports(X):
        return _fast.e_step(X, params, with_resp=False)[0]
    return log_resp_from_weighted(weighted_log_prob(X, params))[0]
