"""``benchmarks/bench_gpu.py --smoke`` runs every code path on the CPU and reports the same means.

The script's ``main`` runs in this process (a few seconds): gaussmix and
scikit-learn under ``array_api_dispatch`` on torch CPU tensors, the matmul
rate, the table and the JSON figures. The CUDA-only calls (synchronise,
device name, free device memory) need a GPU and are not reached here.
"""

import importlib.util
import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("array_api_compat")

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_gpu.py"


def load_bench_gpu():
    spec = importlib.util.spec_from_file_location("bench_gpu", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_smoke_prints_the_table_and_the_same_means(tmp_path, capsys):
    bench = load_bench_gpu()
    path = tmp_path / "figures.json"
    rows = bench.main(["--smoke", "--json", str(path)])
    out = capsys.readouterr().out
    assert "Machine: cpu " in out and "torch 2" in out and "scikit-learn 1" in out
    assert "allow_tf32=False" in out
    assert "float32 matmul rate" in out
    assert "| case | N | d | K | gaussmix s/iter | scikit-learn s/iter | speed-up |" in out
    assert "| full | 2,000 | 4 | 3 |" in out and "| spherical | 2,000 | 8 | 16 |" in out
    assert "NOT" not in out
    assert [r["covariance_type"] for r in rows] == ["full", "spherical"]
    for r in rows:
        assert r["same_means"] is True
        assert r["means_rel_diff"] <= bench.SAME_MEANS_RTOL
        assert r["gaussmix_n_iter"] == r["sklearn_n_iter"] == 8
        assert r["sklearn_s_per_iter"] is not None
    figures = json.loads(path.read_text())
    assert figures["matmul_tflops"] > 0 and figures["dtype"] == "float32"
    assert [c["flops_formula"] for c in figures["cases"]] == ["4 N K d^2", "4 N K d"]


def test_skip_sklearn_says_why(capsys):
    bench = load_bench_gpu()
    rows = bench.main(["--smoke", "--case", "spherical", "--skip-sklearn", "--repeats", "1"])
    out = capsys.readouterr().out
    assert "scikit-learn skipped (--skip-sklearn)" in out
    assert "| spherical | 2,000 | 8 | 16 |" in out and "| skipped |" in out
    assert rows[0]["sklearn_s_per_iter"] is None and rows[0]["same_means"] is None


def test_the_goal_is_judged_on_both_bars():
    bench = load_bench_gpu()
    row = dict(covariance_type="full", n=10_000_000, d=32, K=64, share_of_matmul=0.6, speedup=25.0,
               same_means=True)
    assert "): met (60.0% of matmul, 25.00x)" in bench.goal_line([row])
    assert "NOT met" in bench.goal_line([{**row, "speedup": 19.0}])
    assert "NOT met" in bench.goal_line([{**row, "share_of_matmul": 0.4}])
    assert "means NOT the same" in bench.goal_line([{**row, "same_means": False}])
    assert "NOT met" in bench.goal_line([{**row, "same_means": False}])
    assert "NOT met (60.0% of matmul, n/a (scikit-learn skipped))" in bench.goal_line([{**row, "speedup": None,
                                                                                        "same_means": None}])
    assert bench.goal_line([{**row, "n": 1_000_000}]) is None
