"""Time EM with missing values (NaN cells, MCAR) against the complete-data fit, in one process.

No other library fits a Gaussian mixture by EM with missing values under
full covariances, so the reference is gaussmix's own fit of the same rows
with nothing missing: the question is what the holes cost. For each N
(1e5, 1e6), d=16, K=16, full covariances, float64, the same data are fitted
complete and with 5%, 20% and 50% of the cells removed completely at
random, from the same fixed start (the true weights, means and covariances
perturbed, given as ``*_init``, so no k-means runs) with ``tol=0``.

Per iteration, a cell's time is the difference between a long and a short
fit divided by the difference of their iterations (``bench_em``'s method),
the median of ``--repeats`` runs, each fit of a cell alternating with the
complete-data fit so that both see the same machine state; the ratios are
medians of the runs' own ratios, by the wall clock and by the process's
CPU time. The memory cell
runs one 2-iteration fit of N=1e6 at 0% and 20% in fresh processes (started
before this process holds any data: a child inherits its parent's peak) and
reports the peak resident memory beyond the data.

``python benchmarks/bench_missing.py --quick`` runs N=1e5 only (a minute or
two); without it N=1e6 joins and the memory cells run. Results go to
``benchmarks/RESULTS_MISSING.md`` with the machine stated.
"""

from __future__ import annotations

import argparse
import datetime
import json
import resource
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_em  # noqa: E402  (the machine description and the memory probe's helpers)

from gaussmix import GaussianMixture  # noqa: E402

FRACTIONS = (0.05, 0.20, 0.50)
D, K = 16, 16


def make_data(n, seed=0):
    """Rows of a 16-component mixture with random full covariances, and a start near the truth."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(K, D)) * 3
    A = rng.normal(size=(K, D, D)) / np.sqrt(D)
    covs = A @ np.swapaxes(A, 1, 2) + 0.5 * np.eye(D)
    chol = np.linalg.cholesky(covs)
    labels = rng.integers(0, K, size=n)
    X = np.empty((n, D))
    # Small blocks, so that making the data never raises the process's peak
    # memory above what a fit reaches (the memory cell reads that peak).
    for start in range(0, n, 4096):
        sl = slice(start, min(n, start + 4096))
        z = rng.normal(size=(sl.stop - sl.start, D))
        X[sl] = centres[labels[sl]] + np.einsum("nij,nj->ni", chol[labels[sl]], z)
    init = dict(weights_init=np.full(K, 1.0 / K), means_init=centres + rng.normal(size=(K, D)) * 0.3,
                precisions_init=np.linalg.inv(covs * 1.2))
    return X, init


def punch_holes(X, fraction, seed=1):
    """Remove each value of X with probability ``fraction``, in place."""
    rng = np.random.default_rng(seed)
    for start in range(0, len(X), 4096):
        block = X[start : start + 4096]
        block[rng.random(block.shape) < fraction] = np.nan
    # A row with nothing observed is possible at 50% (1 in 65 536 rows): harmless.
    return X


def with_holes(X, fraction, seed=1):
    return punch_holes(X.copy(), fraction, seed)


def fit_seconds(X, init, iters):
    """Wall-clock and CPU seconds (all of this process's threads) of one fit, and the fit."""
    gm = GaussianMixture(K, tol=0, max_iter=iters, **init)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t0, c0 = time.perf_counter(), time.process_time()
        gm.fit(X)
        return time.perf_counter() - t0, time.process_time() - c0, gm


def per_iteration_pair(X_complete, X_holes, init, short, long, repeats):
    """Wall and CPU seconds per iteration of the complete and the holed data, timed alternately.

    Each repeat times the four fits back to back and gives its own ratios;
    a ratio reported is the median of these paired ratios, which a load
    that drifts over minutes (this machine is shared) moves less than the
    ratio of two medians. CPU time counts only the time this process's
    threads ran, so another tenant's load moves it less than the wall
    clock; both are reported.
    """
    times = {(name, clock): [] for name in ("complete", "holes") for clock in (0, 1)}
    for _ in range(repeats):
        for name, X in (("complete", X_complete), ("holes", X_holes)):
            t_short = fit_seconds(X, init, short)
            t_long = fit_seconds(X, init, long)
            for clock in (0, 1):
                times[name, clock].append((t_long[clock] - t_short[clock]) / (long - short))
    out = {}
    for clock, label in ((0, "wall"), (1, "cpu")):
        ratios = [h / c for h, c in zip(times["holes", clock], times["complete", clock])]
        out[label] = {"complete": statistics.median(times["complete", clock]),
                      "holes": statistics.median(times["holes", clock]),
                      "ratio": statistics.median(ratios), "low": min(ratios), "high": max(ratios)}
    return out


def memory_probe(n, fraction):
    """In this (fresh) process: peak resident MiB of a 2-iteration fit beyond the data."""
    X, init = make_data(n)
    punch_holes(X, fraction)
    fit_seconds(X[:5000], init, 2)  # load compiled code
    before = bench_em._resident_mib()
    earlier_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    fit_seconds(X, init, 2)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # If the fit never rose above the process's earlier peak, the difference
    # is only an upper bound on its own.
    return {"extra_mib": peak - before, "upper_bound": peak <= earlier_peak, "data_mib": X.nbytes / 2**20}


def memory_cell(n, fraction):
    cmd = [sys.executable, __file__, "--memory-probe", str(n), str(fraction)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="N=1e5 only, no memory cells")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--memory-probe", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--output", default=str(Path(__file__).with_name("RESULTS_MISSING.md")))
    args = parser.parse_args(argv)
    if args.memory_probe:
        print(json.dumps(memory_probe(int(args.memory_probe[0]), float(args.memory_probe[1]))))
        return
    info = bench_em.machine()
    # The memory cells first: a child process starts with its parent's peak
    # resident memory, so the parent must not yet hold the timing data.
    memory = [] if args.quick else [dict(fraction=f, **memory_cell(1_000_000, f)) for f in (0.0, 0.2)]
    sizes = [100_000] if args.quick else [100_000, 1_000_000]
    rows = []
    t_start = time.perf_counter()
    for n in sizes:
        X, init = make_data(n)
        # Enough iterations between the two fits that the difference stands above the noise.
        short, long = (2, 12) if n <= 100_000 else (1, 4)
        for fraction in FRACTIONS:
            holes = with_holes(X, fraction)
            # Load the compiled code first: the first fit of a process pays for it.
            fit_seconds(X[:5000], init, 2)
            fit_seconds(holes[:5000], init, 2)
            incomplete = float(np.isnan(holes).any(axis=1).mean())
            t = per_iteration_pair(X, holes, init, short, long, args.repeats)
            rows.append({"n": n, "fraction": fraction, "incomplete_rows": incomplete, **t})
            w, c = t["wall"], t["cpu"]
            print(f"N={n:.0e} {fraction:4.0%} cells missing ({incomplete:5.1%} of rows incomplete): "
                  f"{w['holes'] * 1e3:8.1f} ms/iter against {w['complete'] * 1e3:7.1f} ms complete, "
                  f"ratio {w['ratio']:.2f} ({w['low']:.2f}-{w['high']:.2f}); CPU time ratio "
                  f"{c['ratio']:.2f} ({c['low']:.2f}-{c['high']:.2f})", flush=True)
    for m in memory:
        print(f"memory N=1e6, {m['fraction']:.0%} missing: {m['extra_mib']:.0f} MiB beyond the "
              f"{m['data_mib']:.0f} MiB of data{' (an upper bound)' if m['upper_bound'] else ''}", flush=True)
    write_results(args, info, rows, memory, time.perf_counter() - t_start)


