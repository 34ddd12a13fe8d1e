"""gaussmix on a torch device against scikit-learn's array-API GaussianMixture: EM per iteration, float32.

Both libraries fit the same float32 torch tensor under scikit-learn's
``array_api_dispatch`` on the same device (default: ``cuda`` if torch sees
one, else ``cpu``; ``--device``), from the same start: ``init_params="random"``
(``--init``; scikit-learn takes only ``random`` and ``random_from_data``
under dispatch) with the same ``random_state``. For each library a
per-iteration time is ``(t(m2) - t(m1)) / (m2 - m1)``, where ``t(m)`` is the
median over ``--repeats`` runs (the libraries alternating) of a fit with
``max_iter=m`` and ``tol=0``, so that neither stops early; the difference
removes the start's cost (validation, the random start, the final E-step).
The device is synchronised (``torch.cuda.synchronize``) before every clock
reading, and each library has one untimed fit first (CUDA context, cuBLAS
handles, caching allocator). Each case also reports:

* the relative difference of the two libraries' means after the same ``m2``
  iterations from the same start (max |gaussmix - scikit-learn| over max
  |scikit-learn|), and whether it is under ``SAME_MEANS_RTOL``, so that a
  speed-up is for the same work; and both fits' ``n_iter_``;
* the achieved TFLOP/s of gaussmix's iteration, counting ``4 N K d^2`` flops
  per iteration for full covariances (the whitening ``(x - mu_k) U_k`` and
  the scatter of each component as dense products) and ``4 N K d`` for
  spherical ones (the distances ``X mu^T`` and the sums ``resp^T X``), against
  the float32 matmul rate of the same device measured in the same run (a
  square ``torch.matmul``: 8192 on a GPU, 2048 on a CPU, 512 under
  ``--smoke``; median of ``--repeats``, at least 5), as a percentage. TF32 is kept off
  (``torch.backends.cuda.matmul.allow_tf32 = False`` and float32 matmul
  precision ``"highest"``) and its state is printed, so the rate is true
  float32's.

Cases (``--case``): ``full``, N=1e6 and N=1e7, d=32, K=64 (the goal: at
N=1e7, gaussmix at >= 50% of the matmul rate and >= 20x scikit-learn's
array-API fit on the same GPU; the script says whether it is met); and
``spherical``, N=1e6, d=128, K=1024, beside IBM's Flash-GMM, which reports
one E-step of 1M x 128, K=1024 in 152 ms on an A100 (their figure, quoted,
not measured here, and an E-step where ours is a whole EM iteration on
another GPU). scikit-learn is skipped, with the reason printed, under
``--skip-sklearn``, where its estimated working set (``SKLEARN_ARRAYS``
arrays of N x (K + d) elements of the dtype) is over half the device's free
memory, or where its untimed first fit shows that its timed fits would take
over ``--max-sklearn-seconds``.

Run::

    python benchmarks/bench_gpu.py --smoke          # CPU, small N, seconds: every code path
    python benchmarks/bench_gpu.py                  # on a GPU machine: writes RESULTS_GPU.md

The ``random`` start draws an N x K array of uniforms on the host with
NumPy's ``RandomState`` for every fit (scikit-learn's stream, which gaussmix
follows): at N=1e7, K=64 that took 14 s on the 2-core EPYC where this script
was written. It cancels in the difference but lengthens the run (each case
fits each library ``2 x repeats + 1`` times); ``--case``, ``--n`` and
``--repeats`` shorten it. With ``--init random_from_data`` the one-row
spherical start is degenerate (variances of ``reg_covar``), and the two
libraries' float32 fits part after one iteration at the smoke size: the
check of the means says so.

``SCIPY_ARRAY_API=1`` must be set before SciPy is imported; the script sets
it where it is unset, and stops where SciPy was imported without it. ``--json PATH`` writes the figures;
``--output PATH`` writes the table as Markdown (by default RESULTS_GPU.md
on a CUDA device without ``--smoke``, else nothing).
"""

