"""Why no fast CPU path meets issue 15's bounds on this kind of CPU: three measurements, one run.

1. ``arith``: what each number format buys on this CPU. The trunk's own convolution shapes (the five convolutions of
   a dense block, 64 input features, 128x128) through oneDNN in float32, float16 and bfloat16 (channels-last, as the
   torch backend runs them), and the same products as plain GEMMs (pixels x 9*C_in x C_out) in float32, bfloat16,
   float16 and int8 (``torch._int_mm``, int32 accumulation). Round-robin; every figure is a ratio to float32 in
   the same run.
2. ``activations``: how many bits the dense blocks' activations need. The packaged default model in float32 with
   *one* kind of tensor per dense block rounded to 8 bits (x: the block input; x1..x4: the activations the block
   makes), weights and everything else float; uint8 per tensor (what int8 kernels take) and per channel (a bound
   on what any cross-layer equalization can reach). Ranges: min/max over the calibration crops (odd-numbered
   RealSet65 photos) *and* the evaluated crops themselves (even-numbered ones), so nothing is clipped: the most
   favourable case for a uniform 8-bit grid. Error at knobs (0,0), (0.5,0.5), (1,1), in 1/255 units.
3. ``rank``: whether the features live in fewer dimensions than they have (a way to do less work per pixel without
   new arithmetic): eigenvalues of every trunk convolution's input second moments on the calibration crops; the
   fraction of channels needed to keep all but 1e-4 / 1e-5 of the energy.

    python bench/bench_fast_cpu_limits.py
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
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402
from bench_fast_cpu import KNOBS, PHOTOS, centre_crops  # noqa: E402

DENSE_SHAPES = ((64, 32), (96, 32), (128, 32), (160, 32), (192, 64))
"""(input, output) channels of a dense block's five convolutions at the official width."""
TENSORS = {"x (block input)": {0}, "x1": {1}, "x4": {4}, "x1..x4": {1, 2, 3, 4}, "x, x1..x4": {0, 1, 2, 3, 4}}


def arithmetic(size: int, repeats: int) -> dict[str, Any]:
    convs: dict[str, Callable[[], Any]] = {}
    gemms: dict[str, Callable[[], Any]] = {}
    flops = 0.0
    for cin, cout in DENSE_SHAPES:
        flops += 2 * size * size * 9 * cin * cout
        for dtype in (torch.float32, torch.float16, torch.bfloat16):
            conv = torch.nn.Conv2d(cin, cout, 3, padding=1).to(dtype).to(memory_format=torch.channels_last).eval()
            x = torch.randn(1, cin, size, size).to(dtype).contiguous(memory_format=torch.channels_last)
            convs[f"{cin}->{cout} {str(dtype)[6:]}"] = lambda conv=conv, x=x: conv(x)
        a, b = torch.randn(size * size, 9 * cin), torch.randn(9 * cin, cout)
        for dtype in (torch.float32, torch.float16, torch.bfloat16):
            gemms[f"{cin}->{cout} {str(dtype)[6:]}"] = lambda a=a.to(dtype), b=b.to(dtype): a @ b
        ai = torch.randint(-127, 128, a.shape, dtype=torch.int8)
        bi = torch.randint(-127, 128, b.shape, dtype=torch.int8)
        gemms[f"{cin}->{cout} int8"] = lambda ai=ai, bi=bi: torch._int_mm(ai, bi)
    def best(variants: dict[str, Callable[[], Any]]) -> dict[str, float]:
        return {name: t["min_s"] for name, t in benchlib.interleaved(variants, repeats, warmup=True).items()}

    with torch.inference_mode():
        conv_times, gemm_times = best(convs), best(gemms)

    def per_format(times: dict[str, float], formats: tuple[str, ...]) -> dict[str, Any]:
        total = {f: sum(t for name, t in times.items() if name.endswith(" " + f)) for f in formats}
        return {f: {"speed_over_float32": round(total["float32"] / total[f], 2), "gop_per_s": round(flops / total[f] / 1e9, 1),
                    "per_shape_speed_over_float32": {name.rsplit(" ", 1)[0]: round(times[name.rsplit(" ", 1)[0] + " float32"] / t, 2)
                                                     for name, t in times.items() if name.endswith(" " + f)}}
                for f in formats}

    return {"size": size, "repeats": repeats, "conv_onednn": per_format(conv_times, ("float32", "float16", "bfloat16")),
            "gemm": per_format(gemm_times, ("float32", "float16", "bfloat16", "int8"))}


