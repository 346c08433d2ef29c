"""Estimator (UDEM) time per megapixel, torch and ONNX Runtime, official-size random model, CPU.

Raw estimator runs at a few sizes (no proxy), plus ``engine.estimate`` on a 2048x2048 image,
which the engine estimates on a 1 MP area-downscaled proxy (``MMREALSR_ESTIMATE_MAX_PIXELS``) so
its cost is bounded whatever the input size. Ratios are against torch in the same run.

    python bench/bench_estimator.py --sizes 128 256 --repeats 2 --engine-size 0
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--engine-size", type=int, default=2048, help="engine.estimate input size; 0 skips it")
    args = parser.parse_args()
    benchlib.pin_threads(args.threads)
    os.environ.setdefault("MMREALSR_ONNX_CACHE", str(benchlib.MODEL_CACHE / "onnx"))
    os.environ.setdefault("MMREALSR_DISABLE_PLUGIN_AUTOLOAD", "1")
    from mmrealsr_plugin import engine

    info = benchlib.machine()
    weights = benchlib.official_weights()
    torch_model = engine.load_model(weights, backend="torch", device="cpu")
    onnx_model = engine.load_model(weights, backend="onnx", device="cpu")
    module, session = torch_model.runner.module, onnx_model.runner.session("estimator")
    rows = []
    for size in args.sizes:
        batch = np.random.default_rng(size).random((1, 3, size, size), dtype=np.float32)
        tensor = torch.from_numpy(batch)

        def run_torch() -> None:
            with torch.inference_mode():
                module.estimate(tensor)

        timings = benchlib.interleaved(
            {"torch": run_torch, "onnx": lambda: session.run(None, {"image": batch})}, args.repeats, warmup=True
        )
        megapixels = size * size / 1e6
        rows.append({
            "input": size,
            "torch_s_per_mp": round(timings["torch"]["min_s"] / megapixels, 3),
            "onnx_s_per_mp": round(timings["onnx"]["min_s"] / megapixels, 3),
            "torch_over_onnx": round(timings["torch"]["min_s"] / timings["onnx"]["min_s"], 3),
            "timings": timings,
        })
    proxy = None
    if args.engine_size:
        big = np.random.default_rng(1).random((args.engine_size, args.engine_size, 3), dtype=np.float32)
        proxy = benchlib.interleaved(
            {"torch": lambda: engine.estimate(torch_model, big), "onnx": lambda: engine.estimate(onnx_model, big)},
            1, warmup=False,
        )
    benchlib.write_results("estimator", {
        "benchmark": "estimator time per megapixel, official-size random model, CPU",
        "command": " ".join(["python", "bench/bench_estimator.py", *sys.argv[1:]]),
        "machine": info, "threads": args.threads, "rows": rows,
        "engine_estimate_with_1mp_proxy": proxy and {"input": args.engine_size, "timings": proxy},
    })


if __name__ == "__main__":
    main()