from __future__ import annotations

import os
import sys

#: SciPy reads SCIPY_ARRAY_API once, at its import: set too late, it does nothing.
SCIPY_IMPORTED_WITHOUT_ARRAY_API = "scipy" in sys.modules and os.environ.get("SCIPY_ARRAY_API") != "1"
os.environ.setdefault("SCIPY_ARRAY_API", "1")  # before SciPy's import: scikit-learn's dispatch needs it

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import sklearn  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.mixture import GaussianMixture as SKGaussianMixture  # noqa: E402

import gaussmix  # noqa: E402
from gaussmix import GaussianMixture  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the report beside this script
from gpu_report import SAME_MEANS_RTOL, case_line, goal_line, report  # noqa: E402

#: Cases: name -> (covariance_type, [(N, d, K), ...]).
CASES = {
    "full": ("full", [(1_000_000, 32, 64), (10_000_000, 32, 64)]),
    "spherical": ("spherical", [(1_000_000, 128, 1024)]),
}
#: The same cases scaled down for ``--smoke`` (CPU, seconds).
SMOKE_CASES = {
    "full": ("full", [(2000, 4, 3)]),
    "spherical": ("spherical", [(2000, 8, 16)]),
}
#: IBM's Flash-GMM: one E-step of N=1e6, d=128, K=1024 on an A100 (their figure).
FLASH_GMM_ESTEP_SECONDS = 0.152
#: scikit-learn's working set, in arrays of N x (K + d) elements: its E-step's
#: log-probabilities, log-responsibilities and responsibilities (N x K) and
#: the per-component N x d temporaries, with room for the allocator.
SKLEARN_ARRAYS = 6
#: At least this many matmuls are timed for the rate (they are cheap beside the fits).
MATMUL_REPEATS = 5
#: How far apart the clusters' centres are, in units of their spread: they
#: overlap, so that EM keeps moving through the iterations timed.
SPREAD = 1.0


def torch_module():
    import torch

    return torch


def sync(device):
    torch = torch_module()
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def keep_tf32_off():
    """TF32 off for matmuls; returns the state as printed."""
    torch = torch_module()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    return (f"torch.backends.cuda.matmul.allow_tf32={torch.backends.cuda.matmul.allow_tf32}, "
            f"float32 matmul precision {torch.get_float32_matmul_precision()!r}")


def cpu_model():
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return cpu


def machine(device):
    torch = torch_module()
    info = {"cpu": cpu_model(), "cores": os.cpu_count(), "torch threads": torch.get_num_threads()}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
    else:
        info["gpu"] = "none used (device cpu)"
    info.update({"python": platform.python_version(), "torch": torch.__version__,
                 "scikit-learn": sklearn.__version__, "gaussmix": gaussmix.__version__})
    return info


