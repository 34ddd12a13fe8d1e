"""Time gaussmix's BayesianGaussianMixture against scikit-learn's, in one process, on the same data.

Both libraries start from the same place (``init_params="kmeans"`` with the
same ``random_state``: the same k-means, the same first posterior) and run
with ``tol=0``, so they do the same variational iterations; the lower bounds
they reach are compared. Per iteration, a cell's time is the difference
between a long and a short fit divided by the difference of their iterations
(the method of ``bench_em.py``, whose helpers this script uses: the long
fit's extra iterations double until they take 20 ms), the median of
``--repeats`` runs. The memory cell fits N=1e6, d=16, K=16, full, float64
once per library in a fresh process and reports the peak resident memory
beyond the data, from the k-means start and (gaussmix) from random rows.

``python benchmarks/bench_bgmm.py --quick`` runs N=1e4, d in {2, 16},
K in {3, 16}, every covariance type, both dtypes (about a minute); without
``--quick`` N=1e5 and d=64 join, and the memory cell runs. Results go to
``benchmarks/RESULTS_BGMM.md`` with the machine stated.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture as SKBayesian

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_em  # noqa: E402  (the shared method: machine, timing, memory probes)

from gaussmix import BayesianGaussianMixture  # noqa: E402

FAMILIES = ["full", "tied", "diag", "spherical"]


def make_data(n, d, K, dtype, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(K, d)) * 4
    return (centres[rng.integers(0, K, size=n)] + rng.normal(size=(n, d))).astype(dtype)


def timed_fit(cls, X, K, family, iters):
    est = cls(n_components=K, covariance_type=family, tol=0, max_iter=iters, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t0 = time.perf_counter()
        est.fit(X)
        return time.perf_counter() - t0, est


def per_iteration(cls, X, K, family, short, long, repeats):
    while True:
        ts, tl = [], []
        for _ in range(repeats):
            ts.append(timed_fit(cls, X, K, family, short)[0])
            t, est = timed_fit(cls, X, K, family, long)
            tl.append(t)
        extra = float(np.median(tl) - np.median(ts))
        if extra >= bench_em.MIN_EXTRA_SECONDS:
            return extra / (long - short), est, long
        if long - short >= 512:
            raise bench_em.TooFastToTime(f"512 extra iterations took {extra * 1e3:.1f} ms")
        long = short + 2 * (long - short)


def run_cell(n, d, K, family, dtype, args):
    X = make_data(n, d, K, dtype)
    probe, _ = timed_fit(SKBayesian, X, K, family, 1)
    if probe * (args.iters_short + args.iters_long) * args.repeats > args.max_sklearn_seconds:
        return {"skipped": "scikit-learn would take over the budget"}
    try:
        sk_it, sk, sk_long = per_iteration(SKBayesian, X, K, family, args.iters_short, args.iters_long,
                                           args.repeats)
        gm_it, _, _ = per_iteration(BayesianGaussianMixture, X, K, family, args.iters_short,
                                    args.iters_long, args.repeats)
    except bench_em.TooFastToTime as exc:
        return {"skipped": str(exc)}
    gm = timed_fit(BayesianGaussianMixture, X, K, family, sk_long)[1]
    sk_bound = float(np.squeeze(sk.lower_bound_))
    return {"sk_iter": sk_it, "gm_iter": gm_it, "speedup": sk_it / gm_it,
            "bound_rel": abs(float(gm.lower_bound_) - sk_bound) / abs(sk_bound)}


def memory_probe(library, n, d, K, init="kmeans"):
    """Run in a fresh process: peak resident MiB of one fit beyond the data."""
    X = make_data(n, d, K, "float64")
    cls = SKBayesian if library == "sklearn" else BayesianGaussianMixture

    def fit(rows, iters):
        est = cls(n_components=K, tol=0, max_iter=iters, random_state=0, init_params=init)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(rows)

    fit(X[:2000], 1)  # load the compiled code first
    before = bench_em._resident_mib()
    import resource

    fit(X, 2)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return max(0.0, peak - before)


def memory_cell(n=1_000_000, d=16, K=16):
    """Peak memory of each library from the k-means start, and of gaussmix from a random row
    start: scikit-learn's KMeans copies the data to centre it, whoever calls it."""
    out = {}
    for library, init in (("sklearn", "kmeans"), ("gaussmix", "kmeans"), ("gaussmix", "random_from_data")):
        cmd = [sys.executable, __file__, "--memory-probe", library, str(n), str(d), str(K), init]
        out[(library, init)] = float(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--iters-short", type=int, default=2)
    parser.add_argument("--iters-long", type=int, default=6)
    parser.add_argument("--max-sklearn-seconds", type=float, default=60.0)
    parser.add_argument("--output", type=Path, default=Path(__file__).with_name("RESULTS_BGMM.md"))
    parser.add_argument("--memory-probe", nargs=5, help=argparse.SUPPRESS)
    parser.add_argument("--memory-only", action="store_true", help="only the memory cell, printed")
    args = parser.parse_args(argv)
    if args.memory_probe:
        library, n, d, K, init = args.memory_probe
        print(memory_probe(library, int(n), int(d), int(K), init))
        return
    if args.memory_only:
        print(memory_cell())
        return
    ns, ds = ([10_000], [2, 16]) if args.quick else ([10_000, 100_000], [2, 16, 64])
    rows, t0 = [], time.perf_counter()
    for n, d, K, family, dtype in itertools.product(ns, ds, [3, 16], FAMILIES, ["float64", "float32"]):
        result = run_cell(n, d, K, family, dtype, args)
        rows.append(((n, d, K, family, dtype), result))
        print(n, d, K, family, dtype, json.dumps({k: round(v, 6) if isinstance(v, float) else v
                                                  for k, v in result.items()}), flush=True)
    memory = None if args.quick else memory_cell()
    write_results(args, rows, memory, time.perf_counter() - t0)


def write_results(args, rows, memory, total):
    info = bench_em.machine()
    lines = [
        "# BayesianGaussianMixture: gaussmix against scikit-learn",
        "",
        f"Written by `benchmarks/bench_bgmm.py{' --quick' if args.quick else ''}` on "
        f"{datetime.date.today()} in {total:.0f} s. Per-iteration times: medians of {args.repeats} "
        f"runs of (long fit - short fit) / extra iterations, both libraries from the same k-means "
        f"start with tol=0.",
        "Machine: " + "; ".join(f"{k} {v}" for k, v in info.items()),
        "",
    ]
    for dtype in ("float64", "float32"):
        speedups = [r["speedup"] for (_, _, _, _, t), r in rows if t == dtype and "speedup" in r]
        if speedups:
            lines.append(f"- {dtype}: geometric mean speed-up x{bench_em.geometric_mean(speedups):.2f} over "
                         f"{len(speedups)} cells (min x{min(speedups):.2f}, max x{max(speedups):.2f})")
    if memory:
        lines.append(
            f"- fit memory at N=1e6, d=16, K=16, full, float64, beyond the data (peak resident): "
            f"scikit-learn {memory[('sklearn', 'kmeans')]:.0f} MiB and gaussmix "
            f"{memory[('gaussmix', 'kmeans')]:.0f} MiB from the k-means start (scikit-learn's KMeans "
            f"copies the data to centre it, 122 MiB here); gaussmix "
            f"{memory[('gaussmix', 'random_from_data')]:.0f} MiB from a random-row start")
    lines += ["", "| N | d | K | covariance | dtype | sklearn ms/it | gaussmix ms/it | speed-up | "
              "lower bound rel. diff |", "|---|---|---|---|---|---|---|---|---|"]
    for (n, d, K, family, dtype), r in rows:
        if "skipped" in r:
            lines.append(f"| {n} | {d} | {K} | {family} | {dtype} | skipped: {r['skipped']} | | | |")
        else:
            lines.append(f"| {n} | {d} | {K} | {family} | {dtype} | {r['sk_iter'] * 1e3:.2f} | "
                         f"{r['gm_iter'] * 1e3:.2f} | x{r['speedup']:.2f} | {r['bound_rel']:.1e} |")
    args.output.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
