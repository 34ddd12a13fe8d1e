"""Paired timing of ``select`` on the small data sets: the gaussmix of a git ref against the working tree.

On a shared machine whose speed drifts by tens of percent from minute to
minute, two benchmark runs minutes apart cannot show a 10% change. Here
two worker processes, one per version, each with the six data sets loaded
and compiled code warm, take turns: one ``select(X, n_jobs=1)`` each, the
order swapped every round, CPU time of the process. Each round gives a
ratio (tree / ref) of two calls made within a second of each other; the
median of the ratios, with their quartiles, is the figure. Both versions
must choose the same model, or the comparison stops.

The sets ``fits-full``, ``fits-tied``, ``fits-diag`` and ``fits-spherical``
time instead the single fits of ``bench_small.py`` (iris, K=1..9, from
scikit-learn's k-means start given as ``*_init``), each request ten
rounds of the nine fits; both versions must run the same iterations.

Usage::

    python benchmarks/ab_select.py --ref HEAD~3            # 20 rounds on each of the six sets
    python benchmarks/ab_select.py --ref HEAD~3 --sets iris,diabetes --rounds 40
    python benchmarks/ab_select.py --ref HEAD~3 --sets fits-diag,fits-spherical
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SETS = ("iris", "diabetes", "faithful", "thyroid", "wreath", "wine")

#: What each worker runs: load the sets, warm up, then time one select per request.
WORKER = """
import sys, time, warnings
sys.path.insert(0, sys.argv[1])
import numpy as np
import gaussmix
from gaussmix import select
assert gaussmix.__file__.startswith(sys.argv[1]), gaussmix.__file__
warnings.simplefilter("ignore")
names = sys.argv[3].split(",")
data = {n: np.loadtxt(f"{sys.argv[2]}/{n}.csv", delimiter=",", skiprows=1) for n in names if not n.startswith("fits-")}
fits = {}
for n in names:
    if n.startswith("fits-"):
        from sklearn.mixture import GaussianMixture as Theirs
        iris = np.loadtxt(f"{sys.argv[2]}/iris.csv", delimiter=",", skiprows=1)
        kind = n[len("fits-"):]
        starts = []
        for K in range(1, 10):
            s = Theirs(K, covariance_type=kind, random_state=0, max_iter=0).fit(iris)
            starts.append(gaussmix.GaussianMixture(K, covariance_type=kind, weights_init=s.weights_,
                                                   means_init=s.means_, precisions_init=s.precisions_))
        fits[n] = (iris, starts)


def run(name):
    if name in fits:
        X, estimators = fits[name]
        t = time.process_time()
        for _ in range(10):
            iterations = [gm.fit(X).n_iter_ for gm in estimators]
        return time.process_time() - t, "-".join(map(str, iterations))
    t = time.process_time()
    best = select(data[name], n_jobs=1).best_
    return time.process_time() - t, f"{best.covariance_type},{best.n_components}"


for name in names:
    run(name)
print("ready", flush=True)
for line in sys.stdin:
    print(*run(line.strip()), flush=True)
"""


class Worker:
    def __init__(self, src, names):
        self.process = subprocess.Popen(
            [sys.executable, "-c", WORKER, str(src), str(HERE / "small"), ",".join(names)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=tempfile.gettempdir(),
        )
        if self.process.stdout.readline().strip() != "ready":
            sys.exit(f"the worker for {src} did not start")

    def select(self, name):
        self.process.stdin.write(name + "\n")
        self.process.stdin.flush()
        seconds, choice = self.process.stdout.readline().split()
        return float(seconds), choice

    def close(self):
        self.process.stdin.close()
        self.process.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ref", required=True, help="git ref to compare the working tree with")
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    if args.rounds < 2:
        parser.error("--rounds must be at least 2 (the quartiles of the ratios need two)")
    names = args.sets.split(",")
    commit = subprocess.run(["git", "rev-parse", args.ref], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "archive", commit, "src"], cwd=ROOT, check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        ref, tree = Worker(Path(tmp) / "src", names), Worker(ROOT / "src", names)
        print(f"select(X, n_jobs=1) (fits-*: 10 x 9 fits), CPU seconds: ref {args.ref} ({commit[:10]}) against the working tree, "
              f"{args.rounds} paired rounds")
        try:
            for name in names:
                ratios, before, after = [], [], []
                for r in range(args.rounds):
                    first, second = (ref, tree) if r % 2 == 0 else (tree, ref)
                    timed = {first: first.select(name), second: second.select(name)}
                    (t_ref, c_ref), (t_tree, c_tree) = timed[ref], timed[tree]
                    if c_ref != c_tree:
                        sys.exit(f"{name}: the ref chose {c_ref}, the tree {c_tree}")
                    before.append(t_ref)
                    after.append(t_tree)
                    ratios.append(t_tree / t_ref)
                q1, _, q3 = statistics.quantiles(ratios, n=4)
                print(f"{name:9s} ref {statistics.median(before):.3f} s  tree {statistics.median(after):.3f} s  "
                      f"tree/ref median {statistics.median(ratios):.3f} (quartiles {q1:.3f}-{q3:.3f})",
                      flush=True)
        finally:
            ref.close()
            tree.close()


if __name__ == "__main__":
    main()
