"""Time gaussmix against scikit-learn's GaussianMixture, in one process, on the same data.

Every cell of the grid (N rows, d features, K components, covariance family,
dtype) runs both libraries from the same initial weights, means and
precisions with ``tol=0``, so both do exactly the same EM iterations. Per
EM iteration, a cell's time is the difference between a fit of L and one of
``--iters-short`` iterations, divided by the difference: this cancels the
fixed costs (validation, the final E-step) and measures the loop itself.
L starts at ``--iters-long``; for each library its extra iterations double
until they take ``MIN_EXTRA_SECONDS``, and a cell whose iterations cannot be
timed so is skipped and says so. Each time is the median of ``--repeats``
runs. The log-likelihoods compared and the models scored come from fits of
the same number of iterations.

Also reported per cell: the achieved GFLOP/s of the EM iteration (counting
the multiply-adds of the whitening and scatter products as scikit-learn
forms them: for ``tied`` that is K scatters, where gaussmix forms one pooled
scatter, so there the figure is nominal) against the GEMM
rate measured in the same run, the relative difference of the final
log-likelihoods, ``predict_proba`` and ``score_samples`` times (medians of
calls in blocks alternating between the libraries, each block after a
warm-up of its own library's calls; see :func:`scoring_times`), and the
peak memory that ``fit`` allocates beyond the data (tracemalloc).

Run ``python benchmarks/bench_em.py --quick`` for a small grid (under a
minute); the full grid skips any cell whose scikit-learn fit would take more
than ``--max-sklearn-seconds`` and says so. Results go to
``benchmarks/RESULTS.md`` with the machine stated, rewritten after every
cell so that an interrupted run keeps what it measured.

The full grid also measures the memory of fitting N=1e6, d=16, K=16, full,
float64 (``--memory-cell``): each library fits in a fresh process, and the
figure is the process's peak resident memory during the fit less its
resident memory just before (after the data exist and a small warm-up fit
has loaded the compiled code). Unlike tracemalloc, this counts memory that
NumPy does not report, such as Numba's and BLAS's buffers.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import itertools
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SKGaussianMixture

import gaussmix
from gaussmix import GaussianMixture

FAMILIES = ["full", "tied", "diag", "spherical"]


def machine():
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        from threadpoolctl import threadpool_info

        blas = ", ".join(
            f"{i.get('internal_api')} {i.get('version')} ({i.get('num_threads')} threads)"
            for i in threadpool_info()
            if i.get("user_api") == "blas"
        )
    except ImportError:
        blas = "unknown"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "gaussmix": gaussmix.__version__,
        "blas": blas,
    }


def gemm_rate(dtype, n=1024, repeats=5):
    """GFLOP/s of an n x n matrix product in this process, median of repeats."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=(n, n)).astype(dtype)
    b = rng.normal(size=(n, n)).astype(dtype)
    a @ b
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t0)
    return 2 * n**3 / statistics.median(times) / 1e9


def flops_per_iteration(n, d, K, family):
    """Multiply-adds x 2 of one EM iteration's dominant products."""
    if family in ("full", "tied"):
        # whitening (x - mu_k) U_k and the scatter of each component: n d^2
        # multiply-adds each as dense products (scikit-learn's); gaussmix's
        # TRMM and SYRK skip the zero and mirrored triangles, half of that.
        return 2 * 2 * K * n * d * d
    return 2 * 3 * K * n * d


def make_cell(n, d, K, family, dtype, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(K, d)) * 4
    X = (centres[rng.integers(0, K, size=n)] + rng.normal(size=(n, d))).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = SKGaussianMixture(K, covariance_type=family, max_iter=1, random_state=0).fit(
            X[: min(n, 20 * K * d + 1000)].astype(np.float64)
        )
    init = dict(weights_init=start.weights_, means_init=start.means_, precisions_init=start.precisions_)
    return X, init


def timed_fit(cls, X, K, family, init, iters):
    est = cls(K, covariance_type=family, tol=0, max_iter=iters, **init)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t0 = time.perf_counter()
        est.fit(X)
        return time.perf_counter() - t0, est


