"""The channel between the plug-in (GIMP's own python3) and the project's environment (the worker).

GIMP's Python cannot import torch from the project's environment, so the plug-in starts the command
recorded at install time (``mmrealsr gimp install``), hands it float32 ``.npy`` files in a private
temp folder and reads one JSON event per stdout line back: progress per tile, scores, errors.
Stdlib and numpy only: this file runs under GIMP's Python and is also imported by the worker, so both
sides share one definition of the events.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

CONFIG_NAME = "mmrealsr_gimp.json"
"""The config file `mmrealsr gimp install` writes next to the plug-in."""
PROTOCOL = 1
"""Bumped when the events change; the plug-in refuses a worker speaking another version."""
EVENT_KEY = "mmrealsr-gimp"
DROPPED_ENV = ("PYTHONPATH", "PYTHONHOME", "GI_TYPELIB_PATH", "LD_LIBRARY_PATH", "LD_PRELOAD", "VIRTUAL_ENV")
"""Variables GIMP (or an AppImage's AppRun) sets for its own Python; they would break the project's one."""
FLATPAK_INFO = "/.flatpak-info"
STDERR_TAIL = 1500


class ChannelError(Exception):
    """A failure the user can act on; the message is shown as-is in GIMP."""


@dataclass(frozen=True)
class WorkerConfig:
    """What `mmrealsr gimp install` recorded: the worker command and default model/device."""

    command: list[str]
    model: str | None = None
    device: str | None = None
    max_pixels: int = 0
    """The environment's input pixel limit (MMREALSR_MAX_PIXELS) when it was installed; 0: none recorded."""
    path: Path | None = None

    @classmethod
    def load(cls, folder: Path) -> WorkerConfig:
        path = folder / CONFIG_NAME
        try:
            data = json.loads(path.read_text("utf-8"))
        except FileNotFoundError:
            raise ChannelError(
                f"{path} is missing: install the plug-in with `mmrealsr gimp install` from the Python "
                "environment that has mmrealsr-plugin"
            ) from None
        except (OSError, ValueError) as exc:
            raise ChannelError(f"{path} cannot be read ({exc}); rerun `mmrealsr gimp install`") from None
        if not isinstance(data, dict):
            raise ChannelError(f"{path} does not hold a JSON object; rerun `mmrealsr gimp install`")
        command = data.get("command")
        if not (isinstance(command, list) and command and all(isinstance(part, str) for part in command)):
            raise ChannelError(f"{path}: 'command' must be a non-empty list of strings, got {command!r}")
        for key in ("model", "device"):
            if not isinstance(data.get(key), (str, type(None))):
                raise ChannelError(f"{path}: '{key}' must be a string or null, got {data[key]!r}; rerun "
                                   "`mmrealsr gimp install`")
        max_pixels = data.get("max_pixels", 0)
        if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 0:
            raise ChannelError(f"{path}: 'max_pixels' must be a whole number >= 0, got {max_pixels!r}")
        return cls(command=command, model=data.get("model"), device=data.get("device"), max_pixels=max_pixels,
                   path=path)

    def check_size(self, name: str, width: int, height: int) -> None:
        """Refuse an area above the pixel limit before any of it is read (the 4x result is 16 times larger)."""
        if self.max_pixels and width * height > self.max_pixels:
            raise ChannelError(
                f"{name}: the area to upscale is {width}x{height} ({width * height / 1e6:.1f} MP), above the limit "
                f"of {self.max_pixels / 1e6:.1f} MP (its 4x result would be {4 * width}x{4 * height}). Select a "
                "smaller area, or rerun `mmrealsr gimp install` with a higher MMREALSR_MAX_PIXELS (0: no limit)"
            )


@dataclass(frozen=True)
class Knobs:
    """What one run asks for: None for blur/noise means 'estimate from the image'."""

    blur: float | None = None
    noise: float | None = None
    tile: int = 384  # mmrealsr_plugin.tiling.DEFAULT_TILE (GIMP's Python cannot import the library)
    model: str | None = None


@dataclass
class WorkerResult:
    outputs: list[np.ndarray] = field(default_factory=list)
    scores: list[tuple[float, float]] = field(default_factory=list)
    """(blur, noise) per input, in input order."""


def read_image_npy(path: str, expected_shape: tuple[int, int, int] | None = None, max_pixels: int = 0) -> np.ndarray:
    """A float32 (H, W, C) image written by the other side of the channel, checked before it is allocated.

    The header decides nothing by itself: its shape must be an image (C = 1..4) within ``max_pixels`` (0: no
    limit) or equal ``expected_shape``, and the file must hold that many values. Then the values must be finite
    floats. Anything else is a ChannelError naming the file, never a traceback or a huge allocation.
    """
    name = os.path.basename(path)
    try:
        with open(path, "rb") as handle:
            try:
                version = np.lib.format.read_magic(handle)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
                elif version == (2, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
                else:
                    raise ValueError(f".npy format version {version[0]}.{version[1]} is not supported")
            except (ValueError, EOFError, SyntaxError) as exc:  # numpy's words for a short or garbled header
                raise ChannelError(f"{name} is not a readable .npy image ({exc or 'empty file'})") from None
            if dtype.kind != "f" or dtype.fields is not None:
                raise ChannelError(f"{name} holds {dtype} values; the channel carries float32 pixels")
            if len(shape) != 3 or not all(shape) or not 1 <= shape[2] <= 4:
                raise ChannelError(f"{name} has shape {shape}; an image is (height, width, 1-4 channels)")
            if expected_shape is not None and tuple(shape) != tuple(expected_shape):
                raise ChannelError(f"{name} has shape {shape}, expected {tuple(expected_shape)}")
            if max_pixels and shape[0] * shape[1] > max_pixels:
                raise ChannelError(
                    f"{name} is {shape[1]}x{shape[0]} ({shape[0] * shape[1] / 1e6:.1f} MP), above the limit of "
                    f"{max_pixels / 1e6:.1f} MP (MMREALSR_MAX_PIXELS); select a smaller area"
                )
            needed = handle.tell() + shape[0] * shape[1] * shape[2] * dtype.itemsize
            size = os.fstat(handle.fileno()).st_size
            if size < needed:
                raise ChannelError(f"{name} is truncated: {size} bytes, its header needs {needed}")
            pixels = np.fromfile(handle, dtype=dtype, count=shape[0] * shape[1] * shape[2])
    except OSError as exc:
        raise ChannelError(f"cannot read {path}: {exc.strerror or exc}") from None
    pixels = pixels.reshape(shape, order="F" if fortran else "C").astype(np.float32, copy=False)
    if not np.isfinite(pixels).all():
        raise ChannelError(f"{name} holds NaN or infinite values; only finite pixel values can be upscaled")
    return np.ascontiguousarray(pixels)


def encode_event(event: str, **fields: object) -> str:
    """One JSON line; the key marks it as ours among anything else a library prints to stdout."""
    return json.dumps({EVENT_KEY: PROTOCOL, "event": event, **fields})


def decode_event(line: str) -> dict | None:
    """The event on this line, or None for unrelated output."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict) or EVENT_KEY not in data:
        return None
    if data[EVENT_KEY] != PROTOCOL:
        raise ChannelError(
            f"the worker speaks protocol {data[EVENT_KEY]}, this plug-in speaks {PROTOCOL}: rerun "
            "`mmrealsr gimp install` so the plug-in and the environment match"
        )
    return data


def clean_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if environ is None else environ)
    for name in DROPPED_ENV:
        env.pop(name, None)
    return env


def in_flatpak() -> bool:
    return os.path.exists(FLATPAK_INFO)


def host_prefix() -> list[str]:
    """Inside GIMP's Flatpak sandbox the environment lives on the host: reach it through flatpak-spawn."""
    return ["flatpak-spawn", "--host"] if in_flatpak() else []


def temp_root() -> str | None:
    """A folder both GIMP and the worker see at the same path (the sandbox's /tmp is private)."""
    if in_flatpak():
        root = Path(os.environ.get("XDG_CACHE_HOME", str(Path.home() / ".cache"))) / "mmrealsr-gimp"
        root.mkdir(parents=True, exist_ok=True)
        return str(root)
    return None


def worker_argv(config: WorkerConfig, task: str, inputs: list[str], outputs: list[str], knobs: Knobs) -> list[str]:
    argv = [*host_prefix(), *config.command, "--task", task]
    for name in inputs:
        argv += ["--input", name]
    for name in outputs:
        argv += ["--output", name]
    model = knobs.model or config.model
    if model:
        argv += ["--model", model]
    if config.device:
        argv += ["--device", config.device]
    if task == "restore":
        argv += ["--blur", "auto" if knobs.blur is None else repr(float(knobs.blur))]
        argv += ["--noise", "auto" if knobs.noise is None else repr(float(knobs.noise))]
        argv += ["--tile", str(int(knobs.tile))]
    return argv


def _start(argv: list[str], folder: str, stderr_file) -> subprocess.Popen:
    try:
        return subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=stderr_file, stdin=subprocess.DEVNULL, cwd=folder,
            env=clean_environment(), text=True, bufsize=1,
        )
    except OSError as exc:
        raise ChannelError(
            f"cannot start the MM-RealSR environment ({argv[0]}: {exc.strerror or exc}). The plug-in calls the "
            "command recorded by `mmrealsr gimp install`; rerun that command from the Python environment where "
            "mmrealsr-plugin is installed"
        ) from None


EVENT_FIELDS: dict[str, dict[str, type]] = {
    "progress": {"item": int, "items": int, "done": int, "total": int},
    "scores": {"item": int, "blur": float, "noise": float},
    "error": {"message": str},
    "done": {},
}
"""The fields each event must carry; other event kinds are ignored (a newer worker may send more)."""


def _event_problem(event: dict, items: int) -> str | None:
    """Why ``event`` cannot be used, or None; every field is typed and in range before it is used."""
    for key, kind in EVENT_FIELDS.get(event.get("event"), {}).items():
        value = event.get(key)
        if kind is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 <= value <= 1.0
            expected = "a number in [0, 1]"
        elif kind is int:
            ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
            expected = "a whole number >= 0"
        else:
            ok, expected = isinstance(value, kind), f"a {kind.__name__}"
        if not ok:
            return f"'{key}' must be {expected}, got {value!r}"
    if event.get("event") in ("progress", "scores") and event["item"] >= items:
        return f"'item' {event['item']} is not one of the {items} image(s) sent"
    return None


def _mismatch(what: str) -> ChannelError:
    return ChannelError(f"{what}. The plug-in and the environment do not match: rerun `mmrealsr gimp install` "
                        "from the environment; the image was not changed")


def _malformed(kind: object, problem: str) -> ChannelError:
    return _mismatch(f"the MM-RealSR environment sent a malformed {kind!r} event ({problem})")


def run_worker(
    config: WorkerConfig,
    task: str,
    images: list[np.ndarray],
    knobs: Knobs,
    on_progress: Callable[[float, str], None] = lambda fraction, text: None,
) -> WorkerResult:
    """Run the worker on ``images`` (float32 HWC in [0, 1]); 'estimate' returns scores only.

    Whatever the worker sends or writes is checked before it is used (events field by field, results by their
    .npy header): a misbehaving worker is a ChannelError, never a KeyError or a huge allocation in GIMP.
    """
    if task not in ("estimate", "restore"):
        raise ValueError(f"task must be 'estimate' or 'restore', got {task!r}")
    folder = tempfile.mkdtemp(prefix="mmrealsr-gimp-", dir=temp_root())
    try:
        inputs, outputs = [], []
        for index, image in enumerate(images):
            inputs.append(os.path.join(folder, f"in{index}.npy"))
            try:
                np.save(inputs[-1], np.ascontiguousarray(image, dtype=np.float32), allow_pickle=False)
            except OSError as exc:
                raise ChannelError(f"cannot write the pixels for MM-RealSR into {folder} ({exc.strerror or exc}); "
                                   "free space in the temporary folder (TMPDIR) and try again") from None
            if task == "restore":
                outputs.append(os.path.join(folder, f"out{index}.npy"))
        argv = worker_argv(config, task, inputs, outputs, knobs)
        scores: list[tuple[float, float] | None] = [None] * len(images)
        error, done = None, False
        on_progress(0.0, "MM-RealSR: loading the model")
        with open(os.path.join(folder, "stderr.txt"), "w+", encoding="utf-8", errors="replace") as stderr_file:
            process = _start(argv, folder, stderr_file)
            with process:
                for line in process.stdout:
                    try:
                        event = decode_event(line)
                        problem = None if event is None else _event_problem(event, len(images))
                        if problem:
                            raise _malformed(event.get("event"), problem)
                    except ChannelError:
                        process.kill()
                        raise
                    if event is None:
                        continue
                    kind = event.get("event")
                    if kind == "progress":
                        fraction = (event["item"] + event["done"] / max(1, event["total"])) / max(1, event["items"])
                        on_progress(min(1.0, fraction), f"MM-RealSR: tile {event['done']}/{event['total']}")
                    elif kind == "scores":
                        scores[event["item"]] = (float(event["blur"]), float(event["noise"]))
                    elif kind == "error":
                        error = event["message"]
                    elif kind == "done":
                        done = True
            stderr_file.seek(0)
            stderr_text = stderr_file.read()
        if error is not None:
            raise ChannelError(f"MM-RealSR failed: {error}")
        if process.returncode == 0 and not done:
            raise _mismatch(f"the MM-RealSR environment ({' '.join(argv[:3])} ...) ended without reporting a result")
        if process.returncode != 0 or not done:
            tail = stderr_text.strip()[-STDERR_TAIL:] or "(no output)"
            raise ChannelError(
                f"the MM-RealSR environment exited with status {process.returncode} "
                f"(command: {' '.join(argv[:3])} ...). Its last output:\n{tail}"
            )
        missing = [index for index, item in enumerate(scores) if item is None]
        if missing:
            raise _mismatch(f"the MM-RealSR environment finished without scores for image {missing[0]}")
        result = WorkerResult(scores=[item for item in scores if item is not None])
        for image, name in zip(images, outputs):
            height, width, channels = np.shape(image)
            try:
                result.outputs.append(read_image_npy(name, expected_shape=(4 * height, 4 * width, channels)))
            except ChannelError as exc:
                raise _mismatch(f"the MM-RealSR environment reported success, but its result is unusable: {exc}") \
                    from None
        return result
    finally:
        shutil.rmtree(folder, ignore_errors=True)
