"""The report of ``bench_gpu.py``: one line per case, the Markdown table and the goal's verdict.

Kept apart from the measuring script so that each stays short; it reads the
rows ``bench_gpu.run_case`` returns and the run's settings.
"""

from __future__ import annotations

import datetime

#: The issue's goal for full covariances at N=1e7, d=32, K=64.
GOAL = dict(n=10_000_000, d=32, K=64, share_of_matmul=0.5, speedup=20.0)
#: Relative difference of the means under which both fits count as the same work (float32).
SAME_MEANS_RTOL = 1e-3


def fmt_s(t):
    if t is None:
        return "n/a"
    return f"{t:.4g}" if t > 0 else f"{t:.2g} (under the timing noise)"


def fmt_x(x):
    return "n/a" if x is None else f"{x:.2f}x"


def case_line(r):
    line = (f"{r['case']} N={r['n']:g} d={r['d']} K={r['K']}: gaussmix {fmt_s(r['gaussmix_s_per_iter'])} s/iter, ")
    if r["sklearn_s_per_iter"] is None:
        line += f"scikit-learn skipped ({r['sklearn_skipped']})"
    else:
        line += (f"scikit-learn {fmt_s(r['sklearn_s_per_iter'])} s/iter, {fmt_x(r['speedup'])}; "
                 f"means rel. diff {r['means_rel_diff']:.1e} after {r['gaussmix_n_iter']}/"
                 f"{r['sklearn_n_iter']} iterations ({'same' if r['same_means'] else 'NOT the same'})")
    if r["tflops"] is not None:
        line += f"; {r['tflops']:.3g} TFLOP/s ({r['share_of_matmul']:.1%} of matmul)"
    if r.get("host_share") is not None:
        line += f"; host M-step {r['host_update_s'] * 1e3:.2f} ms ({r['host_share']:.1%} of the iteration)"
    return line


def goal_line(rows):
    """Whether the issue's goal is met, from the row of its case, or None where it was not run."""
    for r in rows:
        if (r["covariance_type"], r["n"], r["d"], r["K"]) == ("full", GOAL["n"], GOAL["d"], GOAL["K"]):
            share, speedup = r["share_of_matmul"], r["speedup"]
            ok_share = share is not None and share >= GOAL["share_of_matmul"]
            # a speed-up counts only for the same work: the same means after the same iterations
            ok_speed = speedup is not None and speedup >= GOAL["speedup"] and r["same_means"] is True
            return (f"Goal (N=1e7, d=32, K=64, full, float32: >= {GOAL['share_of_matmul']:.0%} of the matmul "
                    f"rate and >= {GOAL['speedup']:g}x scikit-learn with the same means): "
                    f"{'met' if ok_share and ok_speed else 'NOT met'} "
                    f"({'n/a' if share is None else f'{share:.1%}'} of matmul, "
                    f"{'n/a (scikit-learn skipped)' if speedup is None else f'{speedup:.2f}x'}"
                    f"{'' if r['same_means'] is not False else ', means NOT the same'}).")
    return None


def report(rows, info, rate, matmul_n, tf32, args, device, elapsed):
    lines = [
        "# EM per iteration on a torch device: gaussmix against scikit-learn's array-API GaussianMixture",
        "",
        f"Written by `benchmarks/bench_gpu.py{' ' + ' '.join(args.argv) if args.argv else ''}` on "
        f"{datetime.date.today()} in {elapsed:.1f} s. float32 torch tensors on `{device}`, both libraries "
        f"under `array_api_dispatch`, the same start (`init_params={args.init!r}`, `random_state={args.seed}`), "
        f"`tol=0`; per-iteration times are (t(m2) - t(m1)) / (m2 - m1) with m1={args.m1}, m2={args.m2}, "
        f"t the median of {args.repeats} runs (libraries alternating), the device synchronised before each "
        f"clock reading. Speed-up is scikit-learn's time over gaussmix's. TFLOP/s count `4 N K d^2` flops per "
        f"iteration for full covariances and `4 N K d` for spherical ones; the float32 matmul rate of this "
        f"run ({matmul_n} x {matmul_n} `torch.matmul`, median of {args.matmul_repeats}) was {rate:.3g} TFLOP/s. "
        f"TF32: {tf32}. Means rel. diff is max |gaussmix - scikit-learn| / max |scikit-learn| of the means "
        f"after m2 iterations (same work if under {SAME_MEANS_RTOL:g} and both ran m2 iterations). "
        f"Host M-step is the host's part of each of gaussmix's iterations, timed apart (median of 20): the "
        f"merged K x d x d statistics brought from the device, the M-step and the next E-step's inputs in "
        f"float64; its share is of gaussmix's whole iteration.",
        "",
        "Machine: " + ", ".join(f"{k} {v}" for k, v in info.items()),
        "",
        "| case | N | d | K | gaussmix s/iter | scikit-learn s/iter | speed-up | gaussmix TFLOP/s "
        "| % of matmul | means rel. diff | host M-step (share) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        share = "n/a" if r["share_of_matmul"] is None else f"{r['share_of_matmul']:.1%}"
        tfl = "n/a" if r["tflops"] is None else f"{r['tflops']:.3g}"
        if r["sklearn_s_per_iter"] is None:
            sk, sp, rel = "skipped", "n/a", "n/a"
        else:
            sk, sp = fmt_s(r["sklearn_s_per_iter"]), fmt_x(r["speedup"])
            rel = f"{r['means_rel_diff']:.1e} ({'same' if r['same_means'] else 'NOT same'})"
        lines.append(f"| {r['case']} | {r['n']:,} | {r['d']} | {r['K']} | {fmt_s(r['gaussmix_s_per_iter'])} "
                     f"| {sk} | {sp} | {tfl} | {share} | {rel} | {r['host_update_s'] * 1e3:.2f} ms "
                     f"({'n/a' if r['host_share'] is None else format(r['host_share'], '.1%')}) |")
    notes = [f"scikit-learn skipped at N={r['n']:,}, d={r['d']}, K={r['K']}: {r['sklearn_skipped']}."
             for r in rows if r.get("sklearn_skipped")]
    for r in rows:
        if "flash_gmm_estep_s_a100" in r:
            notes.append(f"Flash-GMM (IBM) reports one E-step of N=1e6, d=128, K=1024 in "
                         f"{r['flash_gmm_estep_s_a100'] * 1e3:.0f} ms on an A100 (quoted, not measured here); "
                         f"gaussmix's whole EM iteration (E- and M-step) took "
                         f"{r['gaussmix_s_per_iter'] * 1e3:.0f} ms here on {info['gpu']}.")
    goal = goal_line(rows)
    if goal:
        notes.append(goal)
    if notes:
        lines += [""] + notes
    return "\n".join(lines) + "\n"
