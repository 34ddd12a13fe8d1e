"""What could restarts (``n_init``) gain by sharing data passes?

Evaluating several candidate parameter sets per pass over the data saves
only the cost of reading the data again; every candidate's E-step and
statistics must still be computed. This script measures that share: for a
few cells it times one EM iteration of gaussmix against one pass that reads
the same chunks and does nothing but touch every element (a chunked sum),
and a fit with ``n_init=4`` against one with ``n_init=1`` (same start
method, ``tol=0``, fixed iterations). The read share bounds what a
shared-pass design could save on in-memory data. Results go to
``benchmarks/RESULTS_N_INIT.md`` with the machine stated; medians of
``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import warnings
from pathlib import Path

from sklearn.exceptions import ConvergenceWarning

from gaussmix import GaussianMixture
from gaussmix._chunks import auto_chunk_size, chunk_slices

sys.path.insert(0, str(Path(__file__).parent))
from bench_em import machine, make_cell, median_time  # noqa: E402

CELLS = [(100_000, 16, 16, "full"), (100_000, 16, 16, "diag"), (1_000_000, 2, 3, "full"),
         (100_000, 64, 16, "full")]


def fit(X, K, family, init, n_init, iters):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        GaussianMixture(K, covariance_type=family, tol=0, max_iter=iters, n_init=n_init,
                        init_params="random_from_data", random_state=0).fit(X)


def read_pass(X, K):
    size = auto_chunk_size(K, X.shape[1])
    total = 0.0
    for sl in chunk_slices(X.shape[0], size):
        total += float(X[sl].sum())
    return total


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=Path, default=Path(__file__).with_name("RESULTS_N_INIT.md"))
    args = parser.parse_args(argv)
    rows = []
    for n, d, K, family in CELLS:
        X, init = make_cell(n, d, K, family, "float64")
        fit(X[:2000], K, family, init, 1, 2)  # load compiled code
        one = median_time(lambda: fit(X, K, family, init, 1, 1), args.repeats)
        three = median_time(lambda: fit(X, K, family, init, 1, 3), args.repeats)
        per_iter = (three - one) / 2
        read = median_time(lambda: read_pass(X, K), args.repeats)
        n4 = median_time(lambda: fit(X, K, family, init, 4, 3), args.repeats)
        rows.append((n, d, K, family, per_iter, read, three, n4))
        print(rows[-1], flush=True)
    lines = [
        "# n_init: what sharing data passes between restarts could save",
        "",
        f"Written by `benchmarks/bench_n_init.py` on {datetime.date.today().isoformat()}; medians of "
        f"{args.repeats} runs, float64, in-memory NumPy data.",
        "",
        "Machine: " + "; ".join(f"{k} {v}" for k, v in machine().items()),
        "",
        "| N | d | K | covariance | EM iteration ms | read pass ms | read share | fit n_init=1 s | "
        "fit n_init=4 s | ratio |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n, d, K, family, per_iter, read, three, n4 in rows:
        lines.append(f"| {n} | {d} | {K} | {family} | {per_iter*1e3:.1f} | {read*1e3:.2f} | "
                     f"{read / per_iter:.1%} | {three:.3f} | {n4:.3f} | x{n4 / three:.2f} |")
    tmp = args.output.with_name(args.output.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, args.output)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    sys.exit(main())
