"""``mmrealsr convert-ncnn``: an ncnn RRDBNet pair (e.g. Real-ESRGAN x4plus) -> MM-RealSR initialisation."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from ..convert import mmrealsr_from_rrdb, read_ncnn_rrdb
from ..errors import UsageError
from ..weights import save_safetensors
from .common import refuse_overwriting_inputs


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "convert-ncnn",
        description=(
            "Read an ESRGAN/Real-ESRGAN RRDBNet exported to ncnn and write a full MM-RealSR .safetensors whose "
            "trunk is those weights, whose modulation is the identity (the knobs do nothing yet) and whose "
            "estimator is freshly initialised: the starting point for training, not a finished model."
        ),
    )
    parser.add_argument("param", type=Path, help="ncnn .param file (format v2)")
    parser.add_argument("output", type=Path, help="output .safetensors path")
    parser.add_argument("--bin", type=Path, default=None, help="ncnn .bin file (default: PARAM with suffix .bin)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random estimator initialisation")
    parser.add_argument("--fp16", action="store_true", help="store float16 tensors (half the size)")
    parser.add_argument("--force", action="store_true", help="replace OUTPUT when it exists")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.output.suffix.lower() != ".safetensors":
        raise UsageError(f"output must end in .safetensors, got {str(args.output)!r}")
    refuse_overwriting_inputs([args.output], [args.param, args.bin or args.param.with_suffix(".bin")])
    if args.output.exists() and not args.force:
        raise FileExistsError(f"{args.output} already exists; pass --force to replace it")
    trunk = read_ncnn_rrdb(args.param, args.bin)
    model = mmrealsr_from_rrdb(trunk, seed=args.seed)
    save_safetensors(
        model.state_dict(),
        args.output,
        config=model.config.to_dict(),
        metadata={
            "mmrealsr_source": f"ncnn:{args.param.name}",
            "mmrealsr_stage": "init: converted RRDBNet trunk, identity modulation, untrained estimator",
        },
        dtype=torch.float16 if args.fp16 else None,
    )
    print(f"wrote {args.output} ({model.config.num_block} blocks, {len(trunk) // 2} converted convs)")
    return 0