def matmul_rate(device, n, repeats):
    """TFLOP/s of an n x n float32 ``torch.matmul`` on ``device``, median of repeats."""
    torch = torch_module()
    gen = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(n, n, generator=gen, device=device, dtype=torch.float32)
    b = torch.randn(n, n, generator=gen, device=device, dtype=torch.float32)
    torch.matmul(a, b)
    sync(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.matmul(a, b)
        sync(device)
        times.append(time.perf_counter() - t0)
    del a, b
    return 2 * n**3 / statistics.median(times) / 1e12


def flops_per_iteration(n, d, K, covariance_type):
    if covariance_type == "full":
        return 4 * n * K * d * d
    if covariance_type == "spherical":
        return 4 * n * K * d
    raise ValueError(covariance_type)


def flops_formula(covariance_type):
    return "4 N K d^2" if covariance_type == "full" else "4 N K d"


def make_data(n, d, K, device, seed=0):
    """N x d float32 on ``device``: overlapping clusters (see :data:`SPREAD`), drawn there."""
    torch = torch_module()
    gen = torch.Generator(device=device).manual_seed(seed)
    centres = torch.randn(K, d, generator=gen, device=device, dtype=torch.float32) * SPREAD
    labels = torch.randint(0, K, (n,), generator=gen, device=device)
    X = centres[labels]
    X += torch.randn(n, d, generator=gen, device=device, dtype=torch.float32)
    sync(device)
    return X


def timed_fit(cls, X, K, covariance_type, iters, args):
    """Seconds of one fit of ``iters`` iterations under dispatch, the device synchronised, and the estimator."""
    est = cls(K, covariance_type=covariance_type, init_params=args.init, random_state=args.seed,
              tol=0, max_iter=iters)
    with warnings.catch_warnings(), sklearn.config_context(array_api_dispatch=True):
        warnings.simplefilter("ignore", ConvergenceWarning)
        sync(X.device)
        t0 = time.perf_counter()
        est.fit(X)
        sync(X.device)
        return time.perf_counter() - t0, est


def free_memory(device):
    """Bytes free on ``device`` (CUDA: cudaMemGetInfo; CPU: MemAvailable), or None."""
    torch = torch_module()
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def sklearn_skip_reason(n, d, K, X, args):
    """Why scikit-learn is not timed on this case before any fit of it, or None."""
    if args.skip_sklearn:
        return "--skip-sklearn"
    need = SKLEARN_ARRAYS * n * (K + d) * X.element_size()
    free = free_memory(X.device)
    if free is not None and need > free / 2:
        return (f"its working set, about {SKLEARN_ARRAYS} x N x (K + d) x {X.element_size()} B = "
                f"{need / 2**30:.1f} GiB, is over half the {free / 2**30:.1f} GiB free on {X.device}")
    return None


def per_iteration(libraries, X, K, covariance_type, args):
    """``{name: seconds per iteration}``, the long fits' estimators, and the reasons for libraries skipped.

    Each library first fits ``m1`` iterations untimed; scikit-learn is then
    skipped where that fit shows that its ``2 x repeats`` timed fits would
    take over ``--max-sklearn-seconds``.
    """
    skipped = {}
    for name, cls in list(libraries.items()):
        t, _ = timed_fit(cls, X, K, covariance_type, args.m1, args)
        projected = args.repeats * t * (1 + args.m2 / args.m1)
        if name == "scikit-learn" and projected > args.max_sklearn_seconds:
            skipped[name] = (f"its first fit of {args.m1} iterations took {t:.1f} s, so its timed fits "
                             f"would take about {projected:.0f} s, over --max-sklearn-seconds "
                             f"{args.max_sklearn_seconds:g}")
            del libraries[name]
    times = {name: ([], []) for name in libraries}
    fitted = {}
    for _ in range(args.repeats):
        for name, cls in libraries.items():
            times[name][0].append(timed_fit(cls, X, K, covariance_type, args.m1, args)[0])
            t, fitted[name] = timed_fit(cls, X, K, covariance_type, args.m2, args)
            times[name][1].append(t)
    per_it = {name: (statistics.median(tl) - statistics.median(ts)) / (args.m2 - args.m1)
              for name, (ts, tl) in times.items()}
    return per_it, fitted, skipped


def to_host(a):
    return gaussmix.namespaces.to_host(a)


def host_update_seconds(covariance_type, d, K, device, repeats=20):
    """The host's share of an iteration: the merged statistics (K x d x d, float64) brought from the
    device, the M-step and the next E-step's inputs in float64, as the engine runs them once per pass.
    The design keeps this on the host; this measures whether that round trip matters."""
    import numpy as np

    from gaussmix.engine.stats import SuffStats
    from gaussmix.models import get_model
    from gaussmix.updaters import MaximumLikelihood

    torch = torch_module()
    rng = np.random.default_rng(0)
    nk = rng.uniform(1e3, 2e3, K)
    A = rng.normal(size=(K, d, 2 * d))
    scatter = A @ A.transpose(0, 2, 1) * (nk / (2 * d))[:, None, None]
    updater = MaximumLikelihood(get_model(covariance_type)[0], 1e-6)
    # The statistics the model asks for: every S_k, their diagonals, or their sum.
    scatter = {"full": scatter, "diag": np.diagonal(scatter, axis1=1, axis2=2).copy(),
               "pooled": scatter.sum(axis=0, keepdims=True)}[updater.scatter]
    on_device = [torch.asarray(a, device=device) for a in (nk, rng.normal(size=(K, d)), scatter)]
    times = []
    for _ in range(repeats):
        sync(device)
        t = time.perf_counter()
        stats = SuffStats(*on_device).to_numpy()
        updater.estep_inputs(updater.update(stats).state)
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def run_case(case, covariance_type, n, d, K, args, rate, device):
    X = make_data(n, d, K, device, seed=args.seed)
    libraries = {"gaussmix": GaussianMixture, "scikit-learn": SKGaussianMixture}
    skip = sklearn_skip_reason(n, d, K, X, args)
    if skip is not None:
        del libraries["scikit-learn"]
    per_it, fitted, skipped = per_iteration(libraries, X, K, covariance_type, args)
    if skip is not None:
        skipped["scikit-learn"] = skip
    flops = flops_per_iteration(n, d, K, covariance_type)
    g = per_it["gaussmix"]
    row = dict(case=case, covariance_type=covariance_type, n=n, d=d, K=K, m1=args.m1, m2=args.m2,
               flops_per_iteration=flops, flops_formula=flops_formula(covariance_type),
               gaussmix_s_per_iter=g, gaussmix_n_iter=int(fitted["gaussmix"].n_iter_),
               tflops=flops / g / 1e12 if g > 0 else None)
    row["share_of_matmul"] = row["tflops"] / rate if row["tflops"] is not None else None
    row["host_update_s"] = host_update_seconds(covariance_type, d, K, device)
    row["host_share"] = row["host_update_s"] / g if g > 0 else None
    if "scikit-learn" in per_it:
        s = per_it["scikit-learn"]
        a, b = to_host(fitted["gaussmix"].means_), to_host(fitted["scikit-learn"].means_)
        rel = float(abs(a.astype("float64") - b).max() / abs(b.astype("float64")).max())
        sk_iter = int(fitted["scikit-learn"].n_iter_)
        row.update(sklearn_s_per_iter=s, sklearn_n_iter=sk_iter, speedup=s / g if g > 0 and s > 0 else None,
                   means_rel_diff=rel,
                   same_means=bool(rel <= SAME_MEANS_RTOL and row["gaussmix_n_iter"] == sk_iter == args.m2))
    else:
        row.update(sklearn_s_per_iter=None, sklearn_skipped=skipped["scikit-learn"], speedup=None,
                   means_rel_diff=None, same_means=None)
    if covariance_type == "spherical" and (n, d, K) == (1_000_000, 128, 1024):
        row["flash_gmm_estep_s_a100"] = FLASH_GMM_ESTEP_SECONDS
    del X, fitted
    if device.type == "cuda":
        torch_module().cuda.empty_cache()
    print(case_line(row), flush=True)
    return row


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--case", choices=["all", *CASES], default="all")
    parser.add_argument("--n", type=float, nargs="+", default=None, help="override the cases' N")
    parser.add_argument("--smoke", action="store_true",
                        help="CPU, small N (both cases scaled down), a few seconds: every code path")
    parser.add_argument("--repeats", type=int, default=None, help="default 5 (3 under --smoke)")
    parser.add_argument("--m1", type=int, default=None, help="iterations of the short fit (default 2; 1 --smoke)")
    parser.add_argument("--m2", type=int, default=None, help="iterations of the long fit (default 10; 8 --smoke)")
    parser.add_argument("--init", choices=["random", "random_from_data"], default="random")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-sklearn", action="store_true")
    parser.add_argument("--max-sklearn-seconds", type=float, default=900.0,
                        help="skip scikit-learn on a case whose timed fits would take longer (projected)")
    parser.add_argument("--matmul-n", type=int, default=None,
                        help="side of the matmul measured (default 8192 on a GPU, 2048 on CPU, 512 --smoke)")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--output", type=Path, default=None,
                        help="write the Markdown table here (default RESULTS_GPU.md on CUDA without --smoke)")
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    smoke = args.smoke
    args.repeats = args.repeats or (3 if smoke else 5)
    args.m1 = args.m1 if args.m1 is not None else (1 if smoke else 2)
    args.m2 = args.m2 if args.m2 is not None else (8 if smoke else 10)
    if not 1 <= args.m1 < args.m2:
        parser.error("need 1 <= m1 < m2")
    return args