#: The extra iterations of the long fit must take at least this long (s),
#: or a fit's start-up noise (validation, initialisation: milliseconds)
#: swamps sub-millisecond iterations: 2 extra iterations of 0.3 ms once gave
#: a difference of 0 and a speed-up of 9e7.
MIN_EXTRA_SECONDS = 0.02


def per_iteration(cls, X, K, family, init, short, long, repeats):
    """``(seconds per iteration, fitted estimator, iterations of the long fit)``.

    The long fit's extra iterations are doubled until they take
    :data:`MIN_EXTRA_SECONDS`; each library gets its own count.
    """
    while True:
        ts, tl = [], []
        for _ in range(repeats):
            ts.append(timed_fit(cls, X, K, family, init, short)[0])
            t, est = timed_fit(cls, X, K, family, init, long)
            tl.append(t)
        extra = statistics.median(tl) - statistics.median(ts)
        if extra >= MIN_EXTRA_SECONDS:
            return extra / (long - short), est, long
        if long - short >= 512:
            raise TooFastToTime(f"{cls.__module__.split('.')[0]}: 512 extra iterations took {extra * 1e3:.1f} ms")
        long = short + 2 * (long - short)


class TooFastToTime(Exception):
    """Even 512 extra iterations did not outlast the start-up noise."""


def peak_fit_memory(cls, X, K, family, init, iters):
    tracemalloc.start()
    timed_fit(cls, X, K, family, init, iters)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


#: Scoring calls are timed in blocks, alternating between the libraries,
#: until each has run this long (or :data:`MAX_SCORING_CALLS` times): a 1 ms
#: call timed three times gave ratios that moved by 2x between runs of the grid.
MIN_SCORING_SECONDS = 0.1
MAX_SCORING_CALLS = 200
#: Blocks per library; each block starts with :data:`WARMUP_SECONDS` of
#: untimed calls of its own library. Two effects of this machine make the
#: warm-up needed, and an idle pause would meet only the first:
#:
#: - Right after scikit-learn's call, numpy's OpenBLAS worker threads spin
#:   (about 0.1 s here, measured from their CPU time) and take a core from
#:   whatever runs next: two 1.9 ms compiled loops on two threads took
#:   7.2 ms as a pair after a 2-thread GEMM and 3.7 ms without one. Timed
#:   call by call in strict alternation, every gaussmix call paid that.
#: - After the process has been idle (0.15 s), one of the two cores runs at
#:   about half speed for the next 50-100 ms: gaussmix's predict_proba
#:   (N=1e4, d=64, K=3, full) splits into two identical 5000-row chunks, one
#:   per thread, and in those calls one chunk took 4.8 ms and the other 2.4
#:   (per-chunk timings), against 2.4 for both once warm. A compiled
#:   multiply-add loop on two threads showed the same. Blocks after an idle
#:   pause sat mostly inside that spell, so their medians came out up to 2x
#:   high from run to run, for gaussmix more than for scikit-learn.
#:
#: Both libraries get the same warm-up, and the times are those of repeated
#: calls on a busy machine.
SCORING_BLOCKS = 2
WARMUP_SECONDS = 0.15


def scoring_blocks(args):
    """Blocks per library for the scoring times: one under ``--quick``, to keep it to a minute."""
    return 1 if args.quick else SCORING_BLOCKS


