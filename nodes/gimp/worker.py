"""The worker the GIMP plug-in calls: ``python -m mmrealsr_plugin.nodes.gimp.worker --task ...`` serves one call,
``... --serve ADDRESS`` stays warm for a GIMP session (:mod:`.server`) and serves every call of it.

A call reads float32 ``.npy`` images, calls only the public API (load_model / estimate / restore / the preview's
restore_region, with the core's one tiling rule) and sends one JSON event per line (progress, scores, error, done)
that the plug-in turns into GIMP progress: on stdout for one call, over the connection when warm.
``mmrealsr gimp worker`` runs the same code.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mmrealsr_plugin import settings
from mmrealsr_plugin.atomic import atomic_path
from mmrealsr_plugin.cli.common import add_model_options, add_tile_options
from mmrealsr_plugin.cli.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from mmrealsr_plugin.engine import estimate, load_model, restore
from mmrealsr_plugin.errors import CancelledError, MMRealSRError
from mmrealsr_plugin.preview import Box, restore_region
from mmrealsr_plugin.types import LoadedModel

from .mmrealsr_gimp.channel import TASKS, ChannelError, encode_event, read_image_npy

Emit = Callable[..., None]
"""``emit(event, **fields)``: sends one event to the plug-in."""


def _knob(text: str) -> float | None:
    if text == "auto":
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a number in [0, 1], got {text!r}") from None


def _box(text: str) -> Box:
    try:
        return Box.parse(text)
    except MMRealSRError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _emit(event: str, **fields: object) -> None:
    print(encode_event(event, **fields), flush=True)


class ModelCache:
    """The last model loaded, kept for the next call with the same options (a warm worker's whole point).

    One model at a time: switching models in GIMP frees the previous one instead of piling them up.
    """

    def __init__(self) -> None:
        self.key: tuple | None = None
        self.model: LoadedModel | None = None

    def get(self, args: argparse.Namespace) -> LoadedModel:
        key = (args.model, args.backend, args.device, args.precision)
        if self.model is None or key != self.key:
            self.model = self.key = None
            self.model = load_model(args.model, backend=args.backend, device=args.device, precision=args.precision)
            self.key = key
        return self.model


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The worker's options (shared by ``mmrealsr gimp worker`` and ``python -m`` of this module)."""
    parser.add_argument("--task", choices=TASKS, default=None, help="the call to serve (with --input)")
    parser.add_argument("--input", action="append", default=[], help="float32 .npy image (H, W, C); repeatable")
    parser.add_argument("--output", action="append", default=[], help="where the restored .npy goes; one per --input")
    parser.add_argument("--blur", type=_knob, default=None, help="'auto' (default) or a value in [0, 1]")
    parser.add_argument("--noise", type=_knob, default=None, help="'auto' (default) or a value in [0, 1]")
    parser.add_argument("--box", type=_box, default=None, metavar="X,Y,W,H",
                        help="preview: the region of the (single) input to restore")
    warm = parser.add_argument_group("warm worker (one per GIMP session; the plug-in starts it)")
    warm.add_argument("--serve", default=None, metavar="ADDRESS", help="serve calls at this socket or pipe address")
    warm.add_argument("--key-file", type=Path, default=None, help="file holding the connection's secret key")
    warm.add_argument("--owner", type=int, default=0, help="GIMP's process id: end when it ends (0: do not watch)")
    warm.add_argument("--idle", type=float, default=None, help="end after this many idle seconds")
    add_model_options(parser)
    add_tile_options(parser)
    parser.set_defaults(func=dispatch)


def dispatch(args: argparse.Namespace) -> int:
    """One call (``--task``) or a warm worker (``--serve``)."""
    if args.serve:
        from .server import serve

        return serve(args)
    if not args.task or not args.input:
        _emit("error", message="give --task and --input (one call), or --serve ADDRESS (a warm worker)")
        return EXIT_USAGE
    return run_worker(args)


def _usage_problem(args: argparse.Namespace) -> str | None:
    if args.task in ("restore", "preview") and len(args.output) != len(args.input):
        return f"{args.task} needs one --output per --input, got {len(args.input)} and {len(args.output)}"
    if args.task == "preview" and (args.box is None or len(args.input) != 1):
        return "preview needs one --input and --box X,Y,W,H"
    return None


def run_worker(
    args: argparse.Namespace,
    emit: Emit = _emit,
    models: ModelCache | None = None,
    cancelled: Callable[[], bool] = lambda: False,
) -> int:
    """Serve one plug-in call; every failure becomes an 'error' event (the plug-in shows it), never a traceback.

    Inputs are checked from their .npy header before anything is allocated (read_image_npy). Tile and overlap
    go to the engine as given, which applies the one rule every front-end gets (``TileConfig.fitted``), and the
    engine refuses non-finite scores itself. ``cancelled()`` is asked after every tile (the warm worker's Cancel);
    a cancelled call writes nothing.
    """
    problem = _usage_problem(args)
    if problem:
        emit("error", message=problem)
        return EXIT_USAGE

    def check_cancel() -> None:
        if cancelled():
            raise CancelledError("cancelled")

    computing = 0.0
    try:
        images = [read_image_npy(name, max_pixels=settings.max_pixels()) for name in args.input]
        model = (models or ModelCache()).get(args)
        for item, image in enumerate(images):
            check_cancel()
            started = time.monotonic()
            if args.task == "estimate":
                scores = estimate(model, image)
                computing += time.monotonic() - started
            else:
                def progress(done: int, total: int, item: int = item) -> None:
                    emit("progress", item=item, items=len(images), done=done, total=total)
                    check_cancel()

                knobs = {"blur": args.blur, "noise": args.noise, "tile": args.tile, "overlap": args.overlap,
                         "progress": progress}
                result = (restore_region(model, image, args.box, **knobs) if args.task == "preview"
                          else restore(model, image, **knobs))
                computing += time.monotonic() - started
                check_cancel()
                with atomic_path(args.output[item]) as tmp, open(tmp, "wb") as handle:
                    np.save(handle, result.image, allow_pickle=False)
                scores = result.scores
            emit("scores", item=item, blur=float(scores.blur[0]), noise=float(scores.noise[0]))
    except Exception as exc:  # the plug-in shows the message; a bug's traceback goes to stderr for a report
        message = str(exc)
        if isinstance(exc, MemoryError) or "out of memory" in message.lower():
            message = f"out of memory ({message or type(exc).__name__}); try a smaller tile size or selection"
        elif not isinstance(exc, (MMRealSRError, ChannelError, OSError, ValueError)):
            traceback.print_exc()
            message = f"unexpected {type(exc).__name__}: {message}"
        emit("error", message=message)
        return EXIT_FAILED
    emit("done", compute_s=round(computing, 3))
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mmrealsr_plugin.nodes.gimp.worker",
                                     description="Serve one call of the GIMP plug-in (started by the plug-in).")
    add_arguments(parser)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
