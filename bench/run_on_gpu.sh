#!/usr/bin/env bash
# Issue 15 item 6 on a lent GPU, as one device call (preparation here: bench/README.md, "GPU (item 6)").
# Runs from the repository root there; writes its figures and logs under $OUT.
set -uo pipefail
if compgen -G ".whl/*.whl" >/dev/null; then  # carried wheels (spandrel) for packages the device image lacks
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || exit
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 MMREALSR_BENCH_CACHE=/tmp/mmrealsr-bench
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,memory.total,memory.free --format=csv 2>&1 | tee "$OUT/nvidia-smi.txt"
python3 -m pytest -q -p no:cacheprovider tests/reliability/test_nonfinite.py 2>&1 | tee "$OUT/pytest_nonfinite.log"
python3 bench/bench_gpu.py --image "${GPU_PHOTO:-.gpu/photo.jpg}" --name gpu 2>&1 | tee "$OUT/bench_gpu.log"
cp bench/results/gpu.json "$OUT/" 2>/dev/null
