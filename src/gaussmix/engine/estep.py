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

This module holds the definition: :func:`weighted_log_prob_reference` and
:func:`log_resp_from_weighted`, which the kernels of ``engine.kernels`` must
match, and the parameters an E-step takes (:class:`EStepInputs` from an
updater, :class:`EStepParams` in a chunk's namespace and dtype).

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

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from array_api_compat import array_namespace, is_numpy_namespace
from array_api_compat import device as array_device

from ..namespaces import dtype_name
from ..structures import STRUCTURES


@dataclass
class EStepInputs:
    r"""What an updater hands the E-step: host arrays in float64.

    The E-step of every kernel computes, for row ``x`` and component ``k``,

    .. math::

        \ell_k(x) = c_k - \tfrac12 \lVert (x - \mu_k) U_k \rVert^2 ,

    and from ``l_k`` the log-sum-exp and the responsibilities. The updater
    decides what ``mu_k``, ``U_k`` and the log-normaliser ``c_k`` are:
    maximum likelihood gives ``c_k = log pi_k + log det U_k - d/2 log 2 pi``;
    a variational posterior gives expected log-weights and log-determinants.

    Attributes
    ----------
    means : ndarray of shape (n_components, n_features)
    prec_chol : ndarray
        Precision factors ``U_k`` in the layout of ``structure``.
    log_norm : ndarray of shape (n_components,)
        ``c_k``.
    structure : str
        A key of ``structures.STRUCTURES``.
    centre : ndarray of shape (n_features,)
        A point fixed for the whole pass (the mixture's mean), about which
        kernels may expand their products: no outlying row can move it.
    missing : bool
        Whether NaN in a row means a missing value, to be marginalised
        (``engine.missing``); the updater must then be one whose ``l_k`` is
        ``log pi_k + log N(x | mu_k, Sigma_k)`` (maximum likelihood, MAP).
    cannot_marginalize : str or None
        Why these inputs cannot marginalise a missing value (a component
        that is not a Gaussian, such as a uniform noise component), said as
        a ``ValueError`` when a row holding NaN reaches them; None if they can.
    """

    means: Any
    prec_chol: Any
    log_norm: Any
    structure: str
    centre: Any
    missing: bool = False
    cannot_marginalize: str | None = None

    @property
    def n_components(self):
        return self.means.shape[0]

    @property
    def n_features(self):
        return self.means.shape[1]

    def for_chunk(self, xp, dtype, device=None):
        """These inputs in a chunk's namespace, dtype and device (:class:`EStepParams`)."""
        return EStepParams.from_host(self, xp, dtype, device)

    def for_rows(self, X):
        """:meth:`for_chunk` for the namespace, dtype and device of the rows ``X``."""
        if type(X) is np.ndarray:  # without array_api_compat's inspection: 3 us of a small iteration
            return self.for_chunk(_numpy_namespace(), X.dtype)
        return self.for_chunk(array_namespace(X), X.dtype, array_device(X))


@functools.lru_cache(maxsize=1)
def _numpy_namespace():
    """The array-API namespace of NumPy arrays."""
    return array_namespace(np.empty(0))


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
    log_norm : array of shape (n_components,)
        The log-normalisers of :class:`EStepInputs`.
    structure : str
        Name of the precision structure (a key of ``STRUCTURES``).
    precision_diag : array of shape (n_components, n_features) or None
        The precisions as diagonals, for diagonal and spherical structures;
        None for matrix structures.
    host : EStepInputs
        The float64 host inputs these were made from.
    precision_diag_host : ndarray or None
        ``precision_diag`` in float64 on the host.
    kernel : Kernel or None
        The kernel chosen for this pass (``engine.passes``), and ``plan``
        whatever that kernel prepared from these parameters once per pass.
    missing : bool
        As in :class:`EStepInputs`.
    """

    means: Any
    means_residual: Any
    prec_chol: Any
    log_norm: Any
    structure: str
    precision_diag: Any = None
    host: Any = None
    precision_diag_host: Any = None
    kernel: Any = None
    plan: Any = None
    missing: bool = False

    @classmethod
    def from_host(cls, inputs, xp, dtype, device=None):
        """Convert float64 host inputs to the chunk's namespace, dtype and device."""
        n_features = inputs.n_features
        struct = STRUCTURES[inputs.structure]
        means = np.asarray(inputs.means, dtype=np.float64)
        host_dtype = np.float32 if dtype_name(dtype) == "float32" else np.float64
        if is_numpy_namespace(xp):
            asarray = np.asarray
        else:
            def asarray(a, dtype):
                return xp.asarray(np.ascontiguousarray(a), dtype=dtype, device=device)
        if host_dtype == np.float64:  # nothing to round: no copies
            rounded, residual = means, np.zeros(means.shape)  # zeros_like costs 1 us more
        else:
            rounded = means.astype(host_dtype).astype(np.float64)
            residual = means - rounded
        prec_chol = np.asarray(inputs.prec_chol, dtype=np.float64)
        diag = struct.precision_diagonal(prec_chol, n_features)
        # NumPy's own asarray for NumPy chunks: the array-API wrapper's costs
        # a few microseconds a call, four calls a pass.
        return cls(
            means=asarray(rounded, dtype=dtype),
            means_residual=asarray(residual, dtype=dtype),
            prec_chol=asarray(prec_chol, dtype=dtype),
            log_norm=asarray(inputs.log_norm, dtype=dtype),
            structure=inputs.structure,
            precision_diag=None if diag is None else asarray(diag, dtype=dtype),
            host=inputs,
            precision_diag_host=diag,
            missing=inputs.missing,
        )


def log_normalisers(weights, prec_chol, structure, n_features):
    """``log pi_k + log det U_k - d/2 log(2 pi)``: maximum likelihood's ``c_k``."""
    n_components = np.shape(weights)[0]
    weights = np.asarray(weights, dtype=np.float64)
    if weights.all():  # no zero: a plain log (the forms below cost 2-4 us more a pass)
        log_weights = np.log(weights)
    else:
        # log 0 = -inf, without the divide warning; a NaN or negative weight
        # still gives NaN, and the latter its warning.
        log_weights = np.log(weights, out=np.full(n_components, -np.inf), where=weights != 0)
    return (
        log_weights
        + STRUCTURES[structure].log_det_prec_chol(prec_chol, n_components, n_features)
        - 0.5 * n_features * math.log(2.0 * math.pi)
    )


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
