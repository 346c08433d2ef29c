"""The worker the GIMP plug-in starts for each call: ``python -m mmrealsr_plugin.nodes.gimp.worker --task ...``.

It reads float32 ``.npy`` images, calls only the public API (load_model / estimate / restore, with the core's
one tiling rule) and prints one JSON event per line (progress, scores, error, done) that the plug-in turns into
GIMP progress. ``mmrealsr gimp worker`` runs the same code.
"""

from __future__ import annotations

import argparse
import sys
import traceback

import numpy as np

from mmrealsr_plugin import settings
from mmrealsr_plugin.atomic import atomic_path
from mmrealsr_plugin.cli.common import add_model_options, add_tile_options
from mmrealsr_plugin.cli.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from mmrealsr_plugin.engine import estimate, load_model, restore
from mmrealsr_plugin.errors import MMRealSRError

from .mmrealsr_gimp.channel import ChannelError, encode_event, read_image_npy


def _knob(text: str) -> float | None:
    if text == "auto":
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a number in [0, 1], got {text!r}") from None


def _emit(event: str, **fields: object) -> None:
    print(encode_event(event, **fields), flush=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The worker's options (shared by ``mmrealsr gimp worker`` and ``python -m`` of this module)."""
    parser.add_argument("--task", choices=("estimate", "restore"), required=True)
    parser.add_argument("--input", action="append", required=True, help="float32 .npy image (H, W, C); repeatable")
    parser.add_argument("--output", action="append", default=[], help="where the restored .npy goes; one per --input")
    parser.add_argument("--blur", type=_knob, default=None, help="'auto' (default) or a value in [0, 1]")
    parser.add_argument("--noise", type=_knob, default=None, help="'auto' (default) or a value in [0, 1]")
    add_model_options(parser)
    add_tile_options(parser)
    parser.set_defaults(func=run_worker)


def run_worker(args: argparse.Namespace) -> int:
    """Serve one plug-in call; every failure becomes an 'error' event (the plug-in shows it), never a traceback.

    Inputs are checked from their .npy header before anything is allocated (read_image_npy). Tile and overlap
    go to the engine as given, which applies the one rule every front-end gets (``TileConfig.fitted``), and the
    engine refuses non-finite scores itself.
    """
    if args.task == "restore" and len(args.output) != len(args.input):
        _emit("error", message=f"restore needs one --output per --input, got {len(args.input)} and {len(args.output)}")
        return EXIT_USAGE
    try:
        images = [read_image_npy(name, max_pixels=settings.max_pixels()) for name in args.input]
        model = load_model(args.model, backend=args.backend, device=args.device, precision=args.precision)
        for item, image in enumerate(images):
            if args.task == "estimate":
                scores = estimate(model, image)
            else:
                def progress(done: int, total: int, item: int = item) -> None:
                    _emit("progress", item=item, items=len(images), done=done, total=total)

                result = restore(model, image, blur=args.blur, noise=args.noise, tile=args.tile,
                                 overlap=args.overlap, progress=progress)
                with atomic_path(args.output[item]) as tmp, open(tmp, "wb") as handle:
                    np.save(handle, result.image, allow_pickle=False)
                scores = result.scores
            _emit("scores", item=item, blur=float(scores.blur[0]), noise=float(scores.noise[0]))
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mmrealsr_plugin.nodes.gimp.worker",
                                     description="Serve one call of the GIMP plug-in (started by the plug-in).")
    add_arguments(parser)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
