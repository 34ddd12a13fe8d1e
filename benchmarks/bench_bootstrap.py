"""The bootstrap LRT on faithful, n_boot=999: gaussmix against R's mclust, on this machine.

``bootstrap_lrt(faithful, "EEE", n_boot=999)`` (mclust's default sequential
rule, which runs 1 vs 2, 2 vs 3 and 3 vs 4 here) with ``n_jobs=1`` and
``n_jobs=-1``, each the median of ``--repeats`` runs after one untimed warm-up
(Numba compiles the E-step on first use), against
``mclustBootstrapLRT(faithful, "EEE", nboot = 999)``: the elapsed time that
``tests/fixtures/mclust_bootstrap/generate.R`` measured on this machine, and,
with ``--mclust``, a median of fresh runs of mclust in this same run (so that
both meet the same load on a shared machine). Every run uses the same seed:
the spread is the machine's, not the data's.

``python benchmarks/bench_bootstrap.py [--repeats 3] [--mclust]`` writes
``benchmarks/RESULTS_BOOTSTRAP.md``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parent / "tests" / "fixtures" / "mclust_bootstrap"
sys.path.insert(0, str(HERE))
import bench_em  # noqa: E402  (the machine description)

from gaussmix import bootstrap_lrt  # noqa: E402

N_BOOT = 999
MCLUST = """
suppressPackageStartupMessages(library(mclust))
X <- as.matrix(read.csv("{data}"))
set.seed(1)
t <- system.time(r <- mclustBootstrapLRT(X, modelName = "EEE", nboot = {n_boot}, verbose = FALSE))
cat(t[["elapsed"]], "\\n")
"""


def _busy(n):
    total = 0
    for i in range(n):
        total += i * i
    return total


def free_cores(n=5_000_000):
    """How many cores a pure-Python loop gets right now: serial time / parallel time.

    The machine is shared: when another job holds a core, n_jobs=-1 has
    nothing to gain, and this says so beside the figures.
    """
    from joblib import Parallel, delayed, effective_n_jobs

    jobs = effective_n_jobs(-1)
    Parallel(n_jobs=jobs)(delayed(_busy)(10) for _ in range(jobs))  # start the workers
    t0 = time.perf_counter()
    for _ in range(jobs):
        _busy(n)
    serial = time.perf_counter() - t0
    t0 = time.perf_counter()
    Parallel(n_jobs=jobs)(delayed(_busy)(n) for _ in range(jobs))
    return serial / (time.perf_counter() - t0)


def time_ours(X, n_jobs, repeats):
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = bootstrap_lrt(X, "EEE", n_boot=N_BOOT, random_state=0, n_jobs=n_jobs)
        times.append(time.perf_counter() - t0)
    return times, result


def time_mclust(repeats):
    if shutil.which("Rscript") is None:
        return None
    script = MCLUST.format(data=FIXTURES / "data" / "faithful.csv", n_boot=N_BOOT)
    times = []
    for _ in range(repeats):
        done = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True, check=True)
        times.append(float(done.stdout.split()[-1]))
    return times


def acidity():
    """The other fixture, acidity (E), once on one job: the numbers and a time beside mclust's."""
    ref = json.loads((FIXTURES / "lrt-acidity.json").read_text())
    x = np.loadtxt(FIXTURES / "data" / "acidity.csv", delimiter=",", skiprows=1, ndmin=2)
    t0 = time.perf_counter()
    result = bootstrap_lrt(x, "E", n_boot=N_BOOT, random_state=0, n_jobs=1)
    seconds = time.perf_counter() - t0
    lines = [
        f"## acidity (E), n_boot={N_BOOT}, one run on one job",
        "",
        f"gaussmix {seconds:.2f} s, mclust {ref['elapsed_s']:.2f} s (generate.R). "
        f"Chosen G: gaussmix {result.n_components_}, mclust {ref['chosen_G']}.",
        "",
    ]
    return lines + comparison(result, ref) + [""]


def comparison(result, ref):
    """Markdown rows: each test's statistic and p-value, ours beside mclust's fixture."""
    lines = [
        "| test | LRTS gaussmix | LRTS mclust | p gaussmix | p mclust |",
        "|---|---|---|---|---|",
    ]
    for j, G in enumerate(result.n_components):
        theirs = (f"{ref['obs'][j]:.4f}", f"{ref['p_value'][j]:.3f}") if j < len(ref["obs"]) else ("-", "-")
        lines.append(f"| {G} vs {G + 1} | {result.statistics_[j]:.4f} | {theirs[0]} | "
                     f"{result.p_values_[j]:.3f} | {theirs[1]} |")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--mclust", action="store_true", help="also time mclust now (needs R)")
    parser.add_argument("--out", default=str(HERE / "RESULTS_BOOTSTRAP.md"))
    args = parser.parse_args()

    began = time.perf_counter()
    ref = json.loads((FIXTURES / "lrt-faithful.json").read_text())
    X = np.loadtxt(FIXTURES / "data" / "faithful.csv", delimiter=",", skiprows=1)
    bootstrap_lrt(X, "EEE", max_components=1, n_boot=5, random_state=0)  # compile, untimed
    one, result = time_ours(X, 1, args.repeats)
    bootstrap_lrt(X, "EEE", max_components=1, n_boot=20, random_state=0, n_jobs=-1)  # start workers
    cores_before = free_cores()
    every, _ = time_ours(X, -1, args.repeats)
    cores_after = free_cores()
    fresh = time_mclust(args.repeats) if args.mclust else None

    info = bench_em.machine()
    mclust_s = ref["elapsed_s"]
    rows = [
        ("gaussmix, n_jobs=1", one),
        ("gaussmix, n_jobs=-1", every),
        ("mclust (generate.R, fixture)", [mclust_s]),
    ]
    if fresh:
        rows.append(("mclust (this run)", fresh))
    reference_s = statistics.median(fresh) if fresh else mclust_s
    lines = [
        "# Bootstrap LRT: gaussmix against mclust",
        "",
        f"Written by `benchmarks/bench_bootstrap.py` on {datetime.date.today()} in "
        f"{time.perf_counter() - began:.0f} s. `bootstrap_lrt(faithful, \"EEE\", n_boot={N_BOOT})` "
        f"against `mclustBootstrapLRT(faithful, \"EEE\", nboot = {N_BOOT})`, both with the "
        f"sequential rule (tests 1 vs 2, 2 vs 3, 3 vs 4: {3 * N_BOOT} replicates, two EM fits each). "
        f"Medians of {args.repeats} runs, after an untimed warm-up.",
        "",
        "Machine: " + ", ".join(f"{k} {v}" for k, v in info.items()),
        "",
        f"Cores free for the n_jobs=-1 runs (a pure-Python loop's speed-up on all cores, "
        f"measured just before and just after them): {cores_before:.2f}, {cores_after:.2f} "
        f"of {info['cores']}. The machine is shared with other jobs; where this is near 1, "
        f"n_jobs=-1 had one core and could not gain.",
        "",
        f"| who | runs (s) | median (s) | mclust's time / this (speed-up; mclust = {reference_s:.2f} s) |",
        "|---|---|---|---|",
    ]
    for label, times in rows:
        median = statistics.median(times)
        lines.append(f"| {label} | {', '.join(f'{t:.2f}' for t in times)} | {median:.2f} | "
                     f"{reference_s / median:.2f}x |")
    lines += [""] + comparison(result, ref)
    lines += ["", f"Chosen G: gaussmix {result.n_components_}, mclust {ref['chosen_G']}.", ""]
    lines += acidity()
    text = "\n".join(lines)
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
