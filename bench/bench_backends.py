"""Restore speed: torch backend vs spandrel's MM-RealSR (same weights), ONNX Runtime vs torch, vs GEMM peak.

Official-size model with fixed random weights, CPU, 2 threads for torch and ONNX Runtime. Every
variant is timed round-robin in the same run; the report gives ratios against references from
this run: ``torch_engine / spandrel`` (target <= 1.0), ``torch / onnx`` (target >= 1.25) and the
achieved GFLOP/s of each restore path against a torch fp32 matmul peak (target >= 80%). FLOPs are
counted with ``torch.utils.flop_counter`` on the meta device (no compute).

    python bench/bench_backends.py --size 128 --repeats 2
    python bench/bench_backends.py --size 512 --repeats 1
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402

DEFAULT_TILE, DEFAULT_OVERLAP = 256, 32


def count_flops(config, height: int, width: int, tile: int) -> dict[str, float]:
    """FLOPs of estimator and generator for one image, as the engine runs them (tiles included)."""
    from torch.utils.flop_counter import FlopCounterMode

    from mmrealsr_plugin.archs.mmrealsr import MMRealSR
    from mmrealsr_plugin.tiling import tile_layout

    with torch.device("meta"):
        model = MMRealSR(config).eval()
    def gen_flops(h: int, w: int) -> int:
        with FlopCounterMode(display=False) as counter, torch.inference_mode():
            model(torch.empty(1, 3, h, w, device="meta"), torch.empty(1, 2, device="meta"))
        return counter.get_total_flops()
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        model.estimate(torch.empty(1, 3, height, width, device="meta"))
    estimator = counter.get_total_flops()
    ys, th = tile_layout(height, tile, DEFAULT_OVERLAP)
    xs, tw = tile_layout(width, tile, DEFAULT_OVERLAP)
    generator = sum(gen_flops(min(th, height - y), min(tw, width - x)) for y in ys for x in xs)
    return {"estimator": float(estimator), "generator": float(generator)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=128, help="square input size in pixels")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup-size", type=int, default=32, help="untimed first run of every variant at this size")
    parser.add_argument("--skip", nargs="*", default=[], help="variant names to leave out")
    args = parser.parse_args()
    benchlib.pin_threads(args.threads)
    os.environ.setdefault("MMREALSR_ONNX_CACHE", str(benchlib.MODEL_CACHE / "onnx"))
    os.environ.setdefault("MMREALSR_DISABLE_PLUGIN_AUTOLOAD", "1")

    import spandrel

    from mmrealsr_plugin import engine
    from mmrealsr_plugin.weights import read_state_dict

    info = benchlib.machine()
    peak_before = benchlib.gemm_peak_gflops(args.threads)
    weights = benchlib.official_weights()
    torch_model = engine.load_model(weights, backend="torch", device="cpu")
    onnx_model = engine.load_model(weights, backend="onnx", device="cpu")  # exports once into the cache
    reference = spandrel.ModelLoader(device="cpu").load_from_state_dict(read_state_dict(weights).tensors)
    reference.model.eval()
    module = torch_model.runner.module

    size = args.size
    image = np.random.default_rng(0).random((size, size, 3), dtype=np.float32)
    tensor = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)[None]))

    def spandrel_run(img: np.ndarray) -> None:
        with torch.inference_mode():
            reference(torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)[None])))

    def torch_raw(img: np.ndarray) -> None:
        x = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)[None]))
        with torch.inference_mode():
            module(x, module.estimate(x))

    variants = {
        "spandrel": spandrel_run,
        "torch_module": torch_raw,
        "torch_engine_tile0": lambda img: engine.restore(torch_model, img, tile=0),
        "onnx_engine_tile0": lambda img: engine.restore(onnx_model, img, tile=0),
    }
    if size > DEFAULT_TILE:  # below it the default tiling is one tile, i.e. tile0
        variants["torch_engine_default_tile"] = lambda img: engine.restore(torch_model, img)
        variants["onnx_engine_default_tile"] = lambda img: engine.restore(onnx_model, img)
    variants = {k: v for k, v in variants.items() if k not in args.skip}
    small = image[: args.warmup_size, : args.warmup_size]
    for fn in variants.values():  # first-run allocations and lazy init, at a cheap size
        fn(small)

    with torch.inference_mode():  # the two implementations agree on the same weights
        ours = engine.restore(torch_model, image[:32, :32], tile=0).image
        theirs = reference(tensor[:, :, :32, :32]).clamp(0, 1)[0].permute(1, 2, 0).numpy()
    agreement = float(np.max(np.abs(ours - theirs)))

    timings = benchlib.interleaved({k: functools.partial(fn, image) for k, fn in variants.items()}, args.repeats,
                                   warmup=False)
    peak_after = benchlib.gemm_peak_gflops(args.threads)
    peak = max(peak_before, peak_after)
    config = module.config
    flops0 = count_flops(config, size, size, 0)
    flops_tiled = count_flops(config, size, size, DEFAULT_TILE)
    achieved = {}
    for name, t in timings.items():
        flops = flops_tiled if name.endswith("default_tile") else flops0
        total = flops["estimator"] + flops["generator"]
        gflops = total / t["min_s"] / 1e9
        achieved[name] = {"gflop": round(total / 1e9, 1), "gflops_per_s": round(gflops, 2),
                          "fraction_of_gemm_peak": round(gflops / peak, 3)}
    ratios = {
        "torch_engine_tile0_over_spandrel": timings["torch_engine_tile0"]["min_s"] / timings["spandrel"]["min_s"],
        "torch_module_over_spandrel": timings["torch_module"]["min_s"] / timings["spandrel"]["min_s"],
        "torch_over_onnx_tile0": timings["torch_engine_tile0"]["min_s"] / timings["onnx_engine_tile0"]["min_s"],
    }
    if "torch_engine_default_tile" in timings and "onnx_engine_default_tile" in timings:
        ratios["torch_over_onnx_default_tile"] = (
            timings["torch_engine_default_tile"]["min_s"] / timings["onnx_engine_default_tile"]["min_s"]
        )
    benchlib.write_results(f"backends_{size}", {
        "benchmark": "restore speed, official-size MM-RealSR (random weights), CPU",
        "command": " ".join(["python", "bench/bench_backends.py", *sys.argv[1:]]),
        "machine": info,
        "threads": args.threads,
        "input": [size, size],
        "repeats": args.repeats,
        "spandrel_vs_ours_max_abs_diff_32px": agreement,
        "gemm_peak_gflops": {"before": round(peak_before, 2), "after": round(peak_after, 2)},
        "timings": timings,
        "ratios_min_time": {k: round(v, 3) for k, v in ratios.items()},
        "achieved": achieved,
    })


if __name__ == "__main__":
    main()
