"""Small data and start-up: gaussmix against R's mclust and scikit-learn, on this machine.

Where most users are: ``select`` (mclust's ``Mclust``) on a few hundred rows,
single fits on iris, and the command line. Three parts, each a median of
``--repeats`` runs (the single fits: of ``--pairs`` pairs of calls):

* **select against mclust.** ``select(X, range(1, 10), "all")`` (14 models x
  K=1..9, mclust's hierarchical start and tolerance) with ``n_jobs=1`` and
  ``n_jobs=-1``, on the data sets ``small/mclust_select.R`` wrote (the numbers
  mclust fitted), against that script's median times of ``Mclust(X, G =
  1:9)``, read from ``small/mclust.csv`` (R is not run here: rerun the script
  on the same machine first). The chosen models are compared too.
* **single fits against scikit-learn.** Iris, 4 covariance types x K=1..9,
  both from the same start: scikit-learn's k-means labels (``random_state=0``)
  turned into weights, means and precisions and given to both as ``*_init``,
  so that only EM is timed; and the whole fit with ``init_params="kmeans"``,
  whose k-means is scikit-learn's in both. A fit takes 0.3-40 ms, and this
  machine's speed drifts within seconds, so each cell is ``--pairs`` pairs of
  calls, one of each library, the order swapped every pair: the times are
  medians, the speed-up the median of the pairs' ratios.
* **start-up**, in fresh processes: ``import sklearn.base``, ``import
  gaussmix``, ``from gaussmix import GaussianMixture, select``, ``gaussmix
  --help`` and ``gaussmix fit faithful.csv -k 3`` (warm compile cache).

``python benchmarks/bench_small.py`` writes ``benchmarks/RESULTS_SMALL.md``;
``--quick`` runs one repeat (and one pair) and two data sets.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench_em  # noqa: E402  (the machine description)

SETS = ("iris", "diabetes", "faithful", "thyroid", "wreath", "wine")
TYPES = ("full", "tied", "diag", "spherical")


def read_mclust():
    path = HERE / "small" / "mclust.csv"
    if not path.exists():
        sys.exit(f"{path} is missing: run `Rscript benchmarks/small/mclust_select.R` first.")
    with path.open() as f:
        return {row["data"]: row for row in csv.DictReader(f)}


def load_set(name):
    return np.loadtxt(HERE / "small" / f"{name}.csv", delimiter=",", skiprows=1)


def select_part(names, repeats, mclust):
    from gaussmix import select

    rows = []
    for name in names:
        X = load_set(name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            best = select(X, n_jobs=1).best_  # warm-up (compiled code), and the choice
            one = bench_em.median_time(lambda: select(X, n_jobs=1), repeats)
            many = bench_em.median_time(lambda: select(X, n_jobs=-1), repeats)
        r = mclust[name]
        row = {"data": name, "shape": f"{X.shape[0]} x {X.shape[1]}", "mclust": float(r["seconds"]),
               "one": one, "many": many, "ours": f"{best.covariance_type},{best.n_components}",
               "theirs": f"{r['model']},{r['G']}"}
        rows.append(row)
        print(f"select {name:9s} mclust {row['mclust']:6.2f} s  gaussmix 1 job {one:6.2f} s "
              f"({row['mclust'] / one:.2f}x)  all cores {many:6.2f} s ({row['mclust'] / many:.2f}x)  "
              f"chose {row['ours']} / mclust {row['theirs']}", flush=True)
    return rows


def same_start(X, K, covariance_type, reg_covar=1e-6):
    """scikit-learn's k-means labels (``random_state=0``) as ``*_init`` for both estimators.

    The M-step of the one-hot labels, in plain NumPy: proportions, class
    means and each type's covariance with ``reg_covar`` on the diagonal,
    given as precisions.
    """
    from sklearn.cluster import KMeans

    labels = KMeans(K, n_init=1, random_state=0).fit(X).labels_
    d = X.shape[1]
    weights = np.bincount(labels, minlength=K) / len(X)
    means = np.array([X[labels == k].mean(axis=0) for k in range(K)])
    centred = [X[labels == k] - means[k] for k in range(K)]
    if covariance_type == "full":
        cov = np.array([c.T @ c / len(c) + reg_covar * np.eye(d) for c in centred])
        precisions = np.linalg.inv(cov)
    elif covariance_type == "tied":
        cov = sum(c.T @ c for c in centred) / len(X) + reg_covar * np.eye(d)
        precisions = np.linalg.inv(cov)
    elif covariance_type == "diag":
        precisions = 1.0 / np.array([(c**2).mean(axis=0) + reg_covar for c in centred])
    else:
        precisions = 1.0 / np.array([(c**2).mean() + reg_covar for c in centred])
    return dict(weights_init=weights, means_init=means, precisions_init=precisions)


def paired(ours, theirs, pairs):
    """``(our median seconds, theirs, median of their time over ours)`` over ``pairs`` alternating pairs of calls."""
    mine, others, ratios = [], [], []
    for p in range(pairs):
        timed = {}
        for name in (("ours", "theirs") if p % 2 == 0 else ("theirs", "ours")):
            t0 = time.perf_counter()
            (ours if name == "ours" else theirs)()
            timed[name] = time.perf_counter() - t0
        mine.append(timed["ours"])
        others.append(timed["theirs"])
        ratios.append(timed["theirs"] / timed["ours"])
    return statistics.median(mine), statistics.median(others), statistics.median(ratios)


def fit_part(pairs):
    from sklearn.datasets import load_iris
    from sklearn.mixture import GaussianMixture as SkGM

    from gaussmix import GaussianMixture

    X = load_iris().data
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for covariance_type in TYPES:
            for K in range(1, 10):
                init = same_start(X, K, covariance_type)
                kw = dict(n_components=K, covariance_type=covariance_type, random_state=0)
                ours = lambda: GaussianMixture(**kw, **init).fit(X)  # noqa: E731
                theirs = lambda: SkGM(**kw, **init).fit(X)  # noqa: E731
                a, b = ours(), theirs()
                em = paired(ours, theirs, pairs)
                fit = paired(lambda: GaussianMixture(**kw).fit(X), lambda: SkGM(**kw).fit(X), pairs)
                rows.append({"type": covariance_type, "K": K, "iters": (a.n_iter_, b.n_iter_), "em": em,
                             "fit": fit})
    for covariance_type in TYPES:
        part = [r for r in rows if r["type"] == covariance_type]
        em = [r["em"][2] for r in part]
        fit = [r["fit"][2] for r in part]
        print(f"fit iris {covariance_type:9s} K=1..9: EM from the same start {min(em):.1f}x-{max(em):.1f}x "
              f"scikit-learn's speed (median {statistics.median(em):.1f}x); whole fit with k-means "
              f"{min(fit):.1f}x-{max(fit):.1f}x (median {statistics.median(fit):.1f}x)", flush=True)
    return rows


def command_seconds(command, repeats, cwd):
    subprocess.run(command, cwd=cwd, capture_output=True, check=True)  # warm caches
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(command, cwd=cwd, capture_output=True, check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def startup_part(repeats):
    exe = shutil.which("gaussmix") or str(Path(sys.executable).with_name("gaussmix"))
    faithful = HERE / "small" / "faithful.csv"
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "import sklearn.base": [sys.executable, "-c", "import sklearn.base"],
        "import gaussmix": [sys.executable, "-c", "import gaussmix"],
        "from gaussmix import GaussianMixture, select": [sys.executable, "-c",
                                                         "from gaussmix import GaussianMixture, select"],
        "gaussmix --help": [exe, "--help"],
        "gaussmix fit faithful.csv -k 3": [exe, "fit", str(faithful), "-k", "3", "-q", "-o", "model.gmm"],
    }
    with tempfile.TemporaryDirectory() as tmp:
        out = {name: command_seconds(cmd, repeats, tmp) for name, cmd in commands.items()}
    for name, seconds in out.items():
        print(f"start-up {name:48s} {seconds:6.2f} s", flush=True)
    return out


def write_results(path, info, selects, fits, startup, repeats, pairs, total):
    lines = [
        "# Small data and start-up: gaussmix against mclust and scikit-learn",
        "",
        f"Written by `benchmarks/bench_small.py` on {datetime.date.today()} in {total:.0f} s; "
        f"medians of {repeats} runs (single fits: {pairs} alternating pairs of calls a cell). mclust's times come "
        f"from `benchmarks/small/mclust.csv`, written by `benchmarks/small/mclust_select.R` on the same machine.",
        "",
        "Machine: " + ", ".join(f"{k} {v}" for k, v in info.items()),
        "",
        "## select (14 models x K=1..9) against mclust's Mclust(X, G = 1:9)",
        "",
        "| data | n x d | mclust (s) | gaussmix, 1 job (s) | speed-up | all cores (s) | speed-up | chosen (gaussmix / mclust) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in selects:
        lines.append(f"| {r['data']} | {r['shape']} | {r['mclust']:.2f} | {r['one']:.2f} | "
                     f"{r['mclust'] / r['one']:.2f}x | {r['many']:.2f} | {r['mclust'] / r['many']:.2f}x | "
                     f"{r['ours']} / {r['theirs']} |")
    lines += ["", "## Single fits on iris against scikit-learn (speed-up: the median of the pairs' "
              "scikit-learn's time / ours; times: medians)", "",
              "| type | K | iterations (ours, theirs) | EM from the same start: ms (ours, theirs) | speed-up "
              "| whole fit with k-means: ms (ours, theirs) | speed-up |",
              "|---|---|---|---|---|---|---|"]
    for r in fits:
        lines.append(f"| {r['type']} | {r['K']} | {r['iters'][0]}, {r['iters'][1]} | "
                     f"{r['em'][0] * 1e3:.2f}, {r['em'][1] * 1e3:.2f} | {r['em'][2]:.1f}x | "
                     f"{r['fit'][0] * 1e3:.2f}, {r['fit'][1] * 1e3:.2f} | {r['fit'][2]:.1f}x |")
    lines += ["", "## Start-up, in fresh processes (seconds)", "", "| command | seconds |", "|---|---|"]
    lines += [f"| `{name}` | {seconds:.2f} |" for name, seconds in startup.items()]
    Path(path).write_text("\n".join(lines) + "\n")
    print(f"wrote {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one repeat (and pair), two data sets")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=15, help="alternating pairs of calls per single-fit cell")
    parser.add_argument("--output", default=str(HERE / "RESULTS_SMALL.md"))
    args = parser.parse_args(argv)
    if args.pairs < 1 or args.repeats < 1:
        parser.error("--pairs and --repeats must be at least 1")
    repeats = 1 if args.quick else args.repeats
    t0 = time.perf_counter()
    mclust = read_mclust()
    startup = startup_part(max(repeats, 5))
    selects = select_part(SETS[:2] if args.quick else SETS, repeats, mclust)
    pairs = 1 if args.quick else args.pairs
    fits = fit_part(pairs)
    write_results(args.output, bench_em.machine(), selects, fits, startup, repeats, pairs, time.perf_counter() - t0)


if __name__ == "__main__":
    main()
