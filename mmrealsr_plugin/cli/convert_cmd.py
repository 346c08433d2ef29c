"""``mmrealsr convert INPUT OUTPUT_DIR``: any supported weights file -> model.safetensors + config.json."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..convert import CONFIG_NAME, WEIGHTS_NAME, convert_checkpoint
from . import EXIT_USAGE
from .common import refuse_overwriting_inputs


def handler(args: argparse.Namespace) -> int:
    output = Path(args.output_dir)
    refuse_overwriting_inputs([output / n for n in (WEIGHTS_NAME, CONFIG_NAME)], [args.input])
    existing = [output / n for n in (WEIGHTS_NAME, CONFIG_NAME) if (output / n).exists()]
    if existing and not args.force:
        print(f"mmrealsr convert: error: {', '.join(map(str, existing))} already exist; pass --force to replace them", file=sys.stderr)
        return EXIT_USAGE
    checkpoint = convert_checkpoint(args.input, output)
    config = checkpoint.config
    print(f"wrote {checkpoint.weights} and {checkpoint.config_file}")
    print(f"x{config.scale} MM-RealSR: {config.num_block} blocks, {config.num_feat} features")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "convert", description="Convert an official MM-RealSR .pth (params_ema preferred, then params, bare state dicts, "
        "DataParallel 'module.' prefixes), a .safetensors file, or Real-ESRGAN RRDBNet weights (.pth, or ncnn "
        ".param with its .bin beside it) into the Hub layout. Real-ESRGAN weights become an MM-RealSR "
        "initialisation: same trunk, identity modulation, fresh estimator. The input is only read.",
    )
    parser.add_argument("input", type=Path, help="weights file: .pth/.pt/.ckpt/.bin/.safetensors or ncnn .param")
    parser.add_argument("output_dir", type=Path, help="folder to write model.safetensors and config.json into")
    parser.add_argument("--force", action="store_true", help="replace existing files in OUTPUT_DIR")
    parser.set_defaults(func=handler)
