"""Why torch eager is slower than ONNX Runtime on CPU: where an RRDB's time goes, and channels_last.

Profiles one official-width RRDB (64 features, 64x64) in torch's default NCHW layout, then times
the whole official-size generator in NCHW and in channels_last (same weights, same input) to
measure what the torch backend would gain from the channels-last layout on CPU.

    python bench/bench_torch_layout.py --size 64
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402


def _best(module: torch.nn.Module, x: torch.Tensor, scores: torch.Tensor | None, repeats: int) -> tuple[float, torch.Tensor]:
    with torch.inference_mode():
        args = (x, scores) if scores is not None else (x,)
        module(*(a[..., :16, :16] if a.dim() == 4 else a for a in args))  # first-run allocations
        best, out = float("inf"), None
        for _ in range(repeats):
            start = time.perf_counter()
            out = module(*args)
            best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    benchlib.pin_threads(args.threads)
    from torch.profiler import ProfilerActivity, profile

    from mmrealsr_plugin.archs.mmrealsr.blocks import RRDB
    from mmrealsr_plugin.weights import read_network

    info = benchlib.machine()
    block = RRDB(64, 32).eval()
    feat = torch.rand(1, 64, args.size, args.size)
    with torch.inference_mode():
        block(feat)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            block(feat)
    total = sum(e.self_cpu_time_total for e in prof.key_averages())
    share = {e.key: round(e.self_cpu_time_total / total, 3) for e in prof.key_averages()
             if e.self_cpu_time_total / total >= 0.01}

    weights = benchlib.official_weights()
    nchw = read_network(weights)
    last = read_network(weights).to(memory_format=torch.channels_last)
    x, scores = torch.rand(1, 3, args.size, args.size), torch.rand(1, 2)
    t_nchw, y_nchw = _best(nchw, x, scores, args.repeats)
    t_last, y_last = _best(last, x.contiguous(memory_format=torch.channels_last), scores, args.repeats)
    benchlib.write_results("torch_layout", {
        "benchmark": "torch eager CPU: RRDB op profile (NCHW) and official generator NCHW vs channels_last",
        "command": " ".join(["python", "bench/bench_torch_layout.py", *sys.argv[1:]]),
        "machine": info, "threads": args.threads, "input": [args.size, args.size],
        "rrdb_self_cpu_share_nchw": share,
        "generator_s": {"nchw": round(t_nchw, 3), "channels_last": round(t_last, 3)},
        "nchw_over_channels_last": round(t_nchw / t_last, 3),
        "max_abs_diff": float((y_nchw - y_last).abs().max()),
    })


if __name__ == "__main__":
    main()