class DenseBlockRounding:
    """Replaces the dense blocks' forward with one that rounds the chosen tensors to 8 bits (or records ranges)."""

    def __init__(self) -> None:
        self.calibrating = True
        self.which: set[int] = set()
        self.per_channel = False
        self.low: dict[tuple[int, int], torch.Tensor] = {}
        self.high: dict[tuple[int, int], torch.Tensor] = {}

    def __call__(self, value: torch.Tensor, key: tuple[int, int]) -> torch.Tensor:
        if self.calibrating:
            low, high = value.amin(dim=(0, 2, 3)), value.amax(dim=(0, 2, 3))
            self.low[key] = torch.minimum(self.low[key], low) if key in self.low else low
            self.high[key] = torch.maximum(self.high[key], high) if key in self.high else high
            return value
        if key[1] not in self.which:
            return value
        low, high = self.low[key].clamp(max=0), self.high[key].clamp(min=0)
        if not self.per_channel:
            low, high = low.min(), high.max()
        low, high = low.view(1, -1, 1, 1) if low.dim() else low, high.view(1, -1, 1, 1) if high.dim() else high
        step = ((high - low) / 255).clamp(min=1e-12)
        return torch.clamp(torch.round((value - low) / step), 0, 255) * step + low

    def install(self) -> None:
        from mmrealsr_plugin.archs.mmrealsr import blocks

        rounding = self

        def forward(block: blocks.ResidualDenseBlock, x: torch.Tensor) -> torch.Tensor:
            key = id(block)
            x = rounding(x, (key, 0))  # the residual add reads the rounded x too, as an 8-bit graph would feed it
            x1 = rounding(block.act(block.conv1(x)), (key, 1))
            x2 = rounding(block.act(block.conv2(torch.cat((x, x1), 1))), (key, 2))
            x3 = rounding(block.act(block.conv3(torch.cat((x, x1, x2), 1))), (key, 3))
            x4 = rounding(block.act(block.conv4(torch.cat((x, x1, x2, x3), 1))), (key, 4))
            return block.conv5(torch.cat((x, x1, x2, x3, x4), 1)) * 0.2 + x

        blocks.ResidualDenseBlock.forward = forward  # type: ignore[method-assign]


def as_input(crop: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(crop.transpose(2, 0, 1)[None])).contiguous(memory_format=torch.channels_last)


def activations(network: torch.nn.Module, calibration: list[np.ndarray], crops: list[np.ndarray]) -> dict[str, Any]:
    rounding = DenseBlockRounding()
    rounding.install()

    def run(crop: np.ndarray, knobs: tuple[float, float]) -> np.ndarray:
        with torch.inference_mode():
            return network(as_input(crop), torch.tensor([knobs])).clamp(0, 1).numpy()

    for crop in calibration + crops:
        for knobs in KNOBS:
            run(crop, knobs)
    rounding.calibrating = False
    cases = [(crop, knobs) for crop in crops for knobs in KNOBS]
    reference = [run(crop, knobs) for crop, knobs in cases]
    report: dict[str, Any] = {}
    for per_channel in (False, True):
        for label, which in TENSORS.items():
            if per_channel and label == "x, x1..x4":
                continue
            rounding.per_channel, rounding.which = per_channel, which
            diff = np.concatenate([np.abs(run(c, k) - r).ravel() for r, (c, k) in zip(reference, cases)]) * 255
            row = {"mean_255": round(float(diff.mean()), 3), "p99_255": round(float(np.percentile(diff, 99)), 2),
                   "max_255": round(float(diff.max()), 1)}
            report[f"{label}, uint8 per {'channel' if per_channel else 'tensor'}"] = row
            print(label, per_channel, row, flush=True)
    return report