def scoring_times(method, estimators, X, repeats, blocks=SCORING_BLOCKS):
    """Median seconds of ``method(X)`` per estimator, timed in alternating blocks.

    Each library gets ``blocks`` blocks, each after :data:`WARMUP_SECONDS`
    of its own untimed calls (at least one); a block times calls
    until it has run its share of :data:`MIN_SCORING_SECONDS` (at least
    ``repeats`` calls over the blocks). Alternating spreads a slow spell of
    the machine over both.
    """
    times = [[] for _ in estimators]
    calls = [getattr(e, method) for e in estimators]
    per_block = max(1, -(-repeats // blocks))
    for _ in range(blocks):
        for call, t in zip(calls, times):
            warm_until = time.perf_counter() + WARMUP_SECONDS
            call(X)  # untimed, at least once: compiles or allocates the first time
            while time.perf_counter() < warm_until:
                call(X)
            spent, n = 0.0, 0
            while n < per_block or (spent < MIN_SCORING_SECONDS / blocks and n < MAX_SCORING_CALLS // blocks):
                t0 = time.perf_counter()
                call(X)
                elapsed = time.perf_counter() - t0
                t.append(elapsed)
                spent += elapsed
                n += 1
    return [statistics.median(t) for t in times]


def run_cell(n, d, K, family, dtype, args, rates):
    X, init = make_cell(n, d, K, family, dtype)
    # A first sklearn iteration tells whether the cell is affordable.
    probe, _ = timed_fit(SKGaussianMixture, X, K, family, init, 1)
    budget = probe * (args.iters_short + args.iters_long) * args.repeats
    if budget > args.max_sklearn_seconds:
        return {"skipped": f"scikit-learn would take ~{budget:.0f} s"}
    try:
        return _timed_cell(X, init, K, family, dtype, n, d, args, rates)
    except TooFastToTime as exc:
        return {"skipped": f"iterations too fast to time ({exc})"}


def _timed_cell(X, init, K, family, dtype, n, d, args, rates):
    sk_it, sk, sk_long = per_iteration(SKGaussianMixture, X, K, family, init, args.iters_short, args.iters_long,
                                       args.repeats)
    gm_it, _, _ = per_iteration(GaussianMixture, X, K, family, init, args.iters_short, args.iters_long, args.repeats)
    # The log-likelihoods (and the models scored below) after the same
    # number of iterations, whatever each library's timing needed.
    gm = timed_fit(GaussianMixture, X, K, family, init, sk_long)[1]
    ll_rel = abs(gm.lower_bound_ - sk.lower_bound_) / max(abs(sk.lower_bound_), 1e-300)
    pp = scoring_times("predict_proba", (sk, gm), X, args.repeats, scoring_blocks(args))
    ss = scoring_times("score_samples", (sk, gm), X, args.repeats, scoring_blocks(args))
    mem = [peak_fit_memory(c, X, K, family, init, 2) for c in (SKGaussianMixture, GaussianMixture)]
    gflops = flops_per_iteration(n, d, K, family) / gm_it / 1e9
    return {
        "sk_iter": sk_it, "gm_iter": gm_it, "speedup": sk_it / gm_it,
        "gflops": gflops, "gemm_share": gflops / rates[dtype],
        "ll_rel": ll_rel,
        "predict_proba_speedup": pp[0] / pp[1], "score_samples_speedup": ss[0] / ss[1],
        "sk_mem": mem[0], "gm_mem": mem[1], "data_mib": X.nbytes / 2**20,
    }


def geometric_mean(values):
    values = [v for v in values if v > 0]
    return math.exp(sum(map(math.log, values)) / len(values)) if values else float("nan")


def _resident_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def memory_probe(library, n, d, K, family, dtype, iters=2):
    """In this (fresh) process: peak resident MiB of one fit beyond the data.

    The data are generated in place, 65536 rows at a time, so that making
    them never raises the peak above what the fit itself reaches.
    """
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(K, d)) * 4
    X = np.empty((n, d), dtype=dtype)
    for start in range(0, n, 65536):
        stop = min(n, start + 65536)
        X[start:stop] = centres[rng.integers(0, K, size=stop - start)] + rng.normal(size=(stop - start, d))
    cls = GaussianMixture if library == "gaussmix" else SKGaussianMixture
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = SKGaussianMixture(K, covariance_type=family, max_iter=1, random_state=0).fit(
            X[: 20 * K * d + 1000].astype(np.float64))
        init = dict(weights_init=start.weights_, means_init=start.means_, precisions_init=start.precisions_)
        cls(K, covariance_type=family, max_iter=2, **init).fit(X[:5000])  # load compiled code
        before = _resident_mib()
        earlier_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        t0 = time.perf_counter()
        cls(K, covariance_type=family, tol=0, max_iter=iters, **init).fit(X)
        seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # If the fit never rose above the process's earlier peak, its own peak
    # is hidden, and the difference is only an upper bound.
    return {"extra_mib": peak - before, "upper_bound": peak <= earlier_peak,
            "data_mib": X.nbytes / 2**20, "seconds": seconds}


def memory_cell(n=1_000_000, d=16, K=16, family="full", dtype="float64"):
    """Run :func:`memory_probe` for both libraries, each in a fresh process."""
    out = {}
    for library in ("gaussmix", "sklearn"):
        cmd = [sys.executable, __file__, "--memory-probe", library, str(n), str(d), str(K), family, dtype]
        done = subprocess.run(cmd, capture_output=True, text=True, check=True)
        out[library] = json.loads(done.stdout.strip().splitlines()[-1])
    return {"cell": (n, d, K, family, dtype), **out}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small grid, under a minute")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--iters-short", type=int, default=2)
    parser.add_argument("--iters-long", type=int, default=6)
    parser.add_argument("--max-sklearn-seconds", type=float, default=60.0)
    parser.add_argument("--output", type=Path, default=Path(__file__).with_name("RESULTS.md"))
    parser.add_argument("--memory-cell", action=argparse.BooleanOptionalAction, default=None,
                        help="measure fit memory at N=1e6, d=16, K=16 (default: with the full grid)")
    for axis, kind in (("n", int), ("d", int), ("k", int), ("covariance", str), ("dtype", str)):
        parser.add_argument(f"--{axis}", type=kind, nargs="+", metavar=axis.upper(),
                            help=f"restrict the grid's {axis} to these values")
    parser.add_argument("--memory-probe", nargs=6, metavar=("LIBRARY", "N", "D", "K", "FAMILY", "DTYPE"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_probe:
        library, n, d, K, family, dtype = args.memory_probe
        print(json.dumps(memory_probe(library, int(n), int(d), int(K), family, dtype)))
        return 0

    if args.quick:
        grid = dict(n=[10_000], d=[2, 16], K=[3, 16], family=FAMILIES, dtype=["float64", "float32"])
        args.repeats = min(args.repeats, 3)
    else:
        grid = dict(n=[10_000, 100_000, 1_000_000], d=[2, 16, 64], K=[3, 16, 64],
                    family=FAMILIES, dtype=["float64", "float32"])
    restricted = {}
    for axis, key in (("n", "n"), ("d", "d"), ("k", "K"), ("covariance", "family"), ("dtype", "dtype")):
        if getattr(args, axis):
            grid[key] = restricted[key] = getattr(args, axis)
    args.restricted = restricted
    info = machine()
    rates = {dt: gemm_rate(np.dtype(dt)) for dt in ("float64", "float32")}
    print(f"machine: {info}\nGEMM GFLOP/s: {rates}", flush=True)

    memory = None
    if args.memory_cell or (args.memory_cell is None and not args.quick):
        memory = memory_cell()
        print(f"memory cell: {memory}", flush=True)
    cells = list(itertools.product(*grid.values()))
    rows = []
    for n, d, K, family, dtype in cells:
        result = run_cell(n, d, K, family, dtype, args, rates)
        rows.append(((n, d, K, family, dtype), result))
        write_results(args, info, rates, rows, memory, total=len(cells))
        if "skipped" in result:
            print(f"N={n} d={d} K={K} {family} {dtype}: skipped ({result['skipped']})", flush=True)
        else:
            print(f"N={n} d={d} K={K} {family} {dtype}: sklearn {result['sk_iter']*1e3:.1f} ms/it, "
                  f"gaussmix {result['gm_iter']*1e3:.1f} ms/it, x{result['speedup']:.2f}, "
                  f"ll rel diff {result['ll_rel']:.1e}", flush=True)
    print(f"wrote {args.output}")


def write_results(args, info, rates, rows, memory, total):
    done = [(cell, r) for cell, r in rows if "skipped" not in r]
    lines = [
        "# gaussmix against scikit-learn: seconds per EM iteration",
        "",
        f"Written by `benchmarks/bench_em.py{' --quick' if args.quick else ''}` on "
        f"{datetime.date.today().isoformat()}. Medians of {args.repeats} runs; per-iteration time is "
        f"(time of L iterations - time of {args.iters_short}) / (L - {args.iters_short}), "
        f"both libraries from the same start with tol=0; L starts at {args.iters_long} and its extra "
        f"iterations double, per library, until they take {MIN_EXTRA_SECONDS * 1e3:.0f} ms "
        f"(start-up noise swamps fewer). predict_proba and score_samples: medians of calls in "
        f"{scoring_blocks(args)} block(s) per library, alternating between the libraries, each block "
        f"after {WARMUP_SECONDS:.2f} s of untimed calls of its own (the other library's BLAS threads "
        f"spin for about 0.1 s after it returns, and a core runs slow for a while after the machine "
        f"idles); at least {args.repeats} calls and "
        f"{MIN_SCORING_SECONDS:.1f} s per library, at most {MAX_SCORING_CALLS} calls.",
        "",
        "Machine: " + "; ".join(f"{k} {v}" for k, v in info.items()),
        "",
        f"GEMM rate in this run: {rates['float64']:.1f} GFLOP/s (float64), "
        f"{rates['float32']:.1f} GFLOP/s (float32).",
        "",
    ]
    if args.restricted:
        lines += ["**Restricted grid: " + ", ".join(f"{k} in {v}" for k, v in args.restricted.items())
                  + "; not the full grid.**", ""]
    if len(rows) < total:
        lines += [f"**Partial run: {len(rows)} of {total} cells so far.**", ""]
    if memory is not None:
        n, d, K, family, dtype = memory["cell"]
        gm, sk = memory["gaussmix"], memory["sklearn"]
        lines += [
            f"Fit memory at N={n}, d={d}, K={K}, {family}, {dtype} ({gm['data_mib']:.0f} MiB of data; "
            "peak resident memory of a fresh process during a 2-iteration fit, less its resident "
            f"memory before): gaussmix {'at most ' if gm['upper_bound'] else ''}{gm['extra_mib']:.0f} MiB "
            f"({gm['seconds']:.1f} s), scikit-learn {'at most ' if sk['upper_bound'] else ''}"
            f"{sk['extra_mib']:.0f} MiB ({sk['seconds']:.1f} s).",
            "",
        ]
    for dtype in ("float64", "float32"):
        speedups = [r["speedup"] for (c, r) in done if c[4] == dtype]
        if speedups:
            lines.append(
                f"- {dtype}: geometric mean speed-up x{geometric_mean(speedups):.2f} over "
                f"{len(speedups)} cells (min x{min(speedups):.2f}, max x{max(speedups):.2f})"
            )
    reasons = collections.Counter(r["skipped"].split(" (")[0].split(" ~")[0] for _, r in rows if "skipped" in r)
    for reason, count in sorted(reasons.items()):
        if reason.startswith("scikit-learn would take"):
            reason = f"scikit-learn would exceed {args.max_sklearn_seconds:.0f} s"
        lines.append(f"- {count} cell(s) skipped: {reason}")
    lines += [
        "",
        "| N | d | K | covariance | dtype | sklearn ms/it | gaussmix ms/it | speed-up | GFLOP/s (share of GEMM) "
        "| LL rel. diff | predict_proba x | score_samples x | fit peak MiB sklearn / gaussmix (data) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (n, d, K, family, dtype), r in rows:
        if "skipped" in r:
            lines.append(f"| {n} | {d} | {K} | {family} | {dtype} | skipped: {r['skipped']} |  |  |  |  |  |  |  |")
            continue
        lines.append(
            f"| {n} | {d} | {K} | {family} | {dtype} | {r['sk_iter']*1e3:.2f} | {r['gm_iter']*1e3:.2f} | "
            f"x{r['speedup']:.2f} | {r['gflops']:.2f} ({r['gemm_share']:.0%}) | {r['ll_rel']:.1e} | "
            f"x{r['predict_proba_speedup']:.2f} | x{r['score_samples_speedup']:.2f} | "
            f"{r['sk_mem']:.0f} / {r['gm_mem']:.0f} ({r['data_mib']:.1f}) |"
        )
    # Atomically: an interrupted run never leaves a half-written file.
    tmp = args.output.with_name(args.output.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, args.output)


if __name__ == "__main__":
    sys.exit(main())
