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
        negatives. Returns the printed text.
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
            lines.append(f"({failed} cell(s) failed: see errors_)")
        text = "\n".join(lines)
        print(text, file=file)
        return text
