"""GPU figures (issue 15 item 6), one prepared run for a session that is lent a GPU.

On one card, one process, round-robin: the packaged default model through ``engine.restore`` (estimate + upscale,
tile 0, result back on the host) in float32, float16 and bfloat16, ONNX Runtime's CUDA provider when the installed
onnxruntime has it, and spandrel's MM-RealSR module in float32 and float16 when spandrel is importable (the
reference time, its output copied back to the host too). Every time is a ratio to spandrel float32 (or to this
project's float32 when spandrel is missing); every output is compared with the float32 output of the same code (1/255
units; spandrel feeds the raw estimate to the generator, this engine the model's own knob mapping, so the two
differ by design). Then ``tile="auto"``: the tile it picks for large inputs from the free memory, and one restore at that
choice with the peak memory torch allocated. The float16 non-finite retry is a test:
``pytest tests/reliability/test_nonfinite.py`` runs it on CUDA when there is one.

    python bench/bench_gpu.py --image PHOTO                     # on the lent GPU (about 2 min)
    python bench/bench_gpu.py --device cpu --size 24 --auto-sizes 64 --auto-run 48 --name /tmp/gpu_dry  # dry run
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402

DEFAULT_IMAGE = Path(__file__).resolve().parents[2] / "shared/data/eval_real/RealSet65/0054.jpg"


def centre(rgb: np.ndarray, size: int) -> np.ndarray:
    """A size x size centre crop, the photo tiled by reflection first if it is smaller."""
    h, w = rgb.shape[:2]
    if min(h, w) < size:
        rgb = np.pad(rgb, ((0, max(0, size - h)), (0, max(0, size - w)), (0, 0)), mode="reflect")
        h, w = rgb.shape[:2]
    return np.ascontiguousarray(rgb[(h - size) // 2 : (h - size) // 2 + size, (w - size) // 2 : (w - size) // 2 + size])


def difference(out: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    d = np.abs(out.astype(np.float64) - reference) * 255
    return {"mean_255": round(float(d.mean()), 3), "p99_255": round(float(np.percentile(d, 99)), 2),
            "max_255": round(float(d.max()), 1), "finite": bool(np.isfinite(out).all())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image", type=Path, default=DEFAULT_IMAGE, help="a real photo (cropped to --size)")
    parser.add_argument("--size", type=int, default=512, help="crop side in input pixels")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--auto-sizes", type=int, nargs="*", default=[2048, 4096, 8192],
                        help="input sides to ask tile='auto' about")
    parser.add_argument("--auto-run", type=int, default=2048, help="input side restored once with tile='auto'")
    parser.add_argument("--name", default="gpu")
    args = parser.parse_args()
    os.environ.setdefault("MMREALSR_DISABLE_PLUGIN_AUTOLOAD", "1")
    os.environ.setdefault("MMREALSR_ONNX_CACHE", str(benchlib.MODEL_CACHE / "onnx"))
    import torch

    from mmrealsr_plugin import engine, tiling
    from mmrealsr_plugin.imageio import read_image
    from mmrealsr_plugin.sources import resolve_model
    from mmrealsr_plugin.weights import read_state_dict

    cuda = args.device.startswith("cuda")
    if cuda and not torch.cuda.is_available():
        raise SystemExit("no CUDA device here: run with --device cpu for a dry run")
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    info = {**benchlib.machine(), "device_name": torch.cuda.get_device_name() if cuda else "cpu"}
    weights, _ = resolve_model(None)
    photo = read_image(args.image).rgb()
    crop = centre(photo, args.size)
    variants: dict[str, Callable[[], np.ndarray]] = {}
    skipped: dict[str, str] = {}
    models = {p: engine.load_model(weights, backend="torch", device=args.device, precision=p)
              for p in ("float32", "float16", "bfloat16")}
    for precision, model in models.items():
        variants[f"torch_{precision}"] = lambda model=model: engine.restore(model, crop, tile=0).image
    try:
        import onnxruntime

        if cuda and "CUDAExecutionProvider" in onnxruntime.get_available_providers():
            onnx_model = engine.load_model(weights, backend="onnx", device=args.device)
            variants["onnx_float32"] = lambda: engine.restore(onnx_model, crop, tile=0).image
        else:
            skipped["onnx_float32"] = "no CUDAExecutionProvider in the installed onnxruntime (needs onnxruntime-gpu)"
    except ImportError:
        skipped["onnx_float32"] = "onnxruntime is not installed"
    try:
        import spandrel

        state = read_state_dict(weights).tensors
        for precision, dtype in (("float32", torch.float32), ("float16", torch.float16)):
            descriptor = spandrel.ModelLoader(device=args.device).load_from_state_dict(state)
            descriptor.model.to(dtype).eval()  # the descriptor's call returns the image (the raw module also the scores)

            def run(descriptor: Any = descriptor, dtype: torch.dtype = dtype) -> np.ndarray:
                with torch.inference_mode():
                    x = torch.from_numpy(crop.transpose(2, 0, 1)[None].copy()).to(args.device, dtype)
                    return descriptor(x).float().clamp(0, 1)[0].permute(1, 2, 0).cpu().numpy()

            variants[f"spandrel_{precision}"] = run
    except ImportError:
        skipped["spandrel"] = "spandrel is not installed"

    outputs = {name: fn() for name, fn in variants.items()}  # warm-up: kernels chosen, memory pools filled
    seconds = {name: float("inf") for name in variants}
    for _ in range(args.repeats):
        for name, fn in variants.items():
            sync()
            start = time.perf_counter()
            fn()
            sync()
            seconds[name] = min(seconds[name], time.perf_counter() - start)
    base = "spandrel_float32" if "spandrel_float32" in seconds else "torch_float32"
    megapixels = args.size * args.size / 1e6

    def reference_of(name: str) -> str:  # spandrel conditions on its raw estimate, this engine on the model's knobs
        return "spandrel_float32" if name.startswith("spandrel") else "torch_float32"

    throughput = {name: {"seconds": round(t, 4), "input_megapixels_per_s": round(megapixels / t, 3),
                         f"time_over_{base}": round(t / seconds[base], 3),
                         **difference(outputs[name], outputs[reference_of(name)])} for name, t in seconds.items()}

    auto: dict[str, Any] = {}
    for precision in ("float32", "float16"):
        runner = models[precision].runner
        free = runner.free_bytes()
        auto[precision] = {"free_bytes": free, "tile_for_side": {
            side: tiling.auto_tile(side, side, free, runner.memory_bytes) for side in args.auto_sizes}}
    big = centre(photo, args.auto_run)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    result = engine.restore(models["float16"], big, tile="auto")
    auto["run"] = {"input_side": args.auto_run, "precision": "float16", "tile_ran": result.tile,
                   "seconds": round(time.perf_counter() - start, 2), "finite": bool(np.isfinite(result.image).all()),
                   "peak_allocated_bytes": torch.cuda.max_memory_allocated() if cuda else None}
    benchlib.write_results(args.name, {
        "benchmark": "GPU throughput and accuracy vs spandrel on the same card; tile='auto' from free memory",
        "command": " ".join(["python", "bench/bench_gpu.py", *sys.argv[1:]]),
        "machine": info, "model": weights.name, "image": args.image.name, "crop": args.size, "repeats": args.repeats,
        "throughput": throughput, "not_measured": skipped, "auto_tile": auto})


if __name__ == "__main__":
    main()
