"""Peak memory (RSS) of one restore vs input size, with the default tiling, end to end.

Each measurement runs in its own subprocess, as the CLI does it: load the model, decode a PNG photo (a real photo of
``eval_real`` resized to the size), ``engine.restore``, encode and write the PNG. ``peak_rss`` is the process's
``ru_maxrss`` at the end (imports, model, image, restore, encode: everything); ``increase`` = that peak minus the peak
before the restore (imports, model, decoded input), beside the output image's own size so the growth rate can be read
off (target: grows no faster than the output; official-size model at 2048x2048 peak <= 3 GB).

Models: ``official`` (the packaged default, official size), ``wide1`` (official widths, one RRDB instead of 23: the
same tensors per tile and per pixel, 1/10 of the compute, 15.7 M fewer parameters, i.e. 63 MB less fp32 weight
memory; ``official`` vs ``wide1`` at the same size shows it) and ``tiny`` (``TINY_CONFIG``: width 8, for 4096).

    python bench/bench_memory.py --plan official:384 wide1:384 wide1:1024 wide1:2048 tiny:1024 tiny:2048 tiny:4096
    python bench/bench_memory.py --plan official:2048       # the long run (about an hour on 2 busy cores)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402

from mmrealsr_plugin.sysmem import available_bytes  # noqa: E402
from mmrealsr_plugin.tiling import DEFAULT_TILE  # noqa: E402

DEFAULT_PLAN = ["official:384", "wide1:384", "wide1:1024", "wide1:2048", "tiny:1024", "tiny:2048", "tiny:4096"]
PHOTOS = Path("/work/shared/data/eval_real/RealSet65")
BIG_SIZE_FREE_BYTES = 14 * 1024**3
"""4096x4096 needs about 10 GB; it is skipped (and reported) when the machine has less available."""


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def _weights(model_name: str) -> Path | None:
    from mmrealsr_plugin.archs.mmrealsr import OFFICIAL_CONFIG
    from mmrealsr_plugin.testing import TINY_CONFIG, random_model
    from mmrealsr_plugin.weights import save_safetensors

    if model_name == "official":
        return None  # the packaged default model
    config = {"tiny": TINY_CONFIG, "wide1": dataclasses.replace(OFFICIAL_CONFIG, num_block=1)}[model_name]
    weights = benchlib.MODEL_CACHE / f"{model_name}-random.safetensors"
    if not weights.is_file():
        model = random_model(config, std=benchlib.OFFICIAL_STD if model_name == "wide1" else 0.1)
        save_safetensors(model.state_dict(), weights, config=config.to_dict())
    return weights


def _photo(size: int, folder: Path) -> Path:
    """A real photo resized to size x size, written as PNG (decoded again by the measured process)."""
    from PIL import Image

    source = sorted(PHOTOS.glob("*.png"))[0]
    target = folder / f"photo{size}.png"
    if not target.is_file():
        with Image.open(source) as image:
            image.convert("RGB").resize((size, size), Image.Resampling.BICUBIC).save(target)
    return target


def child(model_name: str, size: int, tile: int, threads: int, backend: str) -> None:
    import tempfile

    import torch

    from mmrealsr_plugin import engine
    from mmrealsr_plugin.imageio import read_image, write_image

    torch.set_num_threads(threads)
    model = engine.load_model(_weights(model_name), backend=backend, device="cpu")
    with tempfile.TemporaryDirectory() as tmp:
        image = read_image(_photo(size, benchlib.MODEL_CACHE))
        before = _peak_rss()
        start = time.perf_counter()
        result = engine.restore(model, image.pixels, blur=0.5, noise=0.5, tile=tile)
        write_image(Path(tmp) / "out.png", result.image, bit_depth=image.bit_depth, icc_profile=image.icc_profile)
        seconds = time.perf_counter() - start
    peak = _peak_rss()
    print(json.dumps({
        "model": model_name, "backend": backend, "input": size, "tile": tile, "seconds": round(seconds, 2),
        "peak_rss_bytes": peak, "rss_before_restore_bytes": before, "increase_bytes": peak - before,
        "output_bytes": int(result.image.nbytes),
    }))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plan", nargs="*", default=DEFAULT_PLAN, help="MODEL:SIZE items (official, wide1 or tiny)")
    parser.add_argument("--tile", type=int, default=DEFAULT_TILE)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--backend", default="torch", choices=["torch", "onnx"])
    parser.add_argument("--name", default="memory", help="results file stem")
    parser.add_argument("--child", nargs=2, metavar=("MODEL", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), args.tile, args.threads, args.backend)
        return
    info = benchlib.machine()
    rows, skipped = [], []
    for item in args.plan:
        model_name, size = item.split(":")
        if int(size) >= 4096 and (available_bytes() or 0) < BIG_SIZE_FREE_BYTES:
            skipped.append({"item": item, "why": f"only {(available_bytes() or 0) / 1024**3:.1f} GiB available"})
            continue
        env = {**os.environ, "MMREALSR_DISABLE_PLUGIN_AUTOLOAD": "1", "MMREALSR_MAX_PIXELS": "0"}
        done = subprocess.run(
            [sys.executable, __file__, "--child", model_name, size, "--tile", str(args.tile),
             "--threads", str(args.threads), "--backend", args.backend], capture_output=True, text=True, env=env,
        )
        if done.returncode != 0:
            skipped.append({"item": item, "returncode": done.returncode, "why": done.stderr.strip().splitlines()[-1:]})
            continue
        row = json.loads(done.stdout.strip().splitlines()[-1])
        row["increase_over_output"] = round(row["increase_bytes"] / row["output_bytes"], 3)
        row["peak_rss_gib"] = round(row["peak_rss_bytes"] / 1024**3, 3)
        rows.append(row)
        print(json.dumps(row), flush=True)
        _write(args, info, rows, skipped)  # after every row: a long plan cut short keeps what it measured
    _write(args, info, rows, skipped)


def _write(args: argparse.Namespace, info: dict, rows: list, skipped: list) -> None:
    benchlib.write_results(args.name, {
        "benchmark": f"peak RSS of decode + engine.restore + encode ({args.backend} backend, CPU) vs input size",
        "command": " ".join(["python", "bench/bench_memory.py", *sys.argv[1:]]),
        "machine": info, "tile": args.tile, "rows": rows, "skipped": skipped,
        "complete": len(rows) + len(skipped) == len(args.plan),
    })


if __name__ == "__main__":
    main()
