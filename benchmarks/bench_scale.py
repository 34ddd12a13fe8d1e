"""Scale: out-of-core fitting, Dask against NumPy, stepwise EM against batch EM.

Three measurements, written to ``benchmarks/RESULTS_SCALE.md`` with the machine:

1. **Out-of-core.** A float32 ``.npy`` file (``--ooc-gb`` gigabytes, 4 by
   default) is fitted from disk; each fit runs in a fresh subprocess whose
   peak resident memory, which counts mapped file pages too,
   (``VmHWM``) is reported with its time. The same comparison on N=1e6, d=16, K=16 in
   float64 sets the out-of-core fit beside the in-memory one.
2. **Dask.** N=1e6, d=16, K=16, full covariance, float64: seconds per EM
   iteration in this process with NumPy, and on a ``LocalCluster`` of 1 and
   of 2 single-threaded worker processes, all from the same start. A fit's
   time per iteration is ``(t(6 iterations) - t(2 iterations)) / 4``, which
   removes the fixed costs (sending the data to the workers, the start);
   medians of ``--repeats`` runs. The final log-likelihoods are compared.
3. **Stepwise EM.** The same data with ``learning_method="online"``
   against batch EM to its default ``tol``: time and final mean
   log-likelihood.

Run ``python benchmarks/bench_scale.py`` (about 10 minutes on 2 cores);
``--quick`` uses smaller sizes to check that the script works.
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_em import machine  # noqa: E402

from gaussmix import GaussianMixture  # noqa: E402

HERE = Path(__file__).resolve().parent

CHILD = r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
import numpy as np
from gaussmix import GaussianMixture

def peak_mib():
    # VmHWM: this process's peak resident set (ru_maxrss would carry the
    # parent's peak over the fork).
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024

path, K, iters, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
base = peak_mib()
X = np.load(path) if mode == "memory" else path
t = time.perf_counter()
gm = GaussianMixture(K, tol=0, max_iter=iters, random_state=0).fit(X)
seconds = time.perf_counter() - t
print(json.dumps({"seconds": seconds, "peak_mib": peak_mib(), "after_imports_mib": base,
                  "lower_bound": gm.lower_bound_}))
"""


