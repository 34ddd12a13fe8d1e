r"""mclust's rule that rejects a near-singular fit, applied to each cell of a selection.

mclust's EM (the Fortran ``me*`` routines behind ``mclustBIC``) stops with
an error, and the cell gets NA, when a covariance is close to singular
relative to machine precision. For the models with full covariances the
test is, on the upper Cholesky factor ``U_k`` of each ``Sigma_k``,

.. math::

    \min_k \frac{\min_j |U_{k,jj}|}{1 + \max_j |U_{k,jj}|} \le \sqrt{\epsilon}
    \approx 1.49 \times 10^{-8},

with ``epsilon`` the machine precision (``emControl()$eps``, whose square
root the routines use). For diagonal and spherical models mclust tests the
variances themselves against ``epsilon``; as ``|U_{k,jj}|`` is then a
standard deviation, the rule above asks nearly the same of them
(``sigma^2 <= 2.2e-16``, tightened by the ``1 +`` for large scales), so one
rule serves every model. The ``1 +`` makes it depend on the data's scale,
as mclust's does: it is kept so that our choices are mclust's.

For VVV, EVE and VVE mclust also needs each component's scatter ``W_k``
to be non-singular (its EVE and VVE routines test the eigenvalues of
``W_k``; VEE and EVV do not). mclust factors ``W_k`` from the weighted rows (a QR
decomposition), so an exactly singular one (a component on no more rows
than features) gives a pivot at rounding level, ``eps ||x||``; the scatter
matrix the EM engine accumulates squares that to ``eps ||x||^2``, whose
square root lies near the bound itself. So these models are also tested on
``U_k`` from a QR decomposition of the rows ``sqrt(w_i r_ik) (x_i - x̄_k)``,
as mclust forms it, when neither ``reg_covar`` nor a prior moves the
covariances away from that scatter.

mclust checks after every M-step; ``select`` checks the first one (the
start: a partition that puts fewer rows than features in a component fails
there, as in mclust) and the final fit. The one
-component fits of mclust (``mvn*``) fail only on an exactly singular
covariance, so the rule is applied from two components up, as there.
Without the rule such a fit, whose likelihood grows without bound as a
component shrinks onto a few rows, can win the selection (setosa's VVE,4 in
the iris data, the "Overt" class of the diabetes data with VVV,4).
"""

from __future__ import annotations

import math

import numpy as np
from array_api_compat import array_namespace, is_numpy_namespace
from array_api_compat import device as _device

from .. import compiled
from ..models import get_model
from ..namespaces import to_host
from ..structures import STRUCTURES
from .factors import cholesky_rcond_stack, scatter_rcond_rows

#: ``sqrt(.Machine$double.eps)``: the bound of mclust's test.
MCLUST_RCOND = math.sqrt(np.finfo(np.float64).eps)


def cholesky_rcond(covariances):
    """``min_j |U_jj| / (1 + max_j |U_jj|)`` of each (d, d) covariance, ``U`` its Cholesky factor.

    A covariance that is not numerically positive definite gives 0.
    Compiled where Numba is (``selection.factors``), else NumPy's.
    """
    covariances = np.asarray(covariances, dtype=np.float64)
    if compiled.AVAILABLE:
        out = np.empty(len(covariances))
        cholesky_rcond_stack(np.ascontiguousarray(covariances), out)
        return out
    try:  # all at once (one call per component cost 4 us each, twice a cell of select)
        diag = np.abs(np.diagonal(np.linalg.cholesky(covariances), axis1=1, axis2=2))
    except np.linalg.LinAlgError:
        pass
    else:
        # A NaN factor (a NaN covariance) is not positive definite either
        # (np.where, not np.nan_to_num: a third of its time on 2-9 values).
        rcond = diag.min(axis=1) / (1.0 + diag.max(axis=1))
        return np.where(np.isnan(rcond), 0.0, rcond)
    out = np.zeros(len(covariances))
    for k, cov in enumerate(covariances):
        try:
            diag = np.abs(np.diag(np.linalg.cholesky(cov)))
        except np.linalg.LinAlgError:
            continue
        out[k] = diag.min() / (1.0 + diag.max())
    return np.where(np.isnan(out), 0.0, out)


#: Models whose M-step needs each component's own scatter to be non-singular.
OWN_SCATTER_MODELS = frozenset({"VVV", "EVE", "VVE"})