def write_results(args, info, rows, memory, total):
    lines = [
        "# Missing values: EM per iteration against the complete-data fit",
        "",
        f"Written by `benchmarks/bench_missing.py{' --quick' if args.quick else ''}` on "
        f"{datetime.date.today()} in {total:.0f} s. d=16, K=16, full covariances, float64, "
        f"cells missing completely at random, the same fixed start for both fits. Times are medians of "
        f"{args.repeats} runs, the two fits of a cell timed alternately; a ratio is the median of the "
        f"{args.repeats} runs' own ratios, their range beside it. CPU time is the process's (both threads), "
        f"which another tenant of this shared machine moves less than the wall clock.",
        "",
        "Machine: " + ", ".join(f"{k} {v}" for k, v in info.items()),
        "",
        "| N | cells missing | rows incomplete | complete (ms/iter) | with holes (ms/iter) | ratio | range "
        "| CPU time ratio | range |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        w, c = r["wall"], r["cpu"]
        lines.append(f"| {r['n']:.0e} | {r['fraction']:.0%} | {r['incomplete_rows']:.1%} | "
                     f"{w['complete'] * 1e3:.1f} | {w['holes'] * 1e3:.1f} | {w['ratio']:.2f} | "
                     f"{w['low']:.2f}-{w['high']:.2f} | {c['ratio']:.2f} | {c['low']:.2f}-{c['high']:.2f} |")
    if memory:
        lines += ["", "Peak resident memory of a 2-iteration fit at N=1e6, beyond the data:", ""]
        lines += [f"- {m['fraction']:.0%} missing: {m['extra_mib']:.0f} MiB (data {m['data_mib']:.0f} MiB)"
                  + (" (an upper bound: the fit did not pass the process's earlier peak)" if m["upper_bound"] else "")
                  for m in memory]
    Path(args.output).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
