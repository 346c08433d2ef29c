"""Preview vs full restore of a 1024x1024 photo (issue 16): time ratio, and how far the preview is from the full result.

    python bench/bench_preview.py whole [--threads 2]          # both runs end to end, reduced-size random model
    python bench/bench_preview.py parts [--model NAME_OR_FILE]  # the packaged model, timed by parts
    python bench/bench_preview.py accuracy [--model NAME_OR_FILE]  # preview vs full result, packaged model

The photo is a real one (RealSet65 OST_120, 720x720) resized to 1024x1024; both paths are the CLI's
(`mmrealsr restore`, `mmrealsr preview`: automatic region of PREVIEW_SIZE, scores of the whole photo).

``whole`` runs both end to end on a reduced-width random network of the official layout (a full 1024x1024 restore
of the official-size trunk takes most of an hour on two shared cores) and compares the preview with the same
region of the full result. Its trunk is ~10x cheaper per pixel than the official one while the estimator is the
official one, so the estimate (which both runs need, on the whole photo) weighs far more than with a real model.

``parts`` times what each run is made of with the real model: the estimate of the whole photo, one full-size tile
(384 px, default tiling) and one preview region (PREVIEW_SIZE plus its context), and adds them up as the engine runs
them (the full restore of 1024x1024 is 3x3 such tiles; the preview one region).

``accuracy`` compares, with the real model, a preview (automatic 128 px region) with the same region of the full
restore of a 384x384 crop of the photo (one tile: the difference is the preview's limited context alone).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import MODEL_CACHE, interleaved, machine, pin_threads, write_results  # noqa: E402

PHOTO = Path("/work/shared/data/eval_real/RealSet65/OST_120.png")
SIZE = 1024


def photo() -> np.ndarray:
    rgb = Image.open(PHOTO).convert("RGB").resize((SIZE, SIZE), Image.Resampling.LANCZOS)
    return np.asarray(rgb, dtype=np.float32) / 255.0


def reduced_model() -> Path:
    from mmrealsr_plugin.archs.mmrealsr import MMRealSRConfig
    from mmrealsr_plugin.testing import save_random_model

    path = MODEL_CACHE / "preview-bench.safetensors"
    if not path.is_file():
        MODEL_CACHE.mkdir(parents=True, exist_ok=True)
        save_random_model(path, MMRealSRConfig(num_feat=32, num_block=4, num_grow_ch=16), seed=0)
    return path


def whole(args: argparse.Namespace) -> None:
    from mmrealsr_plugin import load_model, restore
    from mmrealsr_plugin.preview import PREVIEW_SIZE, detail_box, restore_region

    image = photo()
    model_path = args.model or reduced_model()
    model = load_model(model_path, device="cpu")
    box = detail_box(image, PREVIEW_SIZE)
    results: dict[str, np.ndarray] = {}

    def full() -> None:
        results["full"] = restore(model, image).image

    def preview() -> None:
        results["preview"] = restore_region(model, image, detail_box(image, PREVIEW_SIZE)).image

    timings = interleaved({"full": full, "preview": preview}, repeats=args.repeats, warmup=False)
    scale = model.scale
    same = results["full"][box.y * scale: (box.y + box.height) * scale, box.x * scale: (box.x + box.width) * scale]
    diff = np.abs(results["preview"] - same) * 255
    write_results("preview_1024_whole", {
        "command": " ".join(sys.argv), "machine": machine(), "model": str(model_path), "photo": str(PHOTO),
        "size": SIZE, "region": [box.x, box.y, box.width, box.height], "timings": timings,
        "preview_over_full": round(timings["preview"]["median_s"] / timings["full"]["median_s"], 4),
        "target": "<= 0.125",
        "diff_to_full_in_255ths": {"mean": float(diff.mean()), "p99": float(np.percentile(diff, 99)),
                                   "max": float(diff.max())},
    })


def parts(args: argparse.Namespace) -> None:
    from mmrealsr_plugin import estimate, load_model, restore
    from mmrealsr_plugin.preview import PREVIEW_CONTEXT, PREVIEW_SIZE
    from mmrealsr_plugin.tiling import DEFAULT_OVERLAP, DEFAULT_TILE, tile_layout

    image = photo()
    model = load_model(args.model, device="cpu")
    side = PREVIEW_SIZE + 2 * PREVIEW_CONTEXT
    starts, _ = tile_layout(SIZE, DEFAULT_TILE, DEFAULT_OVERLAP, model.runner.size_multiple)
    timings = {}
    start = time.perf_counter()
    scores = estimate(model, image)
    timings["estimate_whole_photo_s"] = time.perf_counter() - start
    knobs = {"blur": float(scores.blur[0]), "noise": float(scores.noise[0])}
    start = time.perf_counter()
    restore(model, image[:DEFAULT_TILE, :DEFAULT_TILE], tile=0, **knobs)
    timings["one_tile_s"] = time.perf_counter() - start
    start = time.perf_counter()
    restore(model, image[:side, :side], tile=0, **knobs)
    timings["preview_region_s"] = time.perf_counter() - start
    tiles = len(starts) ** 2
    full = timings["estimate_whole_photo_s"] + tiles * timings["one_tile_s"]
    preview = timings["estimate_whole_photo_s"] + timings["preview_region_s"]
    write_results("preview_1024_parts", {
        "command": " ".join(sys.argv), "machine": machine(), "model": args.model, "photo": str(PHOTO),
        "size": SIZE, "tiles_of_the_full_restore": tiles, "preview_region_side": side, "timings": timings,
        "full_s": round(full, 2), "preview_s": round(preview, 2), "preview_over_full": round(preview / full, 4),
        "preview_over_full_with_knobs_set": round(timings["preview_region_s"] / (tiles * timings["one_tile_s"]), 4),
        "target": "<= 0.125",
    })


def accuracy(args: argparse.Namespace) -> None:
    from mmrealsr_plugin import load_model, restore
    from mmrealsr_plugin.preview import detail_box, restore_region

    image = photo()[320:704, 320:704]
    model = load_model(args.model, device="cpu")
    box = detail_box(image, 128)
    start = time.perf_counter()
    full = restore(model, image)
    full_s = time.perf_counter() - start
    start = time.perf_counter()
    preview = restore_region(model, image, box, scores=full.scores)
    preview_s = time.perf_counter() - start
    scale = model.scale
    same = full.image[box.y * scale: (box.y + box.height) * scale, box.x * scale: (box.x + box.width) * scale]
    diff = np.abs(preview.image - same) * 255
    write_results("preview_accuracy", {
        "command": " ".join(sys.argv), "machine": machine(), "model": args.model, "photo": str(PHOTO),
        "crop": [320, 320, 384, 384], "region": [box.x, box.y, box.width, box.height],
        "full_s": round(full_s, 2), "preview_s_scores_given": round(preview_s, 2),
        "diff_to_full_in_255ths": {"mean": float(diff.mean()), "p99": float(np.percentile(diff, 99)),
                                   "max": float(diff.max())},
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("whole", "parts", "accuracy"))
    parser.add_argument("--model", default=None, help="default: whole: the reduced random model; parts: the "
                                                      "packaged default")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    pin_threads(args.threads)
    {"whole": whole, "parts": parts, "accuracy": accuracy}[args.mode](args)


if __name__ == "__main__":
    main()
