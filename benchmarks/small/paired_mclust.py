"""Paired timing of ``select`` against mclust's ``Mclust(X, G = 1:9)``, in alternating calls.

This machine's speed drifts by up to a factor of two from minute to minute,
so times taken minutes apart (``bench_small.py`` reads mclust's from a run
of ``mclust_select.R`` before it) can move a ratio by as much. Here one R
process (mclust loaded, the data sets read, warmed up) and this process
(gaussmix warm) take turns on the same data set: one ``Mclust`` call and
one ``select(X, n_jobs=1)`` (``--n-jobs``) per round, the order swapped every round, each
timed by its own clock (R's elapsed, Python's ``perf_counter``). Each round
gives a ratio, mclust's time over ours, of two calls made within a second
of each other; the figure is the median of the ratios, with their
quartiles. Needs R and mclust; reads the data sets ``mclust_select.R``
wrote.

Usage::

    python benchmarks/small/paired_mclust.py                   # 10 rounds on each of the six sets
    python benchmarks/small/paired_mclust.py --sets diabetes,iris --rounds 20
    python benchmarks/small/paired_mclust.py --n-jobs -1                  # select on every core
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SETS = ("iris", "diabetes", "faithful", "thyroid", "wreath", "wine")

#: The R side: read the sets, warm up, then time one Mclust per line of stdin.
R_WORKER = r"""
suppressPackageStartupMessages(library(mclust))
args <- commandArgs(trailingOnly = TRUE)
sets <- list()
for (name in strsplit(args[2], ",")[[1]]) {
  sets[[name]] <- as.matrix(read.csv(file.path(args[1], paste0(name, ".csv"))))
  invisible(Mclust(sets[[name]], G = 1:9, verbose = FALSE))
}
cat("ready\n")
con <- file("stdin")
open(con)
while (length(line <- readLines(con, n = 1)) > 0) {
  X <- sets[[line]]
  t <- system.time(fit <- Mclust(X, G = 1:9, verbose = FALSE))[["elapsed"]]
  cat(sprintf("%.6f %s,%d\n", t, fit$modelName, fit$G))
  flush(stdout())
}
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--n-jobs", type=int, default=1, help="select's n_jobs (-1: every core)")
    args = parser.parse_args()
    if args.rounds < 2:
        parser.error("--rounds must be at least 2 (the quartiles of the ratios need two)")
    if shutil.which("Rscript") is None:
        sys.exit("Rscript is not on PATH: install R and mclust (apt-get install r-base-core r-cran-mclust)")
    names = args.sets.split(",")
    from gaussmix import select

    warnings.simplefilter("ignore")
    data = {n: np.loadtxt(HERE / f"{n}.csv", delimiter=",", skiprows=1) for n in names}
    for X in data.values():
        select(X, n_jobs=args.n_jobs)
    r = subprocess.Popen(["Rscript", "-e", R_WORKER, str(HERE), ",".join(names)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    if r.stdout.readline().strip() != "ready":
        sys.exit("the R worker did not start")

    def mclust(name):
        r.stdin.write(name + "\n")
        r.stdin.flush()
        seconds, choice = r.stdout.readline().split()
        return float(seconds), choice

    def ours(name):
        start = time.perf_counter()
        best = select(data[name], n_jobs=args.n_jobs).best_
        return time.perf_counter() - start, f"{best.covariance_type},{best.n_components}"

    print(f"{'data':9s} {'mclust (s)':>10s} {'gaussmix (s)':>12s}  speed-up: median [quartiles] of {args.rounds} "
          f"paired rounds, n_jobs={args.n_jobs}")
    for name in names:
        ratios, theirs_all, ours_all = [], [], []
        for i in range(args.rounds):
            pair = [mclust, ours] if i % 2 == 0 else [ours, mclust]
            results = {f: f(name) for f in pair}
            (t_r, choice_r), (t_p, choice_p) = results[mclust], results[ours]
            if choice_r != choice_p:
                sys.exit(f"{name}: mclust chose {choice_r}, gaussmix {choice_p}")
            ratios.append(t_r / t_p)
            theirs_all.append(t_r)
            ours_all.append(t_p)
        q1, _, q3 = statistics.quantiles(ratios, n=4)
        print(f"{name:9s} {statistics.median(theirs_all):10.3f} {statistics.median(ours_all):12.3f}  "
              f"{statistics.median(ratios):.2f}x [{q1:.2f}x-{q3:.2f}x]  ({choice_r})", flush=True)
    r.stdin.close()
    r.wait()


if __name__ == "__main__":
    main()
