"""``mmrealsr restore``: super-resolve files, folders or globs with the noise and blur knobs."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from tqdm import tqdm

from ..atomic import writable_folder
from ..engine import check_outscale, check_score, restore
from ..errors import ImageError, MMRealSRError, UsageError
from ..imageio import ALPHA_FORMATS, FORMATS_BY_SUFFIX, read_image, write_image
from ..tiling import TileConfig
from . import EXIT_FAILED, EXIT_OK, EXIT_PARTIAL
from .common import InputFile, add_model_options, add_tile_options, expand_inputs, file_identity, load_from_args


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("restore", description=__doc__)
    parser.add_argument("inputs", nargs="+", help="image files, folders or glob patterns")
    parser.add_argument("-o", "--output-dir", type=Path, default=Path("results"),
                        help="folder for the results (default: ./results)")
    parser.add_argument("--suffix", default="_mmrealsr", help="added to each output file name (default: _mmrealsr)")
    parser.add_argument("--ext", default="same", choices=["same", *sorted({s[1:] for s in FORMATS_BY_SUFFIX})],
                        help="output format (default: same as the input)")
    parser.add_argument("--noise", type=float, default=None, help="noise restoration strength 0..1 (default: estimated)")
    parser.add_argument("--blur", type=float, default=None, help="blur restoration strength 0..1 (default: estimated)")
    parser.add_argument("--extrapolate", action="store_true", help="allow knob values outside [0, 1]")
    parser.add_argument("--outscale", type=float, default=None, help="final scale (default: the model's, 4)")
    parser.add_argument("--bit-depth", choices=["auto", "8", "16"], default="auto",
                        help="output bit depth (default: that of the input, where the format allows)")
    parser.add_argument("--recursive", "-r", action="store_true", help="descend into sub-folders")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs (inputs are never replaced)")
    parser.add_argument("--fail-fast", action="store_true", help="stop at the first bad input instead of skipping it")
    add_model_options(parser)
    add_tile_options(parser)
    parser.set_defaults(func=run)


def output_path(source: InputFile, output_dir: Path, suffix: str, ext: str) -> Path:
    """``<output_dir>/<folder below the argument>/<stem><suffix><ext>``."""
    extension = source.path.suffix if ext == "same" else f".{ext}"
    if extension.lower() not in FORMATS_BY_SUFFIX:
        extension = ".png"
    return output_dir / source.relative / f"{source.path.stem}{suffix}{extension}"


def plan_outputs(inputs: list[InputFile], output_dir: Path, suffix: str, ext: str
                 ) -> tuple[list[tuple[InputFile, Path]], list[tuple[Path, str]]]:
    """Pair each input with its output and refuse, before any work, every pair that would lose a file.

    Refused: an input whose output is an input of this run (with or without ``--overwrite``: inputs
    are never written); an input that is itself the output of another input of this run (restoring
    it again would only stack suffixes); a second input whose output name is already taken by
    another input. Files are compared by identity (device and inode), so symlinks, hard links and
    other spellings of a path are caught. Returns (jobs, refusals).
    """
    targets = [(entry, output_path(entry, output_dir, suffix, ext)) for entry in inputs]
    identities = {file_identity(entry.path) for entry in inputs} - {None}
    produced_by = {}
    for entry, target in targets:
        identity = file_identity(target)
        if identity is not None and identity != file_identity(entry.path):
            produced_by.setdefault(identity, entry.path)
    jobs: list[tuple[InputFile, Path]] = []
    refused: list[tuple[Path, str]] = []
    claimed: dict[str, Path] = {}
    for entry, target in targets:
        identity = file_identity(entry.path)
        key = os.path.normcase(os.path.realpath(target))
        if identity in produced_by:
            refused.append((entry.path, f"it is the output of {produced_by[identity]} in this run, not restored again"))
        elif file_identity(target) in identities:
            what = "the input itself" if file_identity(target) == identity else "an input of this run"
            refused.append((entry.path, f"its output {target} is {what} and inputs are never overwritten; choose "
                                        "another --output-dir or --suffix"))
        elif key in claimed:
            refused.append((entry.path, f"its output {target} is also the output of {claimed[key]}; restore them "
                                        "into different --output-dir folders (or keep their folders with -r)"))
        else:
            claimed[key] = entry.path
            jobs.append((entry, target))
    return jobs, refused


def run(args: argparse.Namespace) -> int:
    check_score("noise", args.noise, args.extrapolate)
    check_score("blur", args.blur, args.extrapolate)
    check_outscale(args.outscale)
    TileConfig.fitted(args.tile, args.overlap)
    if any(sep and sep in args.suffix for sep in (os.sep, os.altsep)):
        raise UsageError(f"--suffix {args.suffix!r} must not contain a path separator: outputs stay in --output-dir")
    inputs = expand_inputs(args.inputs, args.recursive)
    jobs, failures = plan_outputs(inputs, args.output_dir, args.suffix, args.ext)
    for source, message in failures:
        print(f"mmrealsr: skipped {source}: {message}", file=sys.stderr)
    if failures and args.fail_fast:
        jobs = []
    if jobs:
        writable_folder(args.output_dir)
        model = load_from_args(args)
    written = 0
    bar = tqdm(jobs, unit="img", disable=len(jobs) < 2, file=sys.stderr)
    for entry, target in bar:
        source = entry.path
        try:
            if target.exists() and not args.overwrite:
                raise ImageError(f"{target} already exists; pass --overwrite to replace it")
            image = read_image(source)
            if image.has_alpha and FORMATS_BY_SUFFIX[target.suffix.lower()] not in ALPHA_FORMATS:
                raise ImageError(f"{source} has an alpha channel, which {target.suffix} cannot store; use --ext png, "
                                 "webp or tiff")
            tiles = tqdm(total=0, unit="tile", leave=False, file=sys.stderr, desc=source.name)

            def progress(done: int, total: int, tiles: tqdm = tiles) -> None:
                tiles.total = total
                tiles.update(done - tiles.n)

            try:
                result = restore(model, image.pixels, blur=args.blur, noise=args.noise, extrapolate=args.extrapolate,
                                 tile=args.tile, overlap=args.overlap, outscale=args.outscale, progress=progress)
            finally:
                tiles.close()
            depth = image.bit_depth if args.bit_depth == "auto" else int(args.bit_depth)
            write_image(target, result.image, bit_depth=depth, icc_profile=image.icc_profile, overwrite=args.overwrite)
            scores = result.scores.to_list()[0]
            tqdm.write(f"{source} -> {target}  (blur {scores['blur']:.3f}, noise {scores['noise']:.3f})", file=sys.stderr)
            written += 1
        except (MMRealSRError, OSError) as exc:
            message = str(exc)
            failures.append((source, message))
            tqdm.write(f"mmrealsr: skipped {source}: {message}", file=sys.stderr)
            if args.fail_fast:
                break
    print(f"restored {written} of {len(inputs)} image(s) into {args.output_dir}", file=sys.stderr)
    for source, message in failures:
        print(f"  failed: {source}: {message}", file=sys.stderr)
    if not failures:
        return EXIT_OK
    return EXIT_PARTIAL if written else EXIT_FAILED
