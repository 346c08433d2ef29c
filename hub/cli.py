"""``mmrealsr hub``: push a checkpoint to the Hugging Face Hub, or download a model for offline use (registered by
the Hub plugin, imported only when the command runs)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml

from mmrealsr_plugin.errors import ModelNotFoundError
from mmrealsr_plugin.registry import load_registry
from mmrealsr_plugin.sources import resolve_model

from .download import download as fetch
from .push import push_model


def _mapping(path: Path | None, what: str) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        data = yaml.safe_load(path.read_text("utf-8"))
    except FileNotFoundError:
        raise ModelNotFoundError(f"{what} file {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{what} file {path} is not valid YAML/JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{what} file {path} must hold a mapping (key: value), got {type(data).__name__}")
    return data


def push(args: argparse.Namespace) -> int:
    result = push_model(
        args.checkpoint, args.repo_id, card=_mapping(args.card, "card"), metrics=_mapping(args.metrics, "metrics"),
        onnx_files=args.onnx, private=args.private, branch=args.branch, commit_message=args.message,
    )
    print(f"pushed {', '.join(result.files)} (unchanged files skipped)")
    print(f"commit: {result.commit_url}")
    print(f"pinned reference: {result.reference(args.repo_id)}")
    return 0


def download(args: argparse.Namespace) -> int:
    if args.local_dir is None:
        print(resolve_model(args.reference)[0])
        return 0
    entry = load_registry().entries.get(args.reference)
    print(fetch(entry if entry is not None else args.reference, local_dir=args.local_dir))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "hub", description="Hugging Face Hub transfers. Tokens come from HF_TOKEN or `hf auth login` and are never "
        "stored; HF_HUB_OFFLINE=1 serves from the cache only; HF_ENDPOINT selects another Hub.",
    )
    actions = parser.add_subparsers(dest="hub_command", required=True, metavar="ACTION")
    up = actions.add_parser(
        "push", help="upload a checkpoint with its config and model card",
        description="Upload model.safetensors, config.json, a README.md model card and optional ONNX files in one "
        "commit. Unchanged files are skipped; a failed push commits nothing and leaves local files as they were.",
    )
    up.add_argument("checkpoint", type=Path, help="a .safetensors/.pth file, or a folder holding model.safetensors")
    up.add_argument("--repo-id", required=True, help="ORG/NAME of the model repository (created when missing)")
    up.add_argument("--private", action="store_true", help="create the repository as private")
    up.add_argument("--branch", help="commit to this branch (created from main when missing)")
    up.add_argument("--message", help="commit message")
    up.add_argument("--onnx", type=Path, nargs="+", default=[], metavar="FILE", help="ONNX exports to upload too")
    up.add_argument("--card", type=Path, help="YAML/JSON mapping: title, description, recipe, license, base_model, tags")
    up.add_argument("--metrics", type=Path, help="YAML/JSON mapping of measured metrics for the model card")
    up.set_defaults(func=push)
    down = actions.add_parser(
        "download", help="fetch a model into the cache (or a folder) for offline use",
        description="Download and verify a registry model or a Hub reference (hf://ORG/REPO/FILE@REV or "
        "ORG/REPO:FILE@REV); prints the local path.",
    )
    down.add_argument("reference", help="registry name or Hub reference")
    down.add_argument("--local-dir", type=Path, help="write a real file into this folder instead of the shared cache")
    down.set_defaults(func=download)
