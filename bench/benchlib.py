"""Shared helpers for the backend benchmarks: thread pinning, timing, the official random model, JSON output.

Every figure a benchmark reports is a ratio against a reference measured in the same run, because
the machine is shared and absolute timings drift.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
MODEL_CACHE = Path(os.environ.get("MMREALSR_BENCH_CACHE", "/tmp/mmrealsr-bench"))
OFFICIAL_STD = 0.02
"""Random-weight spread that keeps a 23-block official-size model's activations finite."""


def pin_threads(threads: int) -> None:
    """Same thread count for torch and ONNX Runtime (set before sessions are made)."""
    import torch

    torch.set_num_threads(threads)
    os.environ["MMREALSR_ONNX_THREADS"] = str(threads)
    os.environ["OMP_NUM_THREADS"] = str(threads)


def official_weights() -> Path:
    """An official-size MM-RealSR with fixed random weights; same file (and sha256) every run."""
    from mmrealsr_plugin.archs.mmrealsr import OFFICIAL_CONFIG
    from mmrealsr_plugin.testing import random_model
    from mmrealsr_plugin.weights import save_safetensors

    path = MODEL_CACHE / "official-random.safetensors"
    if not path.is_file():
        model = random_model(OFFICIAL_CONFIG, seed=0, std=OFFICIAL_STD)
        save_safetensors(model.state_dict(), path, config=OFFICIAL_CONFIG.to_dict())
    return path


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved(variants: dict[str, Callable[[], Any]], repeats: int, warmup: bool) -> dict[str, dict[str, Any]]:
    """Time each variant ``repeats`` times, round-robin, so load drift hits all variants alike."""
    if warmup:
        for fn in variants.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            times[name].append(timed(fn))
    return {
        name: {"median_s": statistics.median(t), "min_s": min(t), "runs_s": [round(x, 4) for x in t]}
        for name, t in times.items()
    }


def gemm_peak_gflops(threads: int, size: int = 2048, repeats: int = 5) -> float:
    """Best fp32 GFLOP/s of a square torch matmul: the machine's practical compute ceiling."""
    import torch

    torch.set_num_threads(threads)
    a, b = torch.rand(size, size), torch.rand(size, size)
    torch.mm(a, b)
    best = min(timed(lambda: torch.mm(a, b)) for _ in range(repeats))
    return 2 * size**3 / best / 1e9


def machine() -> dict[str, Any]:
    import onnxruntime
    import torch

    return {
        "cpu": platform.processor() or platform.machine(),
        "cores_visible": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "note": "shared 2-core machine with several other agents running: ratios only, absolute times are noisy",
    }


def write_results(name: str, data: dict[str, Any]) -> Path:
    from mmrealsr_plugin.atomic import atomic_path

    data = {**data, "load_average_at_end": [round(x, 2) for x in os.getloadavg()]}
    target = RESULTS / f"{name}.json"
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(data, indent=2))
    return target
