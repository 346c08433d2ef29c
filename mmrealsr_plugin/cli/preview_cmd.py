"""``mmrealsr preview``: restore one region of a photo in seconds to choose the knobs before the long run.

Writes bicubic | restored of the region side by side (or, with ``--grid``, the knob grid of that region). The
region is where the photo has most detail unless ``--crop X,Y,W,H`` says otherwise; it is restored exactly as
``mmrealsr restore`` would restore it in the whole photo (scores estimated on the whole photo, the region run with
its surroundings as context), so what you see is what the full run gives.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import ImageError, OutputError, UsageError
from ..grid import check_cell_size, modulation_grid
from ..imageio import FORMATS_BY_SUFFIX, read_image, write_image
from ..preview import PREVIEW_SIZE, Box, detail_box, restore_region, side_by_side
from ..tiling import TileConfig
from . import EXIT_OK
from .common import add_model_options, add_tile_options, file_identity, load_from_args

GRID_VALUES = (0.0, 0.5, 1.0)
GRID_CELL = 512
"""Largest grid cell: the 4x region, shrunk to fit 512 pixels (a 3x3 grid stays on one screen)."""


def _box(text: str) -> Box:
    try:
        return Box.parse(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("preview", description=__doc__)
    parser.add_argument("input", type=Path, help="image file")
    parser.add_argument("-o", "--output", type=Path, default=None,
                        help="picture to write (default: INPUT_preview.png, or INPUT_preview_grid.png with --grid)")
    parser.add_argument("--crop", type=_box, default=None, metavar="X,Y,W,H",
                        help="the region to preview, in input pixels (default: the most detailed one)")
    parser.add_argument("--size", type=int, default=PREVIEW_SIZE,
                        help=f"side of the automatic region in input pixels (default {PREVIEW_SIZE})")
    parser.add_argument("--grid", action="store_true",
                        help="write the 3x3 knob grid (noise rows x blur columns 0, 0.5, 1) of the region instead")
    parser.add_argument("--noise", type=float, default=None, help="noise restoration strength 0..1 (default: estimated)")
    parser.add_argument("--blur", type=float, default=None, help="blur restoration strength 0..1 (default: estimated)")
    parser.add_argument("--extrapolate", action="store_true", help="allow knob values outside [0, 1]")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    add_model_options(parser)
    add_tile_options(parser)
    parser.set_defaults(func=run)


def default_output(source: Path, grid: bool) -> Path:
    return source.with_name(f"{source.stem}_preview{'_grid' if grid else ''}.png")


def run(args: argparse.Namespace) -> int:
    output = args.output or default_output(args.input, args.grid)
    if file_identity(output) is not None and file_identity(output) == file_identity(args.input):
        raise OutputError(f"{output} is the input image {args.input}; inputs are never overwritten, even with "
                          "--overwrite: choose another --output")
    if output.exists() and not args.overwrite:
        raise FileExistsError(f"{output} already exists; pass --overwrite to replace it")
    if output.suffix.lower() not in FORMATS_BY_SUFFIX:
        raise ImageError(f"--output {output}: unsupported image type {output.suffix!r}; use one of "
                         f"{sorted(FORMATS_BY_SUFFIX)}")
    if args.size < 16:
        raise ImageError(f"--size {args.size}: the region must be at least 16 pixels on a side")
    TileConfig.fitted(args.tile, args.overlap)
    pixels = read_image(args.input).pixels
    height, width = pixels.shape[:2]
    box = args.crop.check_inside(width, height) if args.crop else detail_box(pixels, args.size)
    model = load_from_args(args)
    if args.grid:
        cell = check_cell_size(min(max(box.width, box.height) * model.scale, GRID_CELL))
        picture = modulation_grid(model, pixels, GRID_VALUES, GRID_VALUES, cell_size=cell, tile=args.tile,
                                  overlap=args.overlap, extrapolate=args.extrapolate, box=box)
        used = ""
    else:
        result = restore_region(model, pixels, box, blur=args.blur, noise=args.noise, extrapolate=args.extrapolate,
                                tile=args.tile, overlap=args.overlap)
        region = pixels[box.y: box.y + box.height, box.x: box.x + box.width]
        picture = side_by_side(region, result.image)
        used = f" (blur {result.scores.blur[0]:.3f}, noise {result.scores.noise[0]:.3f})"
    write_image(output, picture, overwrite=args.overwrite)
    print(f"wrote {output}: region {box.x},{box.y},{box.width},{box.height}{used}", file=sys.stderr)
    return EXIT_OK
