"""One cell of a selection: a mixture fitted from the cell's start, tested as mclust tests it, and scored.

``select`` runs :func:`fit_cell` for every (covariance model, K), on joblib's
workers. A cell never raises: a fit that fails, or that mclust's rule
(``selection.singular``) rejects at its start or at its end, gives NaN and
the reason, as mclust's table gives NA.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from sklearn import config_context

from ..engine.threads import single_threaded_blas
from ..estimators import GaussianMixture
from .singular import near_singular_reason, reads_rows
from .starts import cell_start


def fit_cell(X, sample_weight, K, code, partition, params, config):
    """Fit one cell under scikit-learn's ``config``; never raise: a failure is a NaN with its reason."""
    # One BLAS setting for the whole cell: its two fits, the tests and the
    # criteria would each set and restore it (a dozen threadpoolctl calls).
    with single_threaded_blas():
        return _fit_held(X, sample_weight, K, code, partition, params, config)


def _fit_held(X, sample_weight, K, code, partition, params, config):
    """:func:`fit_cell` within its BLAS setting."""
    try:
        with warnings.catch_warnings(record=True) as caught, config_context(**config):
            warnings.simplefilter("always")
            resp = cell_start(X, sample_weight, K, code, partition, params["reg_covar"], params["prior"],
                              params["noise_init"])
            init = {} if partition is None else {"init_params": "hc", "resp_init": resp}
            gm = GaussianMixture(K, covariance_type=code, **init, **dict(params, max_iter=0))
            _reject_near_singular(gm, X, sample_weight, resp)
            # EM goes on from the start just tested, a warm start: the same
            # parameters a second fit from the start would compute again.
            # The start is not kept as a parameter of the model (a saved
            # model would otherwise carry an n x K matrix): init_params="hc"
            # says how it began. Set as set_params would, without its
            # signature inspection (0.15 ms).
            gm.max_iter, gm.warm_start, gm.resp_init = params["max_iter"], True, None
            gm.fit(X, sample_weight=sample_weight)
            gm.warm_start = False
        messages = sorted({str(w.message) for w in caught})
        with config_context(**config):
            # The responsibilities only where the test reads them (3 of mclust's 14 models).
            resp = gm.predict_proba(X) if reads_rows(gm) else None
            reason = near_singular_reason(gm, "the fit", X, resp, sample_weight)
            if reason is not None:
                raise ValueError(reason)
            crit = gm.criteria(X, sample_weight)  # one pass for all three
        loglik, bic, icl = crit.log_likelihood, crit.bic, crit.icl
        if not (np.isfinite(bic) and np.isfinite(icl)):
            raise ValueError("the fitted log-likelihood is not finite")
        return (K, code), (gm, bic, icl, loglik, None, messages)
    except (ValueError, np.linalg.LinAlgError, FloatingPointError) as exc:
        return (K, code), (None, math.nan, math.nan, math.nan, str(exc), [])


def _reject_near_singular(start, X, sample_weight, resp):
    """Raise ``ValueError`` if ``start``, an unfitted mixture with ``max_iter=0``, is near singular.

    mclust applies its test (``selection.singular``) after every M-step, the
    first one included: a start that gives a component on fewer rows than
    features fails there, even where EM would move away from it. We test
    that first M-step and the final fit, not the steps between.
    """
    # Its warnings are the cell's: EM goes on from this fit, whose start
    # (a pair of features never observed together, say) is not made again.
    # With max_iter=0 a fit does not warn that it did not converge.
    start.fit(X, sample_weight=sample_weight)
    if resp is None:  # a start of init_params: the responsibilities of its first M-step
        resp = start.predict_proba(X)
    elif start.has_noise:  # the rows first deemed noise start in no Gaussian
        resp = np.where(start.noise_init[:, None], 0.0, resp)
    reason = near_singular_reason(start, "the start", X, resp, sample_weight)
    if reason is not None:
        raise ValueError(reason)
