"""What a fit tells its user: progress lines, log records and warnings."""

from __future__ import annotations

import logging
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ..exceptions import DegenerateComponentWarning

logger = logging.getLogger("gaussmix")


class ReportingMixin:
    """``verbose`` output, log records and the warnings of a fit."""

    def _warn_outcome(self, best, n_init):
        """The warnings of a finished fit: not converged, components emptied or kept."""
        if not best.converged and self.max_iter > 0:
            warnings.warn(
                f"Best performing initialization did not converge. Try different init "
                f"parameters, or increase max_iter, tol, or check for degenerate data. "
                f"(EM ran max_iter={self.max_iter} iterations in the best of {n_init} "
                f"initialisation(s); the last change of the mean log-likelihood was above "
                f"tol={self.tol:g}.)",
                ConvergenceWarning,
                stacklevel=5,
            )
        if best.emptied:
            warnings.warn(
                f"component(s) {sorted(best.emptied)} lost all their weight during EM; "
                f"they keep their last mean and covariance and a weight near 0. "
                f"Fit fewer components.",
                DegenerateComponentWarning,
                stacklevel=5,
            )
        if best.kept:
            warnings.warn(
                f"the covariance of component(s) {sorted(best.kept)} became singular "
                f"(reg_covar={self.reg_covar:g}: a component on a single row or on identical "
                f"rows); they kept their previous covariance. Increase reg_covar or fit fewer "
                f"components.",
                DegenerateComponentWarning,
                stacklevel=5,
            )

    def _warn_collapsed(self, model, collapsed):
        """Warn when a covariance is singular but for ``reg_covar``."""
        if collapsed is None or not np.any(collapsed):
            return
        which = (
            "the shared covariance"
            if model.coupling == "pooled"
            else f"the covariance of component(s) {np.flatnonzero(collapsed).tolist()}"
        )
        warnings.warn(
            f"{which} is singular (collapsed onto a point, a line or a constant "
            f"feature); only reg_covar={self.reg_covar:g} keeps it positive definite, "
            f"so those densities are spikes. Use fewer components, remove constant or "
            f"duplicated features, or increase reg_covar.",
            DegenerateComponentWarning,
            stacklevel=5,
        )

    # -------------------------------------------------------------- verbose
    def _say_init_start(self, init):
        self._init_t0 = self._iter_t0 = time.time()
        logger.info("initialisation %d", init)
        if self.verbose >= 1:
            print(f"Initialization {init}")

    def _say_iteration(self, n_iter, lower_bound, change):
        if self.verbose >= 1 and n_iter % self.verbose_interval == 0:
            if self.verbose == 1:
                print(f"  Iteration {n_iter}")
            else:
                now = time.time()
                print(
                    f"  Iteration {n_iter}\t time lapse {now - self._iter_t0:.5f}s\t "
                    f"ll change {change:.5f}"
                )
                self._iter_t0 = now

    def _say_init_end(self, result):
        status = "converged" if result.converged else "did not converge"
        logger.info("initialisation %s, lower bound %.6g", status, result.lower_bound)
        if self.verbose == 1:
            print(f"Initialization {status}.")
        elif self.verbose >= 2:
            print(
                f"Initialization {status}. time lapse {time.time() - self._init_t0:.5f}s\t "
                f"lower bound {result.lower_bound:.5f}."
            )
