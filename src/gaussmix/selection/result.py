"""The outcome of model selection: the tables of every cell, and the best fit."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..estimators import GaussianMixture


@dataclass
class SelectionResult:
    """The outcome of :func:`select`.

    Attributes
    ----------
    best_ : GaussianMixture
        The fitted mixture of the best cell.
    criterion : str
        ``"bic"`` or ``"icl"``: what ``best_`` minimises.
    n_components : list of int
        The rows of the tables.
    covariance_types : list of str
        The columns of the tables.
    bic_ : ndarray of shape (len(n_components), len(covariance_types))
        BIC of each cell (lower is better); NaN where the fit failed.
    icl_ : ndarray of the same shape
        ICL of each cell.
    loglik_ : ndarray of the same shape
        Log-likelihood of each cell's fit.
    n_parameters_ : ndarray of the same shape
        Free parameters of each cell.
    errors_ : dict
        ``(n_components, covariance_type) -> reason`` for the failed cells.
    warnings_ : dict
        ``(n_components, covariance_type) -> [message, ...]``: the warnings
        a cell's fit raised (not converged, a collapsed component).
    n_iter_ : ndarray of the same shape as ``bic_``
        EM iterations of each cell's fit (NaN where the fit failed, 0 for
        the noise alone), the work ``select`` did.
    """

    best_: GaussianMixture
    criterion: str
    n_components: list
    covariance_types: list
    bic_: np.ndarray
    icl_: np.ndarray
    loglik_: np.ndarray
    n_parameters_: np.ndarray
    errors_: dict = field(default_factory=dict)
    warnings_: dict = field(default_factory=dict)
    n_iter_: np.ndarray | None = None

    def table(self, criterion=None):
        """The criterion's table: ``{(K, code): value}`` for every cell."""
        values = getattr(self, f"{criterion or self.criterion}_")
        return {
            (K, code): float(values[i, j])
            for i, K in enumerate(self.n_components)
            for j, code in enumerate(self.covariance_types)
        }

    def ranking(self, criterion=None, top=3):
        """The ``top`` cells, best first, as ``[((K, code), value), ...]``."""
        cells = [(cell, v) for cell, v in self.table(criterion).items() if np.isfinite(v)]
        return sorted(cells, key=lambda item: item[1])[:top]

    def to_frame(self):
        """All cells as a pandas DataFrame (pandas must be installed)."""
        import pandas as pd

        rows = []
        for i, K in enumerate(self.n_components):
            for j, code in enumerate(self.covariance_types):
                rows.append(
                    {
                        "n_components": K,
                        "covariance_type": code,
                        "bic": self.bic_[i, j],
                        "icl": self.icl_[i, j],
                        "loglik": self.loglik_[i, j],
                        "n_parameters": self.n_parameters_[i, j],
                        "error": self.errors_.get((K, code), ""),
                    }
                )
        return pd.DataFrame(rows)

    def summary(self, criterion=None, top=3, file=None):
        """Print the best ``top`` cells the way mclust's ``summary`` does.

        Values are in gaussmix's sign (lower is better); mclust prints the
        negatives. The cells that failed are named; ``errors_`` holds why.
        Returns the printed text.
        """
        crit = (criterion or self.criterion).upper()
        best = self.ranking(criterion, top)
        names = [f"{code},{K}" for (K, code), _ in best]
        values = [v for _, v in best]
        width = max([12] + [len(n) + 2 for n in names])
        lines = [
            f"Best {crit} values (lower is better; mclust prints the negatives):",
            " " * 9 + "".join(n.rjust(width) for n in names),
            f"{crit:<9}" + "".join(f"{v:.4f}".rjust(width) for v in values),
            f"{crit + ' diff':<9}" + "".join(f"{v - values[0]:.4f}".rjust(width) for v in values),
        ]
        failed = len(self.errors_)
        if failed:
            cells = ", ".join(f"{code},{K}" for K, code in sorted(self.errors_))
            lines.append(f"({failed} cell(s) failed: {cells}; errors_ says why)")
        text = "\n".join(lines)
        print(text, file=file)
        return text


@dataclass(repr=False)
class BootstrapLRTResult:
    """The outcome of :func:`bootstrap_lrt`, mclust's ``mclustBootstrapLRT`` object.

    ``print(result)`` shows mclust's table; :meth:`plot` draws the bootstrap
    distributions.

    Attributes
    ----------
    covariance_type : str
        The covariance model tested.
    n_boot : int
        Bootstrap samples per test.
    level : float
        The significance level of the sequential rule.
    n_components : ndarray of shape (n_tests,)
        The G of each test's null hypothesis (G against G + 1): 1, 2, ...
    statistics_ : ndarray of shape (n_tests,)
        Observed ``2 (log L_{G+1} - log L_G)``; may be negative.
    p_values_ : ndarray of shape (n_tests,)
        ``(1 + #{bootstrap >= observed}) / (n_boot + 1)``.
    bootstrap_ : ndarray of shape (n_boot, n_tests)
        The bootstrap statistics of each test (mclust's ``boot``).
    n_components_ : int
        The chosen number of components: the G of the first test with
        ``p > level``, or one more than the last G tested when all are
        significant.
    log_likelihoods_ : ndarray of shape (n_tests + 1,)
        Log-likelihoods of the hc-started fits to X with 1, 2, ... components.
    n_redrawn_ : ndarray of shape (n_tests,)
        Bootstrap samples drawn again because their fits failed.
    best_ : GaussianMixture
        The fit to X with ``n_components_`` components.
    """

    covariance_type: str
    n_boot: int
    level: float
    n_components: np.ndarray
    statistics_: np.ndarray
    p_values_: np.ndarray
    bootstrap_: np.ndarray
    n_components_: int
    log_likelihoods_: np.ndarray
    n_redrawn_: np.ndarray
    best_: GaussianMixture = field(default=None)

    def summary(self, file=None):
        """Print the tests as mclust's ``print`` does, and the choice; return the text."""
        text = str(self)
        print(text, file=file)
        return text

    def __str__(self):
        rule = "-" * 61
        lines = [
            rule,
            "Bootstrap sequential LRT for the number of mixture components",
            rule,
            f"{'Model':<12} = {self.covariance_type}",
            f"{'Replications':<12} = {self.n_boot}",
            f"{'':<8} {'LRTS':>12} {'bootstrap p-value':>18}",
        ]
        for G, stat, p in zip(self.n_components, self.statistics_, self.p_values_):
            lines.append(f"{f'{G} vs {G + 1}':<8} {stat:>12.4f} {p:>18.4g}")
        lines.append(f"Chosen number of components (level {self.level:g}): {self.n_components_}")
        if self.n_redrawn_.sum():
            lines.append(f"({int(self.n_redrawn_.sum())} bootstrap sample(s) drawn again after a failed fit)")
        return "\n".join(lines)

    def __repr__(self):
        return (f"BootstrapLRTResult(covariance_type={self.covariance_type!r}, "
                f"n_boot={self.n_boot}, tests={len(self.statistics_)}, "
                f"n_components_={self.n_components_})")

    def plot(self, tests=None, axes=None):
        """Histograms of the bootstrap distributions, each with its observed statistic.

        See :func:`gaussmix.plotting.plot_bootstrap_lrt` (needs matplotlib).
        """
        from ..plotting import plot_bootstrap_lrt

        return plot_bootstrap_lrt(self, tests=tests, axes=axes)
