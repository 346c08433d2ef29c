"""``mmrealsr export-onnx``: write a model's generator and estimator as ONNX graphs.

Writes ``OUTPUT_DIR/<name>.generator.onnx`` and ``<name>.estimator.onnx`` (float32), plus
``<name>.fp16.generator.onnx`` / ``<name>.fp16.estimator.onnx`` with ``--fp16``. Each graph is
checked against torch in ONNX Runtime after export. Load them with
``mmrealsr restore --model OUTPUT_DIR/<name>.generator.onnx``.
"""

from __future__ import annotations

import argparse
import json

from ..errors import UsageError
from . import EXIT_OK
from .common import refuse_overwriting_inputs


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export-onnx", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", help="registry name, weights file (.safetensors/.pth) or Hub reference")
    parser.add_argument("output_dir", help="folder to write the .onnx files into (created if missing)")
    parser.add_argument("--fp16", action="store_true", help="also write float16 variants (for GPUs)")
    parser.add_argument("--name", default=None, help="file name stem (default: the weights file's stem)")
    parser.add_argument("--opset", type=int, default=None, help="ONNX opset, at least 18 (default 18)")
    parser.add_argument("--no-check", action="store_true", help="skip the ONNX Runtime vs torch check")
    parser.add_argument("--overwrite", action="store_true", help="replace graphs of the same name in OUTPUT_DIR")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..atomic import writable_folder
    from ..export.onnx import DEFAULT_OPSET, export_checkpoint, graph_paths
    from ..sources import resolve_model

    if args.opset is not None and args.opset < DEFAULT_OPSET:
        raise UsageError(f"--opset {args.opset} is too old: ONNX Runtime needs opset >= {DEFAULT_OPSET} from this exporter")
    path, name = resolve_model(args.model)
    precisions = ("float32", "float16") if args.fp16 else ("float32",)
    stem = args.name or name or path.stem
    targets = [graph for p in precisions for graph in graph_paths(args.output_dir, stem, p)]  # type: ignore[arg-type]
    refuse_overwriting_inputs(targets, [path])
    existing = [str(graph) for graph in targets if graph.exists()]
    if existing and not args.overwrite:
        raise FileExistsError(f"{', '.join(existing)} already exist; pass --overwrite to replace them, or --name")
    writable_folder(args.output_dir)
    pairs = export_checkpoint(
        path, args.output_dir, precisions=precisions, stem=stem,
        opset=args.opset or DEFAULT_OPSET, check=not args.no_check,
    )
    summary = [
        {"precision": p.precision, "generator": str(p.generator), "estimator": str(p.estimator),
         "max_abs_diff_vs_torch": p.max_abs_diff}
        for p in pairs
    ]
    print(json.dumps({"source": str(path), "exports": summary}, indent=2))
    return EXIT_OK
