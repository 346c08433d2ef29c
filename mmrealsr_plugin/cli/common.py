"""Options and helpers shared by the CLI subcommands."""

from __future__ import annotations

import argparse
import glob
import itertools
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import OutputError
from ..imageio import list_images
from ..tiling import DEFAULT_OVERLAP, DEFAULT_TILE, TileConfig
from ..types import LoadedModel


def add_model_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model")
    group.add_argument("--model", "-m", default=None,
                       help="registry name, weights file or Hub reference (default: the packaged default model)")
    group.add_argument("--device", default=None, help="auto (default), cpu, cuda, cuda:N or mps")
    precision = group.add_mutually_exclusive_group()
    precision.add_argument("--half", action="store_const", const="float16", dest="precision",
                           help="run in float16 (GPU)")
    precision.add_argument("--bf16", action="store_const", const="bfloat16", dest="precision",
                           help="run in bfloat16")
    group.add_argument("--backend", default=None, help="backend plugin to use (default: the first that loads the file)")
    parser.set_defaults(precision="float32")


def tile_value(text: str) -> int | str:
    """``--tile``: a whole number of pixels, or ``auto`` (sized from the device's free memory)."""
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of pixels or 'auto', got {text!r}") from None


def check_tile_options(args: argparse.Namespace) -> None:
    """Refuse impossible tile/overlap values before any work (``auto`` is checked when the image is known)."""
    TileConfig.fitted(0 if args.tile == "auto" else args.tile, args.overlap)


def add_tile_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("tiling")
    group.add_argument("--tile", type=tile_value, default=DEFAULT_TILE,
                       help=f"tile size in input pixels; 0 = whole image; auto = the largest that fits the memory "
                       f"free on the device (default {DEFAULT_TILE})")
    group.add_argument("--overlap", type=int, default=DEFAULT_OVERLAP,
                       help=f"tile overlap in input pixels, at most half the tile (larger values are reduced to "
                       f"that; default {DEFAULT_OVERLAP})")


def load_from_args(args: argparse.Namespace) -> LoadedModel:
    from ..engine import load_model

    return load_model(args.model, backend=args.backend, device=args.device, precision=args.precision)


@dataclass(frozen=True)
class InputFile:
    """One image of a batch and the folder its output goes to, relative to the output folder."""

    path: Path
    relative: Path
    """Where the file sits below the folder or pattern it was found through (``.`` for a file named directly),
    so ``-r`` keeps the tree and two ``a.png`` from different folders never share one output name."""


def file_identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of an existing file, following links; None when nothing is there.

    Paths are compared by identity, not by spelling: ``./d/a.png``, a symlinked folder and a hard
    link all name the same file.
    """
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def refuse_overwriting_inputs(outputs: list[Path], inputs: list[Path]) -> None:
    """:class:`OutputError` when an output would replace an input (by identity), with or without --force."""
    sources = {identity: path for path in inputs if (identity := file_identity(path)) is not None}
    for output in outputs:
        source = sources.get(file_identity(output))
        if source is not None:
            raise OutputError(f"{output} is the input {source}; inputs are never overwritten: choose another output")


def _pattern_root(pattern: str) -> Path:
    """The folder part of a glob pattern before its first wildcard (``scans/**/*.png`` -> ``scans``)."""
    parts = Path(pattern).parts
    fixed = list(itertools.takewhile(lambda part: not glob.has_magic(part), parts[:-1]))
    return Path(*fixed) if fixed else Path(".")


def _below(path: Path, root: Path) -> Path:
    try:
        return path.parent.relative_to(root)
    except ValueError:
        return Path(".")


def expand_inputs(items: list[str], recursive: bool = False) -> list[InputFile]:
    """Files, folders (their images) and glob patterns, in a stable order, each file once (by identity).

    Finding nothing at all is an error (FileNotFoundError), so every command reports it the same way.
    """
    found: list[InputFile] = []
    for item in items:
        path = Path(item).expanduser()
        if path.is_dir():
            found.extend(InputFile(p, _below(p, path)) for p in list_images(path, recursive=recursive))
        elif path.exists() or not glob.has_magic(item):
            found.append(InputFile(path, Path(".")))
        else:
            expanded = os.path.expanduser(item)
            matches = sorted(Path(m) for m in glob.glob(expanded, recursive=recursive))
            if not matches:
                raise FileNotFoundError(f"no file matches {item!r}")
            root = _pattern_root(expanded)
            found.extend(InputFile(m, _below(m, root)) for m in matches if m.is_file())
    unique: dict[object, InputFile] = {}
    for entry in found:
        unique.setdefault(file_identity(entry.path) or entry.path, entry)
    if not unique:
        raise FileNotFoundError(f"no input images found in {items}")
    return list(unique.values())
