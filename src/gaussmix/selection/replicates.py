"""The bootstrap replicates of :func:`gaussmix.bootstrap_lrt`: draw, refit, redraw on failure.

A replicate draws n rows from the null (G-component) fit, refits G and
G + 1 components by EM from the fits to the real data, and records
``2 (log L*_{G+1} - log L*_G)``. Everything a replicate draws comes from
its own seed, so a chunk of replicates gives the same numbers on any worker.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..backends import ArraySource
from ..engine import driver, threads
from ..engine.passes import chunk_rows
from ..engine.schedules import Batch
from ..exceptions import DegenerateCovarianceError
from ..models import get_model
from ..structures import STRUCTURES
from ..updaters import MaximumLikelihood, MixtureParams
from .singular import MCLUST_RCOND, cholesky_rcond

__all__ = ["FIT_ERRORS", "MAX_DRAWS", "Refit", "replicates", "run_chunk"]

#: Draws of one replicate before giving up; mclust would loop for ever.
MAX_DRAWS = 100
#: What a failed EM fit raises (DegenerateCovarianceError is a ValueError).
FIT_ERRORS = (ValueError, np.linalg.LinAlgError, FloatingPointError, DegenerateCovarianceError)


class Refit:
    """EM on bootstrap samples from a fitted mixture's parameters (mclust's ``em``).

    It runs the engine's loop directly: the estimator's checks and set-up
    cost more than EM itself on faithful's 272 rows (1.9 ms a fit through
    ``GaussianMixture.fit``, 0.75 ms here, the same bits), and a bootstrap
    makes thousands of fits of one model from one start.
    """

    def __init__(self, fitted, tol, max_iter):
        model, sklearn_layout = get_model(fitted.covariance_type)
        struct = STRUCTURES[model.structure]

        def internal(arr):  # the estimator's attributes in the engine's layout
            arr = np.asarray(arr, dtype=np.float64)
            return arr if sklearn_layout else struct.from_full(arr)

        self.start = MixtureParams(
            np.asarray(fitted.weights_, dtype=np.float64), np.asarray(fitted.means_, dtype=np.float64),
            internal(fitted.covariances_), internal(fitted.precisions_cholesky_), model.structure,
        )
        self.updater = MaximumLikelihood(model, 0.0)
        self.structure, self.n_components = model.structure, fitted.n_components
        self.tol, self.max_iter = tol, max_iter

    def log_likelihood(self, X):
        n_samples, n_features = X.shape
        rows = chunk_rows(self.structure, self.n_components, n_features, n_samples, None)
        source = ArraySource(X, None, rows, "raise", False)
        result = driver.run(source, self.updater, self.start, Batch(), tol=self.tol,
                            max_iter=self.max_iter)
        if result.emptied or result.kept or self.near_singular(result.state, n_features):
            # A component that lost all its weight, whose covariance became
            # singular (the engine then keeps the previous one) or near
            # singular by mclust's rule: a failed fit, as mclust's em
            # returns NA for it.
            return np.nan
        return result.lower_bound * n_samples  # EM's last E-step, as mclust's loglik

    def near_singular(self, state, n_features):
        """mclust's rule (``selection.singular``) on the fitted covariances; never for one component."""
        if self.n_components < 2:
            return False
        cov = STRUCTURES[self.structure].to_full(state.covariances, self.n_components, n_features)
        return bool(cholesky_rcond(cov).min() <= MCLUST_RCOND)


def replicates(null, alternative, n_samples, seeds, tols, max_iter):
    """Bootstrap statistics for some replicates; a failed sample is drawn again.

    Returns the statistics and the number of samples drawn again.
    """
    statistics, redrawn = np.empty(len(seeds)), 0
    fit_null, fit_alternative = (Refit(gm, tol, max_iter) for gm, tol in zip((null, alternative), tols))
    # BLAS on one thread, as GaussianMixture.fit holds it: on 2 x 2 factors
    # a multi-threaded triangular solve took 0.6 ms, half of all the time.
    with threads.single_threaded_blas(), warnings.catch_warnings():
        # mclust's em(warn = FALSE): a replicate that hits max_iter still counts.
        warnings.simplefilter("ignore")
        for i, seed in enumerate(seeds):
            # The null's own draws (GaussianMixture.sample's), from the
            # parameters it starts the null's refits from, without the
            # estimator's checks and copy for each replicate. Those are its
            # public attributes in float64, equal to what its sample() reads
            # because bootstrap_lrt fits its nulls on float64 rows (a float32
            # fit's attributes are rounded).
            # PCG64 (NumPy's default bit generator) reads 4 words from the
            # spawned SeedSequence where MT19937 reads 624 and copies them
            # one NumPy scalar at a time: 15 us against 110-220 a replicate,
            # a fifth of a bootstrap on 155 rows.
            random_state = np.random.RandomState(np.random.PCG64(seed))
            for _ in range(MAX_DRAWS):
                X, _ = fit_null.start.sample(n_samples, random_state)
                try:
                    value = fit_alternative.log_likelihood(X)
                    if np.isfinite(value):  # else the null's fit is not needed
                        value = 2.0 * (value - fit_null.log_likelihood(X))
                except FIT_ERRORS:
                    value = np.nan
                if np.isfinite(value):
                    break
                redrawn += 1
            else:
                raise RuntimeError(
                    f"{MAX_DRAWS} bootstrap samples in a row from the {null.n_components}-"
                    f"component fit failed to refit; the model is too close to degenerate "
                    f"for this test. Try fewer components or another covariance_type."
                )
            statistics[i] = value
    return statistics, redrawn


def run_chunk(start, *args):
    """``replicates`` for the chunk beginning at replicate ``start``, which it returns too."""
    return start, replicates(*args)
