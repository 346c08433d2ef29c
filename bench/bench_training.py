"""Seconds per stage-1 training iteration of the official-size model on the CPU (batch 1, GT 128, 2 threads).

Reference (issue): the official code takes 3.6 s per such iteration; the target is no slower than
0.9x its speed, i.e. at most 3.6 / 0.9 = 4.0 s. An iteration is what the official loop times: the
five-way degradation of the batch plus the forward/backward/Adam/EMA step. A fixed matmul is timed in
the same run so numbers from different machines can be put side by side.

    python bench/bench_training.py --iters 5 --threads 2 [--train-dir /work/shared/data/train_hr]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time

import torch

from mmrealsr_plugin.training.config import load_config
from mmrealsr_plugin.training.trainer import Trainer

OFFICIAL_SECONDS = 3.6


def matmul_seconds(n: int = 1024, repeats: int = 10) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--gt-size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--train-dir", default="/work/shared/data/train_hr")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as out:
        config = load_config("mmrealsr_net_x4", [
            f'run.output_root="{out}"', 'run.device="cpu"', f"run.threads={args.threads}", "run.progress=false",
            f'data.train_dirs=["{args.train_dir}"]', f"data.crop_size={args.gt_size}", f"data.gt_size={args.gt_size}",
            f"data.batch_size={args.batch}", "data.queue_size=0",
        ])
        trainer = Trainer(config)
        data_times, step_times = [], []
        for i in range(args.warmup + args.iters):
            t0 = time.perf_counter()
            batch = trainer.stage.batches.next()
            t1 = time.perf_counter()
            trainer.stage.step(batch)
            t2 = time.perf_counter()
            if i >= args.warmup:
                data_times.append(t1 - t0)
                step_times.append(t2 - t1)
        trainer.close()
    total = [d + s for d, s in zip(data_times, step_times)]
    seconds = statistics.median(total)
    print(json.dumps({
        "benchmark": "stage1_iteration_cpu", "model": "official (23 RRDB, 64 feat)", "batch": args.batch,
        "gt_size": args.gt_size, "threads": args.threads, "iters": args.iters,
        "seconds_per_iter_median": round(seconds, 3), "seconds_per_iter_all": [round(t, 3) for t in total],
        "data_seconds_median": round(statistics.median(data_times), 3),
        "step_seconds_median": round(statistics.median(step_times), 3),
        "official_reference_seconds": OFFICIAL_SECONDS, "speed_vs_official": round(OFFICIAL_SECONDS / seconds, 3),
        "target_met": OFFICIAL_SECONDS / seconds >= 0.9,
        "matmul_1024_fp32_seconds": round(matmul_seconds(), 5),
        "torch": torch.__version__, "cpu": platform.processor() or platform.machine(),
    }, indent=2))


if __name__ == "__main__":
    main()
