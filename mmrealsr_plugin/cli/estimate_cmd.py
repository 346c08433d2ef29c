"""``mmrealsr estimate``: print the estimated blur and noise scores of images as JSON."""

from __future__ import annotations

import argparse
import json
import sys

from ..engine import estimate
from ..errors import MMRealSRError
from ..imageio import read_image
from . import EXIT_FAILED, EXIT_OK, EXIT_PARTIAL
from .common import add_model_options, expand_inputs, load_from_args


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("estimate", description=__doc__)
    parser.add_argument("inputs", nargs="+", help="image files, folders or glob patterns")
    parser.add_argument("--recursive", "-r", action="store_true", help="descend into sub-folders")
    add_model_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    inputs = [entry.path for entry in expand_inputs(args.inputs, args.recursive)]
    model = load_from_args(args)
    results: list[dict[str, object]] = []
    failed = 0
    for source in inputs:
        try:
            scores = estimate(model, read_image(source).pixels).to_list()[0]
            results.append({"file": str(source), **scores})
        except (MMRealSRError, OSError) as exc:
            failed += 1
            results.append({"file": str(source), "error": str(exc)})
            print(f"mmrealsr: skipped {source}: {exc}", file=sys.stderr)
    descriptor = model.descriptor
    print(json.dumps({"model": descriptor.name or descriptor.source, "results": results}, indent=2))
    if not failed:
        return EXIT_OK
    return EXIT_PARTIAL if failed < len(inputs) else EXIT_FAILED
