"""``mmrealsr restore``: super-resolve files, folders or globs with the noise and blur knobs.

A folder runs as a pipeline (:mod:`.pipeline`: the next image decodes and the previous one is written while the
network runs); under torchrun each process takes its share of the batch on its own device (:mod:`.ranks`);
``--skip-existing`` resumes a batch, keeping only outputs verified complete.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from ..atomic import writable_folder
from ..engine import RestoreResult, check_outscale, check_score, output_size, restore
from ..errors import ImageError, MMRealSRError, UsageError
from ..imageio import ALPHA_FORMATS, FORMATS_BY_SUFFIX, LoadedImage, image_size, read_image, write_image
from ..types import LoadedModel
from . import EXIT_FAILED, EXIT_OK, EXIT_PARTIAL
from .common import (InputFile, add_model_options, add_tile_options, check_tile_options, expand_inputs, file_identity,
                     load_from_args)
from .pipeline import Skip, overlapped
from .ranks import Ranks


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
    parser.add_argument("--skip-existing", action="store_true",
                        help="resume a batch: keep outputs that exist and are complete (decode in full at the expected "
                        "size), redo the others")
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


@dataclass(frozen=True)
class Job:
    """One input and the output it is restored into."""

    source: Path
    target: Path


@dataclass(frozen=True)
class Counts:
    """What one rank did, exchanged at the end so the summary counts each input once."""

    written: int = 0
    skipped: int = 0
    failures: tuple[tuple[str, str], ...] = ()


def complete_output(target: Path, expected: tuple[int, int]) -> str | None:
    """Why ``target`` is not a finished output of ``expected`` (width, height); None when it is one.

    Complete means it decodes in full (not truncated, not corrupt) at the expected size: a present file alone
    proves nothing after a crash of another tool, a copy cut short, or a run with other settings.
    """
    try:
        pixels = read_image(target, max_pixels=0).pixels
    except ImageError as exc:
        return str(exc)
    got = (pixels.shape[1], pixels.shape[0])
    if got != expected:
        return f"{target} is {got[0]}x{got[1]}, expected {expected[0]}x{expected[1]}"
    return None


def run(args: argparse.Namespace) -> int:
    check_score("noise", args.noise, args.extrapolate)
    check_score("blur", args.blur, args.extrapolate)
    check_outscale(args.outscale)
    check_tile_options(args)
    if any(sep and sep in args.suffix for sep in (os.sep, os.altsep)):
        raise UsageError(f"--suffix {args.suffix!r} must not contain a path separator: outputs stay in --output-dir")
    if args.skip_existing and args.overwrite:
        raise UsageError("--skip-existing keeps complete outputs and --overwrite replaces them: give one of the two")
    ranks = Ranks.from_env()
    inputs = expand_inputs(args.inputs, args.recursive)
    planned, refused = plan_outputs(inputs, args.output_dir, args.suffix, args.ext)
    prefix = f"[rank {ranks.rank}] " if ranks.world > 1 else ""
    jobs = [] if refused and args.fail_fast else [Job(entry.path, target) for entry, target in ranks.shard(planned)]
    if not ranks.lead:
        refused = []  # every rank plans the same batch; rank 0 reports (and counts) the refusals
    for source, message in refused:
        print(f"mmrealsr: skipped {source}: {message}", file=sys.stderr)
    counts = Counts()
    if jobs:
        writable_folder(args.output_dir)
        if ranks.world > 1:
            import torch

            args.device = ranks.device(args.device, torch.cuda.device_count())
        counts = restore_jobs(load_from_args(args), jobs, args, prefix)
    counts = Counts(counts.written, counts.skipped,
                    tuple((str(path), message) for path, message in refused) + counts.failures)
    everyone = ranks.gather(counts)
    written, skipped = sum(c.written for c in everyone), sum(c.skipped for c in everyone)
    failures = [failure for c in everyone for failure in c.failures]
    if ranks.lead:
        details = [f"{skipped} already complete"] if args.skip_existing else []
        details += [f"{len(failures)} failed"] if failures else []
        details += [f"{ranks.world} processes"] if ranks.world > 1 else []
        note = f" ({', '.join(details)})" if details else ""
        print(f"restored {written} of {len(inputs)} image(s) into {args.output_dir}{note}", file=sys.stderr)
        for source, message in failures:
            print(f"  failed: {source}: {message}", file=sys.stderr)
    if not failures:
        return EXIT_OK
    return EXIT_PARTIAL if written or skipped else EXIT_FAILED


def restore_jobs(model: LoadedModel, jobs: list[Job], args: argparse.Namespace, prefix: str = "") -> Counts:
    """Restore ``jobs`` with ``model`` as the parsed ``args`` say, decoding the next and writing the previous image
    while the network runs on the current one (:func:`.pipeline.overlapped`)."""

    def prepare(job: Job) -> tuple[LoadedImage, bool] | Skip[tuple[bool, str]]:
        """The decoded input and whether its output may replace a file; a Skip for a complete output."""
        replace = args.overwrite
        if job.target.exists() and not args.overwrite:
            if not args.skip_existing:
                raise ImageError(f"{job.target} already exists; pass --overwrite to replace it, or --skip-existing "
                                 "to keep complete outputs")
            problem = complete_output(job.target, output_size(*image_size(job.source), model.scale, args.outscale))
            if problem is None:
                return Skip((False, f"{job.source}: {job.target} is complete, kept"))
            tqdm.write(f"{prefix}{job.target} is redone: {problem}", file=sys.stderr)
            replace = True
        image = read_image(job.source)
        if image.has_alpha and FORMATS_BY_SUFFIX[job.target.suffix.lower()] not in ALPHA_FORMATS:
            raise ImageError(f"{job.source} has an alpha channel, which {job.target.suffix} cannot store; use --ext "
                             "png, webp or tiff")
        return image, replace

    def compute(job: Job, prepared: tuple[LoadedImage, bool]) -> tuple[LoadedImage, bool, RestoreResult]:
        image, replace = prepared
        tiles = tqdm(total=0, unit="tile", leave=False, file=sys.stderr, desc=job.source.name)

        def progress(done: int, total: int) -> None:
            tiles.total = total
            tiles.update(done - tiles.n)

        try:
            result = restore(model, image.pixels, blur=args.blur, noise=args.noise, extrapolate=args.extrapolate,
                             tile=args.tile, overlap=args.overlap, outscale=args.outscale, progress=progress)
        finally:
            tiles.close()
        return image, replace, result

    def finish(job: Job, done: tuple[LoadedImage, bool, RestoreResult]) -> tuple[bool, str]:
        image, replace, result = done
        depth = image.bit_depth if args.bit_depth == "auto" else int(args.bit_depth)
        write_image(job.target, result.image, bit_depth=depth, icc_profile=image.icc_profile, overwrite=replace)
        scores = result.scores.to_list()[0]
        return True, f"{job.source} -> {job.target}  (blur {scores['blur']:.3f}, noise {scores['noise']:.3f})"

    written, skipped, failures = 0, 0, []
    bar = tqdm(total=len(jobs), unit="img", disable=len(jobs) < 2, file=sys.stderr)
    for job, outcome in overlapped(jobs, prepare, compute, finish, recoverable=(MMRealSRError, OSError)):
        bar.update()
        if isinstance(outcome, BaseException):
            failures.append((str(job.source), str(outcome)))
            tqdm.write(f"{prefix}mmrealsr: skipped {job.source}: {outcome}", file=sys.stderr)
            if args.fail_fast:
                break
            continue
        was_written, message = outcome
        tqdm.write(f"{prefix}{message}", file=sys.stderr)
        written, skipped = written + was_written, skipped + (not was_written)
    bar.close()
    return Counts(written, skipped, tuple(failures))
