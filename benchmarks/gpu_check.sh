#!/usr/bin/env bash
# The device check of the GPU issue, as one short script for a lent GPU machine
# (the device tool gives one run of at most 10 minutes; its time is scarce).
#
#   bash benchmarks/gpu_check.sh            # writes under $OUT (or ./gpu-check)
#
# 1. the CUDA tests (marked `cuda`: they skip on machines without a GPU);
# 2. bench_gpu.py, the issue's goal case first: full, N=1e7, d=32, K=64,
#    then N=1e6 and the spherical K=1024 case, each with 3 repeats. The
#    random start draws N x K numbers on the host (NumPy's stream, for both
#    libraries), about 14 s a fit at N=1e7: that case alone is most of the time.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-gpu-check}"
mkdir -p "$out"
export SCIPY_ARRAY_API=1
pip install -q torch==2.13.0 '.[test]' >"$out/pip.log" 2>&1 || pip install -q '.[test]' >>"$out/pip.log" 2>&1
nvidia-smi >"$out/nvidia-smi.txt" 2>&1
python -c "import torch; print(torch.__version__, torch.cuda.is_available(), torch.cuda.get_device_name(0))" \
    | tee "$out/torch.txt"
timeout 150 python -m pytest -q -m cuda tests/test_array_api.py tests/test_kernels.py -p no:cacheprovider \
    2>&1 | tail -20 | tee "$out/cuda-tests.txt"
timeout 300 python benchmarks/bench_gpu.py --case full --n 1e7 1e6 --repeats 3 \
    --json "$out/full.json" --output "$out/RESULTS_GPU_full.md" 2>&1 | tee "$out/full.txt"
timeout 120 python benchmarks/bench_gpu.py --case spherical --repeats 3 \
    --json "$out/spherical.json" --output "$out/RESULTS_GPU_spherical.md" 2>&1 | tee "$out/spherical.txt"
