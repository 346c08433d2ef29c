"""Pack a small, size-bounded training subset: one crop per HR image, stored as high-quality JPEG.

Why: a rented GPU machine receives the code and data as one upload of a few tens of MB, so the
training photos must travel as crops. Each image is downscaled with antialiasing until its short side is
at most ``2 * side`` (hides sensor noise and the source's own JPEG blocks, like the multi-scale
augmentation), then one random ``side`` x ``side`` crop is kept, as JPEG 4:4:4 at ``quality``; the quality
drops in steps until the whole subset fits ``--max-mb``. Seeded, so the same call packs the same crops::

    python -m mmrealsr_plugin.training.recipes.pack_subset ../shared/data/train_hr subset --side 320 --max-mb 10
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np
from PIL import Image

from mmrealsr_plugin.atomic import atomic_path

from ..data import image_files

QUALITIES = (95, 93, 90, 87, 85)


def crop_of(path: Path, side: int, rng: np.random.Generator) -> Image.Image:
    """The downscaled random crop of one image (RGB)."""
    with Image.open(path) as opened:
        image = opened.convert("RGB")
    short = min(image.size)
    if short > 2 * side:
        factor = short / (2 * side)
        image = image.resize((round(image.width / factor), round(image.height / factor)), Image.Resampling.LANCZOS)
    if min(image.size) < side:
        raise ValueError(f"{path}: {image.width}x{image.height} is smaller than the crop side {side}")
    left = int(rng.integers(0, image.width - side + 1))
    top = int(rng.integers(0, image.height - side + 1))
    return image.crop((left, top, left + side, top + side))


def encode(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, subsampling=0)
    return buffer.getvalue()


def pack(source: Path, destination: Path, side: int, max_mb: float, seed: int) -> tuple[int, int, int]:
    """Write the subset; returns (images, bytes, JPEG quality used)."""
    rng = np.random.default_rng(seed)
    crops = [(path, crop_of(path, side, rng)) for path in image_files(source) if min(Image.open(path).size) >= side]
    if not crops:
        raise SystemExit(f"{source}: no image with a side of at least {side} px")
    for quality in QUALITIES:
        encoded = [(path, encode(crop, quality)) for path, crop in crops]
        total = sum(len(data) for _, data in encoded)
        if total <= max_mb * 1e6:
            break
    else:
        raise SystemExit(f"{len(crops)} crops need {total / 1e6:.1f} MB even at quality {QUALITIES[-1]}; "
                         f"lower --side or raise --max-mb ({max_mb})")
    destination.mkdir(parents=True, exist_ok=True)
    for path, data in encoded:
        name = "_".join(path.relative_to(source).with_suffix(".jpg").parts)
        with atomic_path(destination / name) as part:
            part.write_bytes(data)
    return len(encoded), total, quality


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", type=Path, help="folder of HR images (searched recursively)")
    parser.add_argument("destination", type=Path)
    parser.add_argument("--side", type=int, default=320)
    parser.add_argument("--max-mb", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    count, total, quality = pack(args.source, args.destination, args.side, args.max_mb, args.seed)
    print(f"{count} crops of {args.side} px, JPEG quality {quality}, {total / 1e6:.1f} MB in {args.destination}")


if __name__ == "__main__":
    main()