def main(argv=None):
    args = parse_args(argv)
    try:
        torch = torch_module()
    except ImportError:
        sys.exit("torch is not installed: bench_gpu.py needs it.")
    if SCIPY_IMPORTED_WITHOUT_ARRAY_API or os.environ.get("SCIPY_ARRAY_API") != "1":
        sys.exit("SCIPY_ARRAY_API=1 must be set before SciPy is imported (scikit-learn's array-API dispatch).")
    if args.smoke:
        device = torch.device(args.device or "cpu")
    else:
        device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    tf32 = keep_tf32_off()
    info = machine(device)
    print("Machine: " + ", ".join(f"{k} {v}" for k, v in info.items()), flush=True)
    print(f"TF32: {tf32}", flush=True)
    started = time.perf_counter()
    matmul_n = args.matmul_n or (512 if args.smoke else 8192 if device.type == "cuda" else 2048)
    args.matmul_repeats = max(args.repeats, MATMUL_REPEATS)
    rate = matmul_rate(device, matmul_n, args.matmul_repeats)
    print(f"float32 matmul rate ({matmul_n} x {matmul_n}, median of {args.matmul_repeats}) on {device}: "
          f"{rate:.3g} TFLOP/s", flush=True)
    # The question: does the host round trip matter at K=64, d=64? Beside each case's own.
    host_64 = host_update_seconds("full", 64, 64, device)
    print(f"host M-step at K=64, d=64, full (statistics from {device}, update, next E-step inputs): "
          f"{host_64 * 1e3:.2f} ms", flush=True)
    cases = SMOKE_CASES if args.smoke else CASES
    rows = []
    for case in cases if args.case == "all" else [args.case]:
        covariance_type, cells = cases[case]
        if args.n:
            cells = [(int(n), d, K) for n in args.n for _, d, K in cells[:1]]
        for n, d, K in cells:
            rows.append(run_case(case, covariance_type, n, d, K, args, rate, device))
    elapsed = time.perf_counter() - started
    text = report(rows, info, rate, matmul_n, tf32, args, device, elapsed)
    print()
    print(text, end="", flush=True)
    output = args.output
    if output is None and device.type == "cuda" and not args.smoke:
        output = Path(__file__).with_name("RESULTS_GPU.md")
    if output is not None:
        output.write_text(text)
        print(f"wrote {output}")
    if args.json is not None:
        args.json.write_text(json.dumps(dict(machine=info, device=str(device), tf32=tf32,
                                             matmul_n=matmul_n, matmul_tflops=rate, repeats=args.repeats,
                                             m1=args.m1, m2=args.m2, init=args.init, seed=args.seed,
                                             dtype="float32", same_means_rtol=SAME_MEANS_RTOL,
                                             cases=rows, goal=goal_line(rows)), indent=2) + "\n")
        print(f"wrote {args.json}")
    return rows


if __name__ == "__main__":
    main()
