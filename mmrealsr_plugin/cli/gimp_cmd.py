"""``mmrealsr gimp``: install/uninstall the GIMP 3 plug-in, and the worker the plug-in calls.

GIMP runs plug-ins in its own Python, which cannot import torch from this environment. ``install``
copies the plug-in folder into a GIMP 3 profile and records in a JSON file next to it the command
that starts this environment's worker (``python -m mmrealsr_plugin gimp worker``). The worker reads
float32 ``.npy`` images, calls only the public API (load_model / estimate / restore) and prints one
JSON event per line (progress, scores, error, done) that the plug-in turns into GIMP progress.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import stat
import sys
import traceback
from importlib import resources
from pathlib import Path

import numpy as np

from ..atomic import atomic_path
from ..errors import MMRealSRError
from ..nodes.gimp.mmrealsr_gimp.channel import (
    CONFIG_NAME,
    PROTOCOL,
    ChannelError,
    encode_event,
    read_image_npy,
)
from . import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from .common import add_model_options, add_tile_options

PLUGIN_NAME = "mmrealsr_gimp"
PLUGIN_FILES = ("mmrealsr_gimp.py", "channel.py", "gimp_pixels.py")
"""What is copied into the profile (the package's __init__.py is not needed by GIMP)."""


def default_profile() -> Path:
    """GIMP 3's user profile: ``$XDG_CONFIG_HOME/GIMP/3.0`` or ``~/.config/GIMP/3.0``."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "GIMP" / "3.0"


def plugin_folder(profile: Path | None) -> Path:
    return (profile or default_profile()).expanduser() / "plug-ins" / PLUGIN_NAME


def worker_command() -> list[str]:
    """This interpreter (the venv's own path, not resolved, so the venv stays active) running the worker.

    The module is run directly (same as ``mmrealsr gimp worker``) so a call imports only what it needs.
    """
    return [sys.executable, "-m", "mmrealsr_plugin.cli.gimp_cmd", "worker"]


def install(profile: Path | None, model: str | None, device: str | None) -> Path:
    """Copy the plug-in into ``profile`` and record how to reach this environment; returns the folder."""
    source = resources.files("mmrealsr_plugin.nodes.gimp") / PLUGIN_NAME
    target = plugin_folder(profile)
    target.mkdir(parents=True, exist_ok=True)
    for name in PLUGIN_FILES:
        with atomic_path(target / name) as tmp:
            tmp.write_bytes((source / name).read_bytes())
    main = target / f"{PLUGIN_NAME}.py"
    main.chmod(main.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH | stat.S_IRGRP | stat.S_IROTH)
    from .. import settings

    config = {"protocol": PROTOCOL, "command": worker_command(), "model": model, "device": device,
              "max_pixels": settings.max_pixels()}
    with atomic_path(target / CONFIG_NAME) as tmp:
        tmp.write_text(json.dumps(config, indent=2) + "\n", "utf-8")
    return target


def uninstall(profile: Path | None) -> Path | None:
    """Remove the plug-in folder (only one that holds our config); returns it, or None if absent."""
    target = plugin_folder(profile)
    if not target.exists():
        return None
    if not (target / CONFIG_NAME).is_file():
        raise FileExistsError(
            f"{target} was not installed by `mmrealsr gimp install` (no {CONFIG_NAME}); remove it by hand"
        )
    shutil.rmtree(target)
    return target


def _knob(text: str) -> float | None:
    if text == "auto":
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a number in [0, 1], got {text!r}") from None


def _emit(event: str, **fields: object) -> None:
    print(encode_event(event, **fields), flush=True)


def run_worker(args: argparse.Namespace) -> int:
    """Serve one plug-in call; every failure becomes an 'error' event (the plug-in shows it), never a traceback.

    Inputs are checked from their .npy header before anything is allocated (read_image_npy), and non-finite
    scores are an error rather than a "done" the plug-in would turn into NaN.
    """
    from .. import settings
    from ..engine import estimate, load_model, restore

    if args.task == "restore" and len(args.output) != len(args.input):
        _emit("error", message=f"restore needs one --output per --input, got {len(args.input)} and {len(args.output)}")
        return EXIT_USAGE
    try:
        overlap = min(args.overlap, args.tile // 4) if args.tile > 0 else args.overlap
        images = [read_image_npy(name, max_pixels=settings.max_pixels()) for name in args.input]
        model = load_model(args.model, backend=args.backend, device=args.device, precision=args.precision)
        for item, image in enumerate(images):
            if args.task == "estimate":
                scores = estimate(model, image)
            else:
                def progress(done: int, total: int, item: int = item) -> None:
                    _emit("progress", item=item, items=len(images), done=done, total=total)

                result = restore(model, image, blur=args.blur, noise=args.noise, tile=args.tile,
                                 overlap=overlap, progress=progress)
                with atomic_path(args.output[item]) as tmp, open(tmp, "wb") as handle:
                    np.save(handle, result.image, allow_pickle=False)
                scores = result.scores
            blur, noise = float(scores.blur[0]), float(scores.noise[0])
            if not (math.isfinite(blur) and math.isfinite(noise)):
                raise ChannelError(f"the model gave non-finite scores (blur {blur}, noise {noise}) for "
                                   f"{os.path.basename(args.input[item])}; its weights may be damaged")
            _emit("scores", item=item, blur=blur, noise=noise)
    except Exception as exc:  # the plug-in shows the message; a bug's traceback goes to stderr for a report
        message = str(exc)
        if isinstance(exc, MemoryError) or "out of memory" in message.lower():
            message = f"out of memory ({message or type(exc).__name__}); try a smaller tile size or selection"
        elif not isinstance(exc, (MMRealSRError, ChannelError, OSError, ValueError)):
            traceback.print_exc()
            message = f"unexpected {type(exc).__name__}: {message}"
        _emit("error", message=message)
        return EXIT_FAILED
    _emit("done")
    return EXIT_OK


def _run_install(args: argparse.Namespace) -> int:
    target = install(args.profile, args.model, args.device)
    print(f"installed the MM-RealSR GIMP plug-in into {target}; restart GIMP to see Filters > Enhance > MM-RealSR")
    return EXIT_OK


def _run_uninstall(args: argparse.Namespace) -> int:
    target = uninstall(args.profile)
    print(f"removed {target}" if target else f"nothing to remove at {plugin_folder(args.profile)}")
    return EXIT_OK


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("gimp", help="GIMP 3 plug-in: install, uninstall, worker", description=__doc__)
    commands = parser.add_subparsers(dest="gimp_command", required=True, metavar="ACTION")
    profile_help = "GIMP 3 profile folder (default: $XDG_CONFIG_HOME/GIMP/3.0 or ~/.config/GIMP/3.0)"

    installer = commands.add_parser("install", help="copy the plug-in into a GIMP 3 profile")
    installer.add_argument("--profile", type=Path, default=None, help=profile_help)
    installer.add_argument("--model", default=None,
                           help="model the plug-in uses by default (default: the registry's default model)")
    installer.add_argument("--device", default=None, help="device the worker uses (default: auto)")
    installer.set_defaults(func=_run_install)

    remover = commands.add_parser("uninstall", help="remove the plug-in from a GIMP 3 profile")
    remover.add_argument("--profile", type=Path, default=None, help=profile_help)
    remover.set_defaults(func=_run_uninstall)

    worker = commands.add_parser("worker", help="serve one plug-in call (started by the plug-in, not by hand)")
    worker.add_argument("--task", choices=("estimate", "restore"), required=True)
    worker.add_argument("--input", action="append", required=True, help="float32 .npy image (H, W, C); repeatable")
    worker.add_argument("--output", action="append", default=[], help="where the restored .npy goes; one per --input")
    worker.add_argument("--blur", type=_knob, default=None, help="'auto' (default) or a value in [0, 1]")
    worker.add_argument("--noise", type=_knob, default=None, help="'auto' (default) or a value in [0, 1]")
    add_model_options(worker)
    add_tile_options(worker)
    worker.set_defaults(func=run_worker)


def main(argv: list[str] | None = None) -> int:
    """``python -m mmrealsr_plugin.cli.gimp_cmd ACTION``: the ``mmrealsr gimp`` group on its own."""
    parser = argparse.ArgumentParser(prog="mmrealsr")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["gimp", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