def scatter_rcond(X, resp, sample_weight=None):
    """The rule's value for each component's own covariance ``W_k / n_k``, from its rows.

    ``U_k`` is the triangular factor of a QR decomposition of the rows
    ``sqrt(w_i r_ik) (x_i - x̄_k) / sqrt(n_k)``, so that ``U_k^T U_k = W_k / n_k``
    without forming ``W_k``. Rows holding NaN are left out. X may be an array
    of any array-API library (which holds no NaN): the work stays in its
    namespace, and d values per component cross to the host. NumPy rows
    are factored compiled where Numba is (``selection.factors``).
    """
    if isinstance(X, np.ndarray):
        complete = ~np.isnan(X).any(axis=1)
        if not complete.all():  # X is not copied where nothing is missing
            X, resp = X[complete], np.asarray(resp)[complete]
            if sample_weight is not None:
                sample_weight = np.asarray(sample_weight)[complete]
        if compiled.AVAILABLE:  # NumPy's own calls: array_api_compat's dispatch took a third of this
            wr = np.asarray(resp, dtype=np.float64)
            if sample_weight is not None:
                wr = wr * np.asarray(sample_weight, dtype=np.float64)[:, None]
            out = np.full(wr.shape[1], np.inf)
            scatter_rcond_rows(np.ascontiguousarray(X, dtype=np.float64), np.ascontiguousarray(wr),
                               wr.sum(axis=0), out)
            return out
    xp = array_namespace(X)
    X = xp.astype(X, xp.float64, copy=False)
    wr = xp.astype(resp, xp.float64, copy=False)
    if sample_weight is not None:
        wr = wr * xp.astype(sample_weight, xp.float64, copy=False)[:, None]
    n, d = X.shape
    K = wr.shape[1]
    nk = to_host(xp.sum(wr, axis=0), np.float64)
    out = np.full(K, np.inf)
    live = [k for k in range(K) if nk[k] > 0]
    if n < d:  # fewer rows than features: R is short, exactly singular
        out[live] = 0.0
        return out
    # Components a group at a time, one stacked QR each (one QR and its
    # array calls per component took 580 us at K=9 on 145 rows, the stack
    # 210-260 us); a group's rows stay within SCATTER_GROUP_VALUES, so large
    # data go one component at a time.
    group = max(1, SCATTER_GROUP_VALUES // max(1, n * d))
    for first in range(0, len(live), group):
        ks = live[first:first + group]
        index = xp.asarray(ks, device=_device(X))
        w = xp.permute_dims(xp.take(wr, index, axis=1), (1, 0))  # (group, n)
        n_k = xp.asarray(nk[ks], dtype=xp.float64, device=_device(X))[:, None]
        means = xp.matmul(w, X) / n_k  # (group, d)
        rows = xp.sqrt(w / n_k)[:, :, None] * (X[None, :, :] - means[:, None, :])
        diag = np.abs(_r_diagonals(xp, rows))
        out[ks] = diag.min(axis=1) / (1.0 + diag.max(axis=1))
    return out


#: The most values (components x rows x features) of one stacked QR in
#: :func:`scatter_rcond`: 8 MiB of float64.
SCATTER_GROUP_VALUES = 2**20


def _r_diagonals(xp, rows):
    """The diagonals of the R factors of QR decompositions of a stack of ``rows``, on the host."""
    if is_numpy_namespace(xp):
        return np.diagonal(np.linalg.qr(rows, mode="r"), axis1=1, axis2=2)
    return to_host(xp.linalg.diagonal(xp.linalg.qr(rows)[1]), np.float64)


def reads_rows(mixture):
    """Whether :func:`near_singular_reason` tests ``mixture`` on each component's rows (it needs X and resp)."""
    return reads_rows_of(mixture.covariance_type, mixture.n_components, mixture.reg_covar, mixture.prior)


def reads_rows_of(covariance_type, n_components, reg_covar, prior):
    """:func:`reads_rows` of a mixture with these parameters, before it is made."""
    model, _ = get_model(covariance_type)
    own = model.sklearn_name == "full" or model.code in OWN_SCATTER_MODELS
    # Regularisation or a prior keeps the covariances away from the rows'
    # singular scatter: then only the fitted covariances are tested.
    return own and reg_covar == 0 and prior is None and n_components > 1


def near_singular_reason(mixture, when="the fit", X=None, resp=None, sample_weight=None, covariances=None):
    """Why mclust would reject the fitted ``mixture`` as near-singular, or None.

    Parameters
    ----------
    mixture : GaussianMixture
        A fitted mixture, with mclust's code or scikit-learn's name as its
        ``covariance_type``; or, with ``covariances``, one being fitted.
    when : str
        Which parameters these are, for the message ("the start", "the fit").
    X, resp, sample_weight : arrays, optional
        The rows and the responsibilities of the M-step that gave the
        parameters; with them, the models of ``OWN_SCATTER_MODELS`` are
        also tested on each component's own scatter (``scatter_rcond``),
        where :func:`reads_rows` says so (resp is read only then).
    covariances : ndarray of shape (n_components, n_features, n_features), optional
        The covariances to test, in place of the fitted ``covariances_``
        (a start's, before EM).

    Returns
    -------
    str or None
        The reason, naming the component and the value, or None where the
        fit passes (always for one component, as in mclust).
    """
    K = mixture.n_components
    if K < 2:
        return None
    if resp is not None:
        resp = resp[:, :K]  # a noise component's column is no Gaussian's rows
    if covariances is None:
        model, sklearn_layout = get_model(mixture.covariance_type)
        covariances = to_host(mixture.covariances_, np.float64)
        if sklearn_layout:
            covariances = STRUCTURES[model.structure].to_full(covariances, K, mixture.means_.shape[1])
    rcond = cholesky_rcond(covariances)
    if X is not None and reads_rows(mixture):
        rcond = np.minimum(rcond, scatter_rcond(X, resp, sample_weight))
    worst = int(np.argmin(rcond))
    if rcond[worst] > MCLUST_RCOND:
        return None
    return (
        f"near-singular covariance in {when}: component {worst} has min|diag chol| / (1 + max|diag chol|) "
        f"= {rcond[worst]:.3g}, at most sqrt(eps) = {MCLUST_RCOND:.3g}, which mclust rejects "
        f"(a component shrinking onto a few rows); use fewer components or another model."
    )
