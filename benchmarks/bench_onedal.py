"""gaussmix against Intel's oneDAL (``daal4py.em_gmm``): EM per iteration, from the same start.

oneDAL is the fastest CPU EM we found. Both run in this process on the same
data (overlapping clusters, so that EM keeps moving: see ``SPREAD``) from the
same start (scikit-learn's one-iteration fit on a sample, as in
``bench_em.py``), with ``tol=0`` and a fixed number of iterations; a
per-iteration time is the difference between a long and a short fit (median
of ``--repeats`` runs, the libraries alternating). Each cell also reports:

* the achieved GFLOP/s of the dominant products (``bench_em.flops_per_iteration``,
  counted dense as scikit-learn computes them) and its share of this
  process's measured float64 GEMM rate;
* how far the two libraries' means are apart after the same iterations, so
  that a speed-up is for the same work.

daal4py 2024.7 imports its scikit-learn patches from its package
``__init__``, and they no longer import under scikit-learn 1.6+ (which
gaussmix needs). The EM itself lives in the compiled ``daal4py._daal4py``,
so this script puts empty modules in the patches' place before the import:
nothing of them is used. Install into a virtual environment of its own::

    python -m venv dal && . dal/bin/activate
    pip install daal4py packaging -e .
    python benchmarks/bench_onedal.py            # writes RESULTS_ONEDAL.md
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import time
import types
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_em import MIN_EXTRA_SECONDS, flops_per_iteration, gemm_rate, machine, timed_fit  # noqa: E402
from sklearn.mixture import GaussianMixture as SKGaussianMixture  # noqa: E402

from gaussmix import GaussianMixture  # noqa: E402


def import_daal4py():
    """``daal4py`` without its scikit-learn patches (see the module docstring), or None."""
    for name in ("daal4py.sklearn", "daal4py.mb"):
        sys.modules.setdefault(name, types.ModuleType(name))
    try:
        import daal4py
    except ImportError:
        return None
    return daal4py


class OneDALMixture:
    """``daal4py.em_gmm`` with the part of GaussianMixture's interface the timing uses."""

    d4p = None

    def __init__(self, n_components, *, covariance_type="full", tol=0, max_iter=100,
                 weights_init=None, means_init=None, precisions_init=None):
        if covariance_type != "full" or tol != 0:
            raise ValueError("only full covariances with a fixed number of iterations are compared")
        self.n_components, self.max_iter = n_components, max_iter
        self.weights_init, self.means_init = weights_init, means_init
        self.covariances_init = [np.ascontiguousarray(np.linalg.inv(p)) for p in precisions_init]

    def fit(self, X):
        algo = self.d4p.em_gmm(nComponents=self.n_components, maxIterations=self.max_iter,
                               accuracyThreshold=0.0)
        result = algo.compute(X, np.asarray(self.weights_init, dtype=np.float64).reshape(1, -1),
                              np.ascontiguousarray(self.means_init), self.covariances_init)
        self.n_iter_ = int(np.ravel(result.nIterations)[0])
        self.means_ = np.asarray(result.means)
        self.log_likelihood_ = float(np.ravel(result.goalFunction)[0])
        return self


#: How far apart the clusters' centres are, in units of their spread. oneDAL
#: ends EM at the first iteration that does not raise the log-likelihood
#: (with accuracyThreshold=0), which on bench_em's well-separated clusters
#: (4) came after 3 iterations, too few to time: these overlap, so that EM
#: keeps moving for the iterations timed.
SPREAD = 1.0


def make_cell(n, d, K, seed=0):
    """Overlapping clusters, and the start both libraries take: scikit-learn's one-iteration fit on a sample."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(K, d)) * SPREAD
    X = centres[rng.integers(0, K, size=n)] + rng.normal(size=(n, d))
    start = SKGaussianMixture(K, covariance_type="full", max_iter=1, random_state=0).fit(X[: min(n, 20 * K * d + 1000)])
    return X, dict(weights_init=start.weights_, means_init=start.means_, precisions_init=start.precisions_)


def per_iteration_pair(libraries, X, K, init, short, long, repeats):
    """Seconds per iteration of each library, their long fits' counts alternating run by run."""
    while True:
        times = {name: ([], []) for name in libraries}
        fitted = {}
        for _ in range(repeats):
            for name, cls in libraries.items():
                times[name][0].append(timed_fit(cls, X, K, "full", init, short)[0])
                t, fitted[name] = timed_fit(cls, X, K, "full", init, long)
                times[name][1].append(t)
        extra = {name: statistics.median(tl) - statistics.median(ts) for name, (ts, tl) in times.items()}
        if min(extra.values()) >= MIN_EXTRA_SECONDS or long - short >= 256:
            return {name: value / (long - short) for name, value in extra.items()}, fitted, long
        long = short + 2 * (long - short)


