"""Options and helpers shared by the CLI subcommands."""

from __future__ import annotations

import argparse
import glob
import os
from pathlib import Path

from ..imageio import FORMATS_BY_SUFFIX
from ..tiling import DEFAULT_OVERLAP, DEFAULT_TILE
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


def add_tile_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("tiling")
    group.add_argument("--tile", type=int, default=DEFAULT_TILE,
                       help=f"tile size in input pixels; 0 = whole image (default {DEFAULT_TILE})")
    group.add_argument("--overlap", type=int, default=DEFAULT_OVERLAP,
                       help=f"tile overlap in input pixels (default {DEFAULT_OVERLAP})")


def load_from_args(args: argparse.Namespace) -> LoadedModel:
    from ..engine import load_model

    return load_model(args.model, backend=args.backend, device=args.device, precision=args.precision)


def expand_inputs(items: list[str], recursive: bool = False) -> list[Path]:
    """Files, folders (their images) and glob patterns, in a stable order, without duplicates.

    Finding nothing at all is an error (FileNotFoundError), so every command reports it the same way.
    """
    found: list[Path] = []
    for item in items:
        path = Path(item).expanduser()
        if path.is_dir():
            pattern = "**/*" if recursive else "*"
            found.extend(sorted(p for p in path.glob(pattern) if p.is_file() and p.suffix.lower() in FORMATS_BY_SUFFIX))
        elif path.exists() or not glob.has_magic(item):
            found.append(path)
        else:
            matches = sorted(Path(m) for m in glob.glob(os.path.expanduser(item), recursive=recursive))
            if not matches:
                raise FileNotFoundError(f"no file matches {item!r}")
            found.extend(m for m in matches if m.is_file())
    unique: dict[Path, None] = {}
    for path in found:
        unique.setdefault(path, None)
    if not unique:
        raise FileNotFoundError(f"no input images found in {items}")
    return list(unique)
