"""Compare the EM iterations of ``select`` with mclust's, cell by cell: is it the same work?

``bench_small.py`` times ``select`` against ``Mclust(X, G = 1:9)``. Both run
14 models x K=1..9 from mclust's hierarchical start with mclust's stopping
rule, so their times compare if they run about as many iterations. This
runs ``select`` on the data sets of ``benchmarks/small`` (one job), reads
each cell's iterations and log-likelihood (``n_iter_``, ``loglik_``), and sets
them beside mclust's (``mclust_iterations.csv``, written by
``mclust_iterations.R``). It prints, per data set, the total iterations of
the cells both tools fit, the cells only one of them fits, the cells whose
log-likelihoods differ by more than 0.01, and the seconds per iteration of
the whole ``select`` (one job, median of 3) beside mclust's
(``mclust.csv``'s time over its total iterations).

Run from the repository root: ``python benchmarks/small/compare_iterations.py``.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from gaussmix import select

HERE = Path(__file__).resolve().parent


def our_cells(X):
    """``{(K, code): (n_iter, loglik)}`` of ``select``'s cells (NaN where a cell fails)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = select(X, n_components=range(1, 10), n_jobs=1)
    return {
        (K, code): (result.n_iter_[i, j], result.loglik_[i, j])
        for i, K in enumerate(result.n_components)
        for j, code in enumerate(result.covariance_types)
    }


def seconds(X, repeats=3):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            select(X, n_components=range(1, 10), n_jobs=1)
            times.append(time.perf_counter() - start)
    return float(np.median(times))


def main():
    theirs = pd.read_csv(HERE / "mclust_iterations.csv")
    mclust_time = pd.read_csv(HERE / "mclust.csv").set_index("data")["seconds"]
    for name, table in theirs.groupby("data", sort=False):
        X = pd.read_csv(HERE / f"{name}.csv").to_numpy(dtype=np.float64)
        ours = our_cells(X)
        both = only_ours = only_theirs = 0
        ours_total = theirs_total = 0
        apart = []
        for row in table.itertuples():
            n_iter, loglik = ours[(row.G, row.model)]
            fitted_ours, fitted_theirs = np.isfinite(loglik), np.isfinite(row.loglik)
            if fitted_ours and fitted_theirs:
                both += 1
                ours_total += int(n_iter)
                theirs_total += row.iterations
                if abs(loglik - row.loglik) > 0.01:
                    apart.append(f"{row.model},{row.G} ({loglik:.2f} vs {row.loglik:.2f})")
            else:
                only_ours += fitted_ours and not fitted_theirs
                only_theirs += fitted_theirs and not fitted_ours
        ours_seconds = seconds(X)
        all_ours = int(sum(v[0] for v in ours.values() if np.isfinite(v[0])))
        all_theirs = table["iterations"].sum()
        print(f"{name}: {both} cells fitted by both: {ours_total} iterations ours, {theirs_total} mclust's; "
              f"fitted by one only: ours {only_ours}, mclust {only_theirs}")
        print(f"  select {ours_seconds:.3f} s over {all_ours} iterations: "
              f"{1e6 * ours_seconds / all_ours:.0f} us each; mclust {mclust_time[name]:.3f} s over {all_theirs}: "
              f"{1e6 * mclust_time[name] / all_theirs:.0f} us each")
        if apart:
            print(f"  log-likelihoods apart by more than 0.01: {', '.join(apart)}")


if __name__ == "__main__":
    main()