def blobs(n, d, K, dtype, seed=0):
    """Overlapping clusters, so that EM needs more than a few iterations."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=1.0, size=(K, d))
    labels = rng.integers(0, K, n)
    X = centres[labels] + rng.normal(size=(n, d))
    return X.astype(dtype)


def write_npy(path, n, d, dtype, seed=0, block=1_000_000):
    """Write an (n, d) .npy file block by block, never holding it whole."""
    out = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=(n, d))
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(8, d))
    for start in range(0, n, block):
        m = min(block, n - start)
        out[start : start + m] = centres[rng.integers(0, 8, m)] + rng.normal(size=(m, d))
    out.flush()
    del out


def child_fit(path, K, iters, mode):
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), str(K), str(iters), mode],
        capture_output=True, text=True, check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def out_of_core(folder, gb, quick):
    rows = []
    d, K, iters = 16, 4, 2
    n = int(gb * 2**30 / (4 * d))
    path = folder / "big32.npy"
    t = time.perf_counter()
    write_npy(path, n, d, np.float32)
    print(f"wrote {path.stat().st_size / 2**30:.2f} GiB in {time.perf_counter() - t:.0f} s", flush=True)
    r = child_fit(path, K, iters, "stream")
    rows.append(("out-of-core .npy", f"{n:,} x {d} float32 ({path.stat().st_size / 2**30:.2f} GiB)",
                 K, iters, r))
    path.unlink()
    n = 100_000 if quick else 1_000_000
    path = folder / "mid64.npy"
    write_npy(path, n, 16, np.float64)
    for mode, label in (("memory", "in memory (np.load)"), ("stream", "out-of-core .npy")):
        r = child_fit(path, 16, 5, mode)
        rows.append((label, f"{n:,} x 16 float64 ({path.stat().st_size / 2**20:.0f} MiB)", 16, 5, r))
    path.unlink()
    return rows


def per_iteration(fit, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fit(2)
        t2 = time.perf_counter() - t
        t = time.perf_counter()
        gm = fit(6)
        t6 = time.perf_counter() - t
        times.append((t6 - t2) / 4)
    return statistics.median(times), gm


#: Worker environments compared. Dask's nanny sets MALLOC_TRIM_THRESHOLD_=65536
#: for its workers, which also turns off glibc's adaptive mmap threshold, so
#: that the E-step's temporaries over 128 KiB are fresh mmaps with their page
#: faults (measured in one process: 0.37 s per iteration at N=2e5 becomes 0.56 s).
WORKER_ENVS = {
    "Dask's default worker environment": {},
    "MALLOC_TRIM_THRESHOLD_=128 MiB": {"MALLOC_TRIM_THRESHOLD_": str(128 * 2**20)},
}


def dask_vs_numpy(n, repeats):
    import dask
    import dask.array as da
    from distributed import Client, LocalCluster
    from threadpoolctl import threadpool_limits

    d, K = 16, 16
    X = blobs(n, d, K, np.float64)
    start = GaussianMixture(K, max_iter=0, random_state=0, init_sample_size=20_000).fit(X)
    init = dict(weights_init=start.weights_, means_init=start.means_, precisions_init=start.precisions_)

    def fitter(data):
        def fit(iters):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return GaussianMixture(K, tol=0, max_iter=iters, **init).fit(data)
        return fit

    rows = []
    with threadpool_limits(1):
        one, ref = per_iteration(fitter(X), repeats)
    rows.append(("NumPy, this process, 1 BLAS thread", one, ref.lower_bound_, 0.0, one))
    base, ref = per_iteration(fitter(X), repeats)
    rows.append(("NumPy, this process, BLAS on all cores", base, ref.lower_bound_, 0.0, base))
    dX = da.from_array(X, chunks=(n // 8, d))
    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ"))
    for env_label, extra in WORKER_ENVS.items():
        for workers in (1, 2):
            with dask.config.set({"distributed.nanny.pre-spawn-environ": {**environ, **extra}}):
                with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, Client(cluster):
                    secs, gm = per_iteration(fitter(dX), repeats)
            rel = abs(gm.lower_bound_ - ref.lower_bound_) / abs(ref.lower_bound_)
            # Overhead against NumPy on as many cores as the workers have.
            rows.append((f"Dask, {workers} worker(s) x 1 thread, {env_label}", secs,
                         gm.lower_bound_, rel, one if workers == 1 else base))
    return rows, base


def online_vs_batch(n):
    d, K = 16, 16
    X = blobs(n, d, K, np.float64, seed=1)
    X = X[np.random.default_rng(0).permutation(n)]
    rows = []
    for label, kw in (
        ("batch EM, tol=1e-3", dict()),
        ("batch EM, tol=1e-6", dict(tol=1e-6, max_iter=1000)),
        ("online, 1 pass", dict(learning_method="online", max_iter=1, tol=0)),
        ("online, 3 passes", dict(learning_method="online", max_iter=3, tol=0)),
    ):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = time.perf_counter()
            gm = GaussianMixture(K, random_state=0, init_sample_size=100_000, **kw).fit(X)
            secs = time.perf_counter() - t
        rows.append((label, secs, gm.n_iter_, gm.score(X)))
    return rows


def replace_sections(path, header, sections):
    """Write ``header`` and the given "## " sections over those already in ``path``."""
    kept = {}
    if path.exists():
        for chunk in path.read_text().split("\n## ")[1:]:
            kept[chunk.split("\n", 1)[0].split(" (N=")[0]] = "## " + chunk.rstrip("\n")
    for text in sections:
        kept[text.split("\n", 1)[0][3:].split(" (N=")[0]] = text.rstrip("\n")
    order = ["Out-of-core fitting", "Dask against NumPy", "Stepwise (online) EM against batch EM"]
    body = [kept[k] for k in order if k in kept]
    path.write_text("\n".join(header) + "\n" + "\n\n".join(body) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--ooc-gb", type=float, default=4.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--parts", default="ooc,dask,online",
                        help="Comma-separated parts to run; the others keep their results.")
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS_SCALE.md")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    n = 100_000 if args.quick else 1_000_000
    gb = 0.25 if args.quick else args.ooc_gb

    header = [
        "# Scale benchmark",
        "",
        f"`python benchmarks/bench_scale.py{' --quick' if args.quick else ''}`, "
        f"{datetime.date.today().isoformat()}.",
        "",
        "Machine: " + ", ".join(f"{k} {v}" for k, v in machine().items()) + ".",
        "",
    ]
    sections = []
    if "ooc" in parts:
        with tempfile.TemporaryDirectory(dir=HERE) as tmp:
            ooc = out_of_core(Path(tmp), gb, args.quick)
        lines = [
            "## Out-of-core fitting",
            "",
            "Each fit runs in a fresh process; peak RSS is its `VmHWM` (mapped file pages count).",
            "",
            "| fit | data | K | iterations | seconds | peak RSS (MiB) | RSS after imports (MiB) |",
            "|---|---|---|---|---|---|---|",
        ]
        for label, data, K, iters, r in ooc:
            lines.append(f"| {label} | {data} | {K} | {iters} | {r['seconds']:.1f} | "
                         f"{r['peak_mib']:.0f} | {r['after_imports_mib']:.0f} |")
        sections.append("\n".join(lines))
        print(sections[-1], flush=True)

    if "dask" in parts:
        dask_rows, base = dask_vs_numpy(n, args.repeats)
        lines = [
            f"## Dask against NumPy (N={n:,}, d=16, K=16, full, float64)",
            "",
            f"Seconds per EM iteration, `(t(6) - t(2)) / 4`, median of {args.repeats}.",
            "Overhead: against NumPy on the same number of cores (1 worker against 1 BLAS",
            "thread, 2 workers against BLAS on both cores).",
            "",
            "| backend | s / iteration | time vs NumPy, all cores | overhead, same cores | final lower bound rel. diff |",
            "|---|---|---|---|---|",
        ]
        for label, secs, _, rel, same in dask_rows:
            lines.append(f"| {label} | {secs:.3f} | {secs / base:.2f}x | "
                         f"{100 * (secs / same - 1):+.0f}% | {rel:.1e} |")
        sections.append("\n".join(lines))
        print(sections[-1], flush=True)

    if "online" in parts:
        online = online_vs_batch(n)
        lines = [
            f"## Stepwise (online) EM against batch EM (N={n:,}, d=16, K=16, full, float64)",
            "",
            "From the same k-means start on a 100 000-row sample; `score` is the mean",
            "log-likelihood on all rows.",
            "",
            "| method | seconds | iterations / passes | score |",
            "|---|---|---|---|",
        ]
        for label, secs, iters, score in online:
            lines.append(f"| {label} | {secs:.1f} | {iters} | {score:.6f} |")
        sections.append("\n".join(lines))
        print(sections[-1], flush=True)
    replace_sections(args.output, header, sections)


if __name__ == "__main__":
    main()
