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
        command = data.get("command")
        if not (isinstance(command, list) and command and all(isinstance(part, str) for part in command)):
            raise ChannelError(f"{path}: 'command' must be a non-empty list of strings, got {command!r}")
        return cls(command=command, model=data.get("model"), device=data.get("device"), path=path)


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


def run_worker(
    config: WorkerConfig,
    task: str,
    images: list[np.ndarray],
    knobs: Knobs,
    on_progress: Callable[[float, str], None] = lambda fraction, text: None,
) -> WorkerResult:
    """Run the worker on ``images`` (float32 HWC in [0, 1]); 'estimate' returns scores only."""
    if task not in ("estimate", "restore"):
        raise ValueError(f"task must be 'estimate' or 'restore', got {task!r}")
    folder = tempfile.mkdtemp(prefix="mmrealsr-gimp-", dir=temp_root())
    try:
        inputs, outputs = [], []
        for index, image in enumerate(images):
            inputs.append(os.path.join(folder, f"in{index}.npy"))
            np.save(inputs[-1], np.ascontiguousarray(image, dtype=np.float32), allow_pickle=False)
            if task == "restore":
                outputs.append(os.path.join(folder, f"out{index}.npy"))
        argv = worker_argv(config, task, inputs, outputs, knobs)
        result = WorkerResult(scores=[(float("nan"), float("nan"))] * len(images))
        error, done = None, False
        on_progress(0.0, "MM-RealSR: loading the model")
        with open(os.path.join(folder, "stderr.txt"), "w+", encoding="utf-8", errors="replace") as stderr_file:
            process = _start(argv, folder, stderr_file)
            with process:
                for line in process.stdout:
                    event = decode_event(line)
                    if event is None:
                        continue
                    kind = event.get("event")
                    if kind == "progress":
                        item, items = event["item"], event["items"]
                        fraction = (item + event["done"] / max(1, event["total"])) / max(1, items)
                        on_progress(fraction, f"MM-RealSR: tile {event['done']}/{event['total']}")
                    elif kind == "scores":
                        result.scores[event["item"]] = (float(event["blur"]), float(event["noise"]))
                    elif kind == "error":
                        error = str(event.get("message", "unknown error"))
                    elif kind == "done":
                        done = True
            stderr_file.seek(0)
            stderr_text = stderr_file.read()
        if error is not None:
            raise ChannelError(f"MM-RealSR failed: {error}")
        if process.returncode != 0 or not done:
            tail = stderr_text.strip()[-STDERR_TAIL:] or "(no output)"
            raise ChannelError(
                f"the MM-RealSR environment exited with status {process.returncode} "
                f"(command: {' '.join(argv[:3])} ...). Its last output:\n{tail}"
            )
        for name in outputs:
            result.outputs.append(np.load(name, allow_pickle=False))
        return result
    finally:
        shutil.rmtree(folder, ignore_errors=True)
