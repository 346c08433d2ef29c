"""``mmrealsr grid``: one labelled image of the restoration over noise (rows) and blur (columns) values."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from ..atomic import writable_folder
from ..errors import ImageError, OutputError
from ..grid import check_cell_size, modulation_grid
from ..imageio import FORMATS_BY_SUFFIX, read_image, write_image
from . import EXIT_OK
from .common import add_model_options, add_tile_options, check_tile_options, file_identity, load_from_args


def _values(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers such as 0,0.5,1, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one value")
    return values


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("grid", description=__doc__)
    parser.add_argument("input", type=Path, help="image file")
    parser.add_argument("-o", "--output", type=Path, required=True, help="grid image to write (.png, .jpg ...)")
    parser.add_argument("--blur-values", type=_values, default=[0.0, 0.5, 1.0], help="columns (default 0,0.5,1)")
    parser.add_argument("--noise-values", type=_values, default=[0.0, 0.5, 1.0], help="rows (default 0,0.5,1)")
    parser.add_argument("--cell-size", type=int, default=384, help="longer side of each cell in pixels (default 384)")
    parser.add_argument("--extrapolate", action="store_true", help="allow values outside [0, 1]")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    add_model_options(parser)
    add_tile_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if file_identity(args.output) is not None and file_identity(args.output) == file_identity(args.input):
        raise OutputError(f"{args.output} is the input image {args.input}; inputs are never overwritten, even with "
                          "--overwrite: choose another --output")
    if args.output.exists() and not args.overwrite:
        raise FileExistsError(f"{args.output} already exists; pass --overwrite to replace it")
    if args.output.suffix.lower() not in FORMATS_BY_SUFFIX:
        raise ImageError(f"--output {args.output}: unsupported image type {args.output.suffix!r}; use one of "
                         f"{sorted(FORMATS_BY_SUFFIX)}")
    check_cell_size(args.cell_size)
    check_tile_options(args)
    writable_folder(args.output.parent)
    image = read_image(args.input)
    model = load_from_args(args)
    tiles = tqdm(total=0, unit="tile", file=sys.stderr)

    def progress(done: int, total: int) -> None:
        tiles.total = total
        tiles.update(done - tiles.n)

    try:
        grid = modulation_grid(model, image.pixels, args.blur_values, args.noise_values, cell_size=args.cell_size,
                               tile=args.tile, overlap=args.overlap, extrapolate=args.extrapolate, progress=progress)
    finally:
        tiles.close()
    write_image(args.output, grid, overwrite=args.overwrite)
    print(f"wrote {args.output}", file=sys.stderr)
    return EXIT_OK