def run_cell(n, d, K, args, rate):
    X, init = make_cell(n, d, K)
    libraries = {"oneDAL": OneDALMixture, "gaussmix": GaussianMixture}
    per_it, fitted, iters = per_iteration_pair(libraries, X, K, init, args.iters_short, args.iters_long,
                                               args.repeats)
    if fitted["oneDAL"].n_iter_ != iters:
        # oneDAL ends EM early where a covariance turns ill-conditioned for
        # it: a per-iteration time would then be wrong, so the cell is
        # reported as one it did not fit.
        print(f"N={n:g} d={d} K={K}: oneDAL stopped after {fitted['oneDAL'].n_iter_} of {iters} "
              f"iterations", flush=True)
        return dict(n=n, d=d, K=K, refused=f"stopped after {fitted['oneDAL'].n_iter_} of {iters} iterations")
    flops = flops_per_iteration(n, d, K, "full")
    apart = float(np.max(np.abs(fitted["oneDAL"].means_ - fitted["gaussmix"].means_)))
    row = dict(n=n, d=d, K=K, iters=iters, onedal=per_it["oneDAL"], gaussmix=per_it["gaussmix"],
               speedup=per_it["oneDAL"] / per_it["gaussmix"],
               gflops={name: flops / t / 1e9 for name, t in per_it.items()}, apart=apart)
    print(f"N={n:g} d={d} K={K}: oneDAL {row['onedal'] * 1e3:.1f} ms/it, gaussmix {row['gaussmix'] * 1e3:.1f} "
          f"ms/it, {row['speedup']:.2f}x; GFLOP/s {row['gflops']['gaussmix']:.1f} "
          f"({row['gflops']['gaussmix'] / rate:.0%} of GEMM); means apart by {apart:.1e}", flush=True)
    return row


CELLS = [(1_000_000, 16, 16), (100_000, 2, 64), (100_000, 8, 16), (100_000, 16, 16), (100_000, 32, 16)]
QUICK = [(100_000, 16, 16), (100_000, 2, 64)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two cells at N=1e5")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--iters-short", type=int, default=2)
    parser.add_argument("--iters-long", type=int, default=6)
    parser.add_argument("--output", type=Path, default=Path(__file__).with_name("RESULTS_ONEDAL.md"))
    args = parser.parse_args(argv)
    d4p = import_daal4py()
    if d4p is None:
        sys.exit("daal4py is not installed here: see this script's docstring for its environment.")
    OneDALMixture.d4p = d4p
    started = time.perf_counter()
    rate = gemm_rate(np.float64)
    from importlib.metadata import version

    info = {**machine(), "daal4py": version("daal4py")}
    rows = [run_cell(n, d, K, args, rate) for n, d, K in (QUICK if args.quick else CELLS)]
    lines = [
        "# EM per iteration: gaussmix against Intel's oneDAL (daal4py.em_gmm)",
        "",
        f"Written by `benchmarks/bench_onedal.py{' --quick' if args.quick else ''}` on "
        f"{datetime.date.today()} in {time.perf_counter() - started:.0f} s. float64, full covariances, "
        f"the same start, `tol=0`; per-iteration times are medians of {args.repeats} paired runs "
        f"(long minus short fit). Speed-up is oneDAL's time over gaussmix's. GFLOP/s count "
        f"`4 N K d^2` per iteration; the GEMM rate of this process was {rate:.1f} GFLOP/s.",
        "",
        "Machine: " + ", ".join(f"{k} {v}" for k, v in info.items()),
        "",
        "| N | d | K | oneDAL ms/it | gaussmix ms/it | speed-up | gaussmix GFLOP/s (share of GEMM) "
        "| oneDAL GFLOP/s (share) | means apart |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "refused" in r:
            lines.append(f"| {r['n']:,} | {r['d']} | {r['K']} | {r['refused']} | | | | | |")
            continue
        g, o = r["gflops"]["gaussmix"], r["gflops"]["oneDAL"]
        lines.append(f"| {r['n']:,} | {r['d']} | {r['K']} | {r['onedal'] * 1e3:.1f} | {r['gaussmix'] * 1e3:.1f} "
                     f"| {r['speedup']:.2f}x | {g:.1f} ({g / rate:.0%}) | {o:.1f} ({o / rate:.0%}) "
                     f"| {r['apart']:.1e} |")
    args.output.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
