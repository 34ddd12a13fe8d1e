"""Check that a change leaves every fit bit-for-bit unchanged.

Fits a fixed grid with the gaussmix of a git ref and with the working tree,
each in its own process, and compares every result with ``np.array_equal``
(NaN equal to NaN). The grid:

* every covariance name: the 14 multivariate mclust codes, the univariate
  E and V (at d=1 only), and scikit-learn's four names;
* float32 and float64;
* d in {1, 2, 20, 70};
* four ways in: an array in memory, a ``.npy`` file streamed chunk by chunk,
  a Dask array on the threaded scheduler, and ``partial_fit`` over three
  chunks.

At d=70, EVE and VVE take over a minute per M-step (their common orientation
is found by Jacobi sweeps in Python until its objective settles), so there
they run one cell each, in memory, with ``max_iter=0`` (the M-step from the
start); every other model runs every cell, with ``max_iter=3`` at d=70 and
30 elsewhere.

Each cell records the fitted attributes (``weights_``, ``means_``,
``covariances_``, ``precisions_``, ``precisions_cholesky_``, ``n_iter_``,
``converged_``, ``lower_bound_``, ``lower_bounds_``), ``predict``,
``predict_proba``, ``score_samples``, ``score``, ``bic`` and ``aic``, or the
error it raised. Only public API is used, so any two versions compare.

Usage::

    python benchmarks/check_bitwise.py --ref HEAD~3      # the ref against the working tree
    python benchmarks/check_bitwise.py --ref HEAD~3 --quick
    python benchmarks/check_bitwise.py --ref HEAD~3 --against HEAD   # two commits

The results of a ref are cached under ``.bitwise-cache/`` (git-ignored) by
commit, so a second comparison against the same ref fits only the tree.
Exit status 0 when every array is equal, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MULTIVARIATE = ["EII", "VII", "EEI", "VEI", "EVI", "VVI", "EEE", "VEE", "EVE", "VVE",
                "EEV", "VEV", "EVV", "VVV"]
SKLEARN = ["full", "tied", "diag", "spherical"]
ATTRIBUTES = ["weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_",
              "n_iter_", "converged_", "lower_bound_", "lower_bounds_"]
MODES = ["memory", "npy", "dask", "partial_fit"]


#: Models whose M-step is too slow at d=70 for more than one cell each.
SLOW_AT_70 = ("EVE", "VVE")


def grid(quick):
    dims = [2, 20] if quick else [1, 2, 20, 70]
    for d in dims:
        names = MULTIVARIATE + SKLEARN + (["E", "V"] if d == 1 else [])
        for name in names:
            for dtype in ("float32", "float64"):
                for mode in MODES:
                    if d == 70 and name in SLOW_AT_70 and mode != "memory":
                        continue
                    yield name, dtype, d, mode


def data(d, dtype):
    """Three blobs with different shapes, 600 rows (the same at every ref)."""
    rng = np.random.default_rng(1234 + d)
    parts = []
    for k, n in enumerate((250, 200, 150)):
        A = rng.normal(size=(d, d)) * 0.5 + np.eye(d)
        parts.append(rng.normal(size=(n, d)) @ A + 3.0 * k)
    return np.vstack(parts).astype(dtype)


def fit_cell(name, dtype, d, mode, workdir):
    from gaussmix import GaussianMixture

    X = data(d, dtype)
    max_iter = (0 if name in SLOW_AT_70 else 3) if d == 70 else 30
    gm = GaussianMixture(3, covariance_type=name, random_state=0, max_iter=max_iter,
                         tol=1e-6)
    if mode == "memory":
        gm.fit(X)
        source = X
    elif mode == "npy":
        path = os.path.join(workdir, f"X_{d}_{dtype}.npy")
        if not os.path.exists(path):
            np.save(path, X)
        gm.fit(path)
        source = path
    elif mode == "dask":
        import dask
        import dask.array as da

        with dask.config.set(scheduler="threads"):
            source = da.from_array(X, chunks=(200, d))
            gm.fit(source)
    else:
        for part in np.array_split(X, 3):
            gm.partial_fit(part)
        source = X
    out = {a: np.asarray(getattr(gm, a)) for a in ATTRIBUTES}
    if mode == "dask":
        import dask

        with dask.config.set(scheduler="threads"):
            out["predict"] = np.asarray(gm.predict(source).compute())
            out["predict_proba"] = np.asarray(gm.predict_proba(source).compute())
            out["score_samples"] = np.asarray(gm.score_samples(source).compute())
            out["score"] = np.asarray(gm.score(source))
            out["bic"] = np.asarray(gm.bic(source))
            out["aic"] = np.asarray(gm.aic(source))
        return out
    out["predict"] = gm.predict(source)
    out["predict_proba"] = gm.predict_proba(source)
    out["score_samples"] = gm.score_samples(source)
    out["score"] = np.asarray(gm.score(source))
    out["bic"] = np.asarray(gm.bic(source))
    out["aic"] = np.asarray(gm.aic(source))
    return out


def dump(path, quick):
    """Fit the grid with whichever gaussmix is importable; save to ``path``."""
    results = {}
    with tempfile.TemporaryDirectory() as workdir, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for cell in grid(quick):
            key = "|".join(map(str, cell))
            try:
                out = fit_cell(*cell, workdir)
            except Exception as exc:  # a failing cell must fail the same way
                results[f"{key}|error"] = np.asarray(f"{type(exc).__name__}: {exc}")
                continue
            for name, value in out.items():
                results[f"{key}|{name}"] = value
    partial = f"{path}.partial.npz"
    np.savez(partial, **results)
    os.replace(partial, path)  # a cache file is complete or absent


def run_dump(src, out, quick):
    env = dict(os.environ, PYTHONPATH=str(src))
    cmd = [sys.executable, str(Path(__file__).resolve()), "--dump", str(out)]
    if quick:
        cmd.append("--quick")
    subprocess.run(cmd, check=True, env=env, cwd=tempfile.gettempdir())


def ref_results(ref, quick):
    commit = subprocess.run(["git", "rev-parse", ref], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout.strip()
    cache = ROOT / ".bitwise-cache"
    cache.mkdir(exist_ok=True)
    out = cache / f"{commit}{'-quick' if quick else ''}.npz"
    if out.exists():
        return out, commit
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "archive", commit, "src"], cwd=ROOT, check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        run_dump(Path(tmp) / "src", out, quick)
    return out, commit


def compare(ref_path, tree_path):
    ref, tree = np.load(ref_path), np.load(tree_path)
    keys_ref, keys_tree = set(ref.files), set(tree.files)
    problems = [f"only at the ref: {k}" for k in sorted(keys_ref - keys_tree)]
    problems += [f"only in the tree: {k}" for k in sorted(keys_tree - keys_ref)]
    equal = 0
    for key in sorted(keys_ref & keys_tree):
        a, b = ref[key], tree[key]
        nan_ok = a.dtype.kind in "fc"
        if a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=nan_ok):
            equal += 1
        else:
            diff = ""
            if a.shape == b.shape and a.dtype.kind == "f" and b.dtype.kind == "f":
                diff = f" (max abs diff {np.nanmax(np.abs(a.astype(float) - b.astype(float))):.3g})"
            problems.append(f"differs: {key}{diff} [{a.dtype}{a.shape} vs {b.dtype}{b.shape}]")
    cells = {k.rsplit("|", 1)[0] for k in keys_ref}
    errors = sum(1 for k in keys_ref if k.endswith("|error"))
    return equal, problems, len(cells), errors


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ref", default="HEAD", help="git ref to compare the working tree with")
    parser.add_argument("--against", help="a second git ref, instead of the working tree")
    parser.add_argument("--quick", action="store_true", help="d in {2, 20} only")
    parser.add_argument("--all", action="store_true", help="list every difference, not the first 50")
    parser.add_argument("--dump", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.dump:
        dump(args.dump, args.quick)
        return 0
    ref_path, commit = ref_results(args.ref, args.quick)
    with tempfile.TemporaryDirectory() as tmp:
        if args.against:
            tree_path, other = ref_results(args.against, args.quick)
            against = f"{args.against} ({other[:10]})"
        else:
            tree_path, against = Path(tmp) / "tree.npz", "the working tree"
            run_dump(ROOT / "src", tree_path, args.quick)
        equal, problems, n_cells, n_errors = compare(ref_path, tree_path)
    print(f"ref {args.ref} ({commit[:10]}) against {against}: {n_cells} cells "
          f"({n_errors} raise at the ref), {equal} arrays equal, {len(problems)} not")
    for line in problems if args.all else problems[:50]:
        print("  " + line)
    if len(problems) > 50 and not args.all:
        print(f"  ... and {len(problems) - 50} more")
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
