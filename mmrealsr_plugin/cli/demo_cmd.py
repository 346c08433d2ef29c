"""``mmrealsr demo``: make a degraded sample photo, restore it, and write a modulation grid."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..atomic import writable_folder
from ..engine import restore
from ..grid import modulation_grid
from ..imageio import write_image
from ..sample import make_sample_photo
from . import EXIT_OK
from .common import add_model_options, load_from_args


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", description=__doc__)
    parser.add_argument("-o", "--output-dir", type=Path, default=Path("demo-output"),
                        help="where to write sample.png, sample_mmrealsr.png and grid.png (default ./demo-output)")
    parser.add_argument("--overwrite", action="store_true", help="replace those files when they exist")
    add_model_options(parser)
    parser.set_defaults(func=run)


NAMES = ("sample.png", "sample_mmrealsr.png", "grid.png")


def run(args: argparse.Namespace) -> int:
    out = args.output_dir
    existing = [str(out / name) for name in NAMES if (out / name).exists()]
    if existing and not args.overwrite:
        raise FileExistsError(f"{', '.join(existing)} already exist; pass --overwrite to replace them, or another -o")
    writable_folder(out)
    model = load_from_args(args)
    sample = make_sample_photo()
    write_image(out / "sample.png", sample, overwrite=True)
    result = restore(model, sample)
    write_image(out / "sample_mmrealsr.png", result.image, overwrite=True)
    scores = result.scores.to_list()[0]
    print(f"estimated blur {scores['blur']:.3f}, noise {scores['noise']:.3f}", file=sys.stderr)
    grid = modulation_grid(model, sample, (0.0, 0.5, 1.0), (0.0, 0.5, 1.0), cell_size=256)
    write_image(out / "grid.png", grid, overwrite=True)
    for name in NAMES:
        print(out / name)
    return EXIT_OK