def feature_rank(network: torch.nn.Module, calibration: list[np.ndarray]) -> dict[str, Any]:
    moments: dict[str, torch.Tensor] = {}

    def hook(name: str) -> Callable[..., None]:
        def record(_: torch.nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
            flat = inputs[0].detach().permute(0, 2, 3, 1).reshape(-1, inputs[0].shape[1]).double()
            moments[name] = moments[name] + flat.T @ flat if name in moments else flat.T @ flat
        return record

    handles = [module.register_forward_pre_hook(hook(name)) for name, module in network.named_modules()
               if isinstance(module, torch.nn.Conv2d) and name.startswith("body.")]
    with torch.inference_mode():
        for crop in calibration:
            network(as_input(crop), torch.tensor([KNOBS[1]]))
    for handle in handles:
        handle.remove()
    kept: dict[float, list[int]] = {1e-4: [], 1e-5: []}
    channels = []
    for moment in moments.values():
        eigen = np.clip(np.linalg.eigvalsh(moment.numpy())[::-1], 0, None)
        tail = 1 - np.cumsum(eigen) / eigen.sum()
        channels.append(len(eigen))
        for level in kept:
            kept[level].append(int(np.argmax(tail <= level)) + 1)
    return {"convolutions": len(channels), "channels": int(sum(channels)),
            **{f"fraction_kept_at_tail_{level:g}": round(sum(k) / sum(channels), 4) for level, k in kept.items()},
            "convolutions_with_under_90pct_kept_at_1e-5": [
                name for name, c, k in zip(moments, channels, kept[1e-5]) if k < 0.9 * c]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=128, help="feature map side for the arithmetic timings")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--crop", type=int, default=64, help="crop side for the accuracy and rank parts")
    parser.add_argument("--crops", type=int, default=2)
    parser.add_argument("--calibration", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip", nargs="*", default=[], choices=("arith", "activations", "rank"))
    parser.add_argument("--name", default="fast_cpu_limits")
    args = parser.parse_args()
    benchlib.pin_threads(args.threads)
    os.environ.setdefault("MMREALSR_DISABLE_PLUGIN_AUTOLOAD", "1")
    from mmrealsr_plugin import engine
    from mmrealsr_plugin.sources import resolve_model

    started = time.perf_counter()
    info = benchlib.machine()
    weights, _ = resolve_model(None)
    network = engine.load_model(weights, backend="torch", device="cpu").runner.module
    photos = sorted(p for p in PHOTOS.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    calibration = centre_crops(photos[1::2], args.crop)[: args.calibration]
    crops = centre_crops(photos[0::2], args.crop)[: args.crops]
    results: dict[str, Any] = {}
    if "arith" not in args.skip:
        results["arith"] = arithmetic(args.size, args.repeats)
    if "rank" not in args.skip:
        results["rank"] = feature_rank(network, calibration)
    if "activations" not in args.skip:  # last: it replaces the dense blocks' forward for the rest of the process
        results["activations"] = activations(network, calibration, crops)
    benchlib.write_results(args.name, {
        "benchmark": "limits of a fast CPU path: number formats on this CPU, activation bits, feature rank",
        "command": " ".join(["python", "bench/bench_fast_cpu_limits.py", *sys.argv[1:]]),
        "machine": info, "threads": args.threads, "model": weights.name,
        "crops": {"side": args.crop, "evaluated": len(crops), "calibration": len(calibration), "knobs": KNOBS},
        **results, "seconds": round(time.perf_counter() - started, 1)})


if __name__ == "__main__":
    main()
