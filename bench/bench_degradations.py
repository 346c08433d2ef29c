"""Throughput of the MM-RealSR training degradation, in samples/s (one sample = 5 LQ + GT), printed as JSON.

The machine this runs on is shared and noisy, so each repeat is paired with a reference op (a loop of
1024x1024 float32 matmuls) timed right before it; the ratio degradation-time / reference-time is the number
to compare across runs. Seeds cycle over a fixed list so every run times the same mix of random branches
(resize directions, Poisson vs Gaussian, kernel sizes), which dominate the per-batch cost.

    python bench/bench_degradations.py [--batch 6] [--gt-size 192] [--threads 2[,1]] [--repeats 12]

With several thread counts (e.g. ``--threads 2,1``) each is measured in turn, all in one JSON object:
on an oversubscribed machine one thread can beat two by a wide margin (OpenMP barrier stalls).

Reference from the issue: the official BasicSR-based synthesis does 1.66 samples/s at batch 6, GT 192,
2 threads (3.6 s per batch); the target is >= 5 samples/s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

# Spinning OpenMP workers stall every parallel region when the machine is oversubscribed (measured here:
# 3.7 s vs 0.48 s per batch at 2 threads, load ~12 on 2 cores). Must be set before torch loads; export
# OMP_WAIT_POLICY=ACTIVE to measure the spinning default.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

from mmrealsr_plugin.training.degradations import DegradationConfig, DegradationPipeline  # noqa: E402

OFFICIAL_SAMPLES_PER_S = 1.66
TARGET_SAMPLES_PER_S = 5.0


def reference_op_seconds(loops: int = 10) -> float:
    """Seconds for ``loops`` 1024x1024 float32 matmuls (a fixed yardstick of the machine's current speed)."""
    a = torch.rand(1024, 1024, generator=torch.Generator().manual_seed(0))
    start = time.perf_counter()
    for _ in range(loops):
        a @ a
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=6)
    parser.add_argument("--gt-size", type=int, default=192)
    parser.add_argument("--threads", default="2", help="thread count, or a comma-separated list to compare")
    parser.add_argument("--repeats", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sharpen-gt", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args(argv)

    device = torch.device(args.device)
    pipeline = DegradationPipeline(DegradationConfig(), scale=4)
    gt = torch.rand(args.batch, 3, args.gt_size, args.gt_size, generator=torch.Generator().manual_seed(1))
    gt = gt.to(device)

    def run(seed: int) -> float:
        generator = torch.Generator(device=device).manual_seed(seed)
        start = time.perf_counter()
        out = pipeline(gt, generator, sharpen_gt=args.sharpen_gt)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        elapsed = time.perf_counter() - start
        assert out.lq.shape == (5, args.batch, 3, args.gt_size // 4, args.gt_size // 4)
        return elapsed

    runs = []
    for threads in (int(t) for t in args.threads.split(",")):
        torch.set_num_threads(threads)
        for seed in range(args.warmup):
            run(1000 + seed)
        batch_times, ref_times = [], []
        for seed in range(args.repeats):
            ref_times.append(reference_op_seconds())
            batch_times.append(run(seed))
        batch_time = statistics.median(batch_times)
        ref_time = statistics.median(ref_times)
        samples_per_s = args.batch / batch_time
        runs.append({
            "threads": threads,
            "seconds_per_batch_median": round(batch_time, 4),
            "seconds_per_batch_min": round(min(batch_times), 4),
            "seconds_per_batch_max": round(max(batch_times), 4),
            "samples_per_s": round(samples_per_s, 3),
            "samples_per_s_best": round(args.batch / min(batch_times), 3),
            "reference_op_seconds_median": round(ref_time, 4),
            "batch_over_reference_ratio": round(batch_time / ref_time, 3),
            "speedup_vs_official": round(samples_per_s / OFFICIAL_SAMPLES_PER_S, 2),
            "meets_target": samples_per_s >= TARGET_SAMPLES_PER_S,
        })
    result: dict[str, object] = {
        "benchmark": "degradation_throughput",
        "device": str(device),
        "batch": args.batch,
        "gt_size": args.gt_size,
        "repeats": args.repeats,
        "reference_op": "10 x matmul 1024x1024 float32, timed before each repeat",
        "official_samples_per_s": OFFICIAL_SAMPLES_PER_S,
        "target_samples_per_s": TARGET_SAMPLES_PER_S,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "load_average": [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "machine": platform.machine(),
        "runs": runs,
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
