"""Peak memory (RSS) of ``engine.restore`` vs input size, with the default tiling.

Each measurement runs in its own subprocess and reads ``ru_maxrss`` before and after the
restore, so one size's allocations never hide another's. ``increase`` = peak during restore minus
peak after loading (imports, model, input image); the output image's own size is given beside it
so the growth rate can be read off (target: grows no faster than the output; official-size model
at 2048x2048 peak <= 3 GB).

The official-size model takes many minutes per megapixel on 2 CPU cores, so large sizes use the
tiny model of the same layout (``TINY_CONFIG``: width 8, 2 blocks): buffers of the tiling and of
the engine (input, float64 blend band, output, layout conversions) do not depend on the width;
only the per-tile activations do, and those are measured with the official model on one tile.

    python bench/bench_memory.py                      # the default plan
    python bench/bench_memory.py --plan tiny:4096     # one measurement
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402

from mmrealsr_plugin.tiling import DEFAULT_TILE  # noqa: E402

DEFAULT_PLAN = ["tiny:256", "tiny:512", "tiny:1024", "tiny:2048", "official:384", "tiny:4096"]
BIG_SIZE_FREE_BYTES = 14 * 1024**3
"""4096x4096 needs about 10 GB; it is skipped (and reported) when the machine has less available."""


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def child(model_name: str, size: int, tile: int, threads: int) -> None:
    import numpy as np
    import torch

    from mmrealsr_plugin import engine
    from mmrealsr_plugin.testing import TINY_CONFIG, save_random_model

    torch.set_num_threads(threads)
    if model_name == "official":
        weights = benchlib.official_weights()
    else:
        weights = benchlib.MODEL_CACHE / "tiny-random.safetensors"
        if not weights.is_file():
            save_random_model(weights, TINY_CONFIG)
    model = engine.load_model(weights, backend="torch", device="cpu")
    image = np.random.default_rng(0).random((size, size, 3), dtype=np.float32)
    before = _peak_rss()
    start = time.perf_counter()
    result = engine.restore(model, image, tile=tile)
    seconds = time.perf_counter() - start
    peak = _peak_rss()
    print(json.dumps({
        "model": model_name, "input": size, "tile": tile, "seconds": round(seconds, 2),
        "peak_rss_bytes": peak, "rss_before_restore_bytes": before, "increase_bytes": peak - before,
        "output_bytes": int(result.image.nbytes),
    }))


def _available_bytes() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plan", nargs="*", default=DEFAULT_PLAN, help="MODEL:SIZE items (tiny or official)")
    parser.add_argument("--tile", type=int, default=DEFAULT_TILE)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--name", default="memory", help="results file stem")
    parser.add_argument("--child", nargs=2, metavar=("MODEL", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), args.tile, args.threads)
        return
    info = benchlib.machine()
    rows, skipped = [], []
    for item in args.plan:
        model_name, size = item.split(":")
        if int(size) >= 4096 and _available_bytes() < BIG_SIZE_FREE_BYTES:
            skipped.append({"item": item, "why": f"only {_available_bytes() / 1024**3:.1f} GiB available"})
            continue
        env = {**os.environ, "MMREALSR_DISABLE_PLUGIN_AUTOLOAD": "1", "MMREALSR_MAX_PIXELS": "0"}
        done = subprocess.run(
            [sys.executable, __file__, "--child", model_name, size, "--tile", str(args.tile),
             "--threads", str(args.threads)], capture_output=True, text=True, env=env,
        )
        if done.returncode != 0:
            skipped.append({"item": item, "returncode": done.returncode, "why": done.stderr.strip().splitlines()[-1:]})
            continue
        row = json.loads(done.stdout.strip().splitlines()[-1])
        row["increase_over_output"] = round(row["increase_bytes"] / row["output_bytes"], 3)
        row["peak_rss_gib"] = round(row["peak_rss_bytes"] / 1024**3, 3)
        rows.append(row)
        print(json.dumps(row), flush=True)
    benchlib.write_results(args.name, {
        "benchmark": "peak RSS of engine.restore (torch backend, CPU) vs input size",
        "command": " ".join(["python", "bench/bench_memory.py", *sys.argv[1:]]),
        "machine": info, "tile": args.tile, "rows": rows, "skipped": skipped,
    })


if __name__ == "__main__":
    main()
