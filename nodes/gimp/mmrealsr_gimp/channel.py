"""The channel between the plug-in (GIMP's own python3) and the project's environment (the worker).

GIMP's Python cannot import torch from the project's environment, so the plug-in runs the command recorded at
install time (``mmrealsr gimp install``), hands it float32 ``.npy`` files in a private temp folder and reads one
JSON event per line back: progress per tile, scores, errors. An install marked ``warm`` keeps one worker per GIMP
session (``worker --serve``, see nodes/gimp/server.py): started on the first call, reached through a socket (a
named pipe on Windows) with a secret key, so the model stays loaded; otherwise every call starts the command and
reads its stdout. Both ways the events are the same and checked the same way.
Stdlib and numpy only: this file runs under GIMP's Python and is also imported by the worker, so both
sides share one definition of the events.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Connection
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
TASKS = ("estimate", "restore", "preview")
IDLE_S = 600
"""A warm worker ends after this many seconds without a call, and always when GIMP ends (nodes/gimp/README.md)."""
START_TIMEOUT_S = 120
"""How long the first call of a session waits for a new warm worker to listen (imports, not the model)."""


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
    warm: bool = False
    """Keep one worker per GIMP session (``--serve``) instead of starting the command for every call."""
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
        warm = data.get("warm", False)
        if not isinstance(warm, bool):
            raise ChannelError(f"{path}: 'warm' must be true or false, got {warm!r}; rerun `mmrealsr gimp install`")
        return cls(command=command, model=data.get("model"), device=data.get("device"), max_pixels=max_pixels,
                   warm=warm, path=path)

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
    box: tuple[int, int, int, int] | None = None
    """preview: the region (x, y, width, height) of the single image to restore."""


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


def task_arguments(config: WorkerConfig, task: str, inputs: list[str], outputs: list[str], knobs: Knobs) -> list[str]:
    """The worker's arguments for one call (after its command, or sent to a warm worker)."""
    argv = ["--task", task]
    for name in inputs:
        argv += ["--input", name]
    for name in outputs:
        argv += ["--output", name]
    model = knobs.model or config.model
    if model:
        argv += ["--model", model]
    if config.device:
        argv += ["--device", config.device]
    if task in ("restore", "preview"):
        argv += ["--blur", "auto" if knobs.blur is None else repr(float(knobs.blur))]
        argv += ["--noise", "auto" if knobs.noise is None else repr(float(knobs.noise))]
        argv += ["--tile", str(int(knobs.tile))]
    if task == "preview" and knobs.box is not None:
        argv += ["--box", ",".join(str(int(v)) for v in knobs.box)]
    return argv


def worker_argv(config: WorkerConfig, task: str, inputs: list[str], outputs: list[str], knobs: Knobs) -> list[str]:
    return [*host_prefix(), *config.command, *task_arguments(config, task, inputs, outputs, knobs)]


def _start(argv: list[str], folder: str, stderr_file, **options) -> subprocess.Popen:
    try:
        return subprocess.Popen(
            argv, stderr=stderr_file, stdin=subprocess.DEVNULL, cwd=folder, env=clean_environment(), **options
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
ANSWERS = ("done", "error")
"""The events that end a call."""
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


def address_family(address: str) -> str:
    """multiprocessing's family for a warm worker's address: a Windows named pipe or a Unix socket."""
    return "AF_PIPE" if address.startswith("\\\\.\\pipe\\") else "AF_UNIX"


def _private_folder() -> Path:
    """A folder only this user may enter, for the warm worker's socket, key and log."""
    user = os.getuid() if hasattr(os, "getuid") else os.environ.get("USERNAME", "user")
    folder = Path(temp_root() or tempfile.gettempdir()) / f"mmrealsr-gimp-{user}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        info = folder.stat()
    except OSError as exc:
        raise ChannelError(f"cannot create {folder} for the MM-RealSR worker ({exc.strerror or exc})") from None
    if hasattr(os, "getuid") and (info.st_uid != os.getuid() or info.st_mode & 0o077):
        raise ChannelError(f"{folder} belongs to another user or others may enter it; remove it and try again")
    return folder


@dataclass(frozen=True)
class WarmWorker:
    """Where the warm worker of one GIMP process (``owner``) and one environment listens, its key and its log.

    The name holds a digest of the recorded command, so a reinstall from another environment while GIMP runs gets
    a worker of its own (the old one ends when idle) instead of calls served by the environment it replaced.
    """

    config: WorkerConfig
    owner: int

    @property
    def folder(self) -> Path:
        return _private_folder()

    @property
    def name(self) -> str:
        digest = hashlib.sha256(json.dumps([PROTOCOL, *self.config.command]).encode("utf-8")).hexdigest()[:10]
        return f"worker-{self.owner}-{digest}"

    @property
    def address(self) -> str:
        if os.name == "nt":
            return f"\\\\.\\pipe\\mmrealsr-gimp-{os.environ.get('USERNAME', 'user')}-{self.name}"
        return str(self.folder / f"{self.name}.sock")

    @property
    def key_file(self) -> Path:
        return self.folder / f"{self.name}.key"

    @property
    def log_file(self) -> Path:
        return self.folder / f"{self.name}.log"

    def log_tail(self) -> str:
        try:
            return self.log_file.read_text("utf-8", errors="replace").strip()[-STDERR_TAIL:] or "(no output)"
        except OSError:
            return "(no log)"

    def _connect(self) -> Connection:
        return Client(self.address, address_family(self.address), authkey=self.key_file.read_bytes())

    def open(self, on_progress: Callable[[float, str], None]) -> Connection:
        """A connection to this session's worker, starting one first when none answers."""
        if self.key_file.exists():
            try:
                return self._connect()
            except (OSError, EOFError, AuthenticationError):
                on_progress(0.0, "MM-RealSR: the previous worker of this session is gone; starting a new one")
        else:
            on_progress(0.0, "MM-RealSR: starting the worker (once per GIMP session)")
        return self._start()

    def _start(self) -> Connection:
        descriptor = os.open(self.key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(secrets.token_bytes(32))
        argv = [*host_prefix(), *self.config.command, "--serve", self.address, "--key-file", str(self.key_file),
                "--idle", str(IDLE_S)]
        if os.name == "posix" and not in_flatpak():  # inside the sandbox GIMP's process id means nothing on the host
            argv += ["--owner", str(self.owner)]
        detached = ({"start_new_session": True} if os.name == "posix" else
                    {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.DETACHED_PROCESS})
        with open(self.log_file, "ab") as log:
            process = _start(argv, str(self.folder), log, stdout=subprocess.DEVNULL, **detached)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise ChannelError(
                    f"the MM-RealSR worker ended with status {process.returncode} as it started (command: "
                    f"{' '.join(argv[:3])} ...). Its log ({self.log_file}):\n{self.log_tail()}"
                )
            try:
                return self._connect()
            except (FileNotFoundError, ConnectionRefusedError):
                if time.monotonic() > deadline:
                    process.kill()
                    raise ChannelError(f"the MM-RealSR worker did not answer within {START_TIMEOUT_S} s; its log "
                                       f"({self.log_file}):\n{self.log_tail()}") from None
                time.sleep(0.05)


CALL_PREFIX = "mmrealsr-gimp-call-"


def _sweep_calls_of_dead_plugins() -> None:
    """Remove the temp folders of plug-in processes GIMP killed (Cancel) before they could clean up (POSIX)."""
    if os.name != "posix":
        return
    for folder in Path(temp_root() or tempfile.gettempdir()).glob(f"{CALL_PREFIX}*"):
        try:
            pid = int(folder.name[len(CALL_PREFIX):].split("-")[0])
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except (ValueError, OSError):
            continue


class Stopped(ChannelError):
    """The caller stopped the call (a live preview made stale by a newer knob value, or its dialog closing)."""


def _received(connection: Connection, stop: Callable[[], bool] | None) -> Iterator[str]:
    while True:
        try:
            if stop is not None:
                while not connection.poll(0.05):
                    if stop():
                        raise Stopped("stopped")  # closing the connection cancels the worker's call
            yield connection.recv_bytes().decode("utf-8", errors="replace")
        except (EOFError, OSError):
            return


@dataclass
class _Answer:
    scores: list[tuple[float, float] | None]
    error: str | None = None
    done: bool = False


def _read_events(lines, images: int, on_progress: Callable[[float, str], None], abort: Callable[[], None]) -> _Answer:
    """Every event checked field by field before use; a malformed one aborts the worker's call."""
    answer = _Answer(scores=[None] * images)
    for line in lines:
        try:
            event = decode_event(line)
            problem = None if event is None else _event_problem(event, images)
            if problem:
                raise _malformed(event.get("event"), problem)
        except ChannelError:
            abort()
            raise
        if event is None:
            continue
        kind = event.get("event")
        if kind == "progress":
            fraction = (event["item"] + event["done"] / max(1, event["total"])) / max(1, event["items"])
            on_progress(min(1.0, fraction), f"MM-RealSR: tile {event['done']}/{event['total']}")
        elif kind == "scores":
            answer.scores[event["item"]] = (float(event["blur"]), float(event["noise"]))
        elif kind == "error":
            answer.error = event["message"]
        elif kind == "done":
            answer.done = True
        if kind in ANSWERS:
            break
    return answer


def _run_once(config: WorkerConfig, arguments: list[str], folder: str, images: int,
              on_progress: Callable[[float, str], None]) -> _Answer:
    """Start the command for this one call and read its stdout."""
    argv = [*host_prefix(), *config.command, *arguments]
    on_progress(0.0, "MM-RealSR: loading the model")
    with open(os.path.join(folder, "stderr.txt"), "w+", encoding="utf-8", errors="replace") as stderr_file:
        process = _start(argv, folder, stderr_file, stdout=subprocess.PIPE, text=True, bufsize=1)
        with process:
            answer = _read_events(process.stdout, images, on_progress, process.kill)
            for _ in process.stdout:  # drain, so the worker is never blocked on a full pipe
                pass
        stderr_file.seek(0)
        stderr_text = stderr_file.read()
    if answer.error is None:
        if process.returncode == 0 and not answer.done:
            raise _mismatch(f"the MM-RealSR environment ({' '.join(argv[:3])} ...) ended without reporting a result")
        if process.returncode != 0 or not answer.done:
            tail = stderr_text.strip()[-STDERR_TAIL:] or "(no output)"
            raise ChannelError(
                f"the MM-RealSR environment exited with status {process.returncode} "
                f"(command: {' '.join(argv[:3])} ...). Its last output:\n{tail}"
            )
    return answer


def _run_warm(worker: WarmWorker, arguments: list[str], images: int,
              on_progress: Callable[[float, str], None], stop: Callable[[], bool] | None = None) -> _Answer:
    """Send the call to this GIMP session's worker (started when needed) and read its events."""
    connection = worker.open(on_progress)
    with connection:
        try:
            connection.send_bytes(json.dumps({"argv": arguments}).encode("utf-8"))
        except OSError as exc:
            raise ChannelError(f"the MM-RealSR worker went away before the call started ({exc}); try again: "
                               "the next call starts a new one") from None
        answer = _read_events(_received(connection, stop), images, on_progress, connection.close)
    if answer.error is None and not answer.done:
        raise ChannelError(
            "the MM-RealSR worker stopped in the middle of the call; the image was not changed and the next call "
            f"starts a new worker. Its log ({worker.log_file}):\n{worker.log_tail()}"
        )
    return answer


def run_worker(
    config: WorkerConfig,
    task: str,
    images: list[np.ndarray],
    knobs: Knobs,
    on_progress: Callable[[float, str], None] = lambda fraction, text: None,
    owner: int | None = None,
    stop: Callable[[], bool] | None = None,
) -> WorkerResult:
    """Run the worker on ``images`` (float32 HWC in [0, 1]); 'estimate' returns scores only, 'preview' the
    restored ``knobs.box`` of the single image.

    Whatever the worker sends or writes is checked before it is used (events field by field, results by their
    .npy header): a misbehaving worker is a ChannelError, never a KeyError or a huge allocation in GIMP. A warm
    install reaches the worker of GIMP process ``owner`` (default: this plug-in's parent, GIMP); there ``stop()``
    returning True stops the call (:class:`Stopped`), which the worker answers as a Cancel.
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    _sweep_calls_of_dead_plugins()
    folder = tempfile.mkdtemp(prefix=f"{CALL_PREFIX}{os.getpid()}-", dir=temp_root())
    try:
        inputs, outputs, expected = [], [], []
        for index, image in enumerate(images):
            inputs.append(os.path.join(folder, f"in{index}.npy"))
            try:
                np.save(inputs[-1], np.ascontiguousarray(image, dtype=np.float32), allow_pickle=False)
            except OSError as exc:
                raise ChannelError(f"cannot write the pixels for MM-RealSR into {folder} ({exc.strerror or exc}); "
                                   "free space in the temporary folder (TMPDIR) and try again") from None
            if task != "estimate":
                outputs.append(os.path.join(folder, f"out{index}.npy"))
                height, width, channels = np.shape(image)
                if task == "preview" and knobs.box is not None:
                    width, height = knobs.box[2], knobs.box[3]
                expected.append((4 * height, 4 * width, channels))
        arguments = task_arguments(config, task, inputs, outputs, knobs)
        if config.warm:
            worker = WarmWorker(config, os.getppid() if owner is None else owner)
            answer = _run_warm(worker, arguments, len(images), on_progress, stop)
        else:
            answer = _run_once(config, arguments, folder, len(images), on_progress)
        if answer.error is not None:
            raise ChannelError(f"MM-RealSR failed: {answer.error}")
        missing = [index for index, item in enumerate(answer.scores) if item is None]
        if missing:
            raise _mismatch(f"the MM-RealSR environment finished without scores for image {missing[0]}")
        result = WorkerResult(scores=[item for item in answer.scores if item is not None])
        for shape, name in zip(expected, outputs):
            try:
                result.outputs.append(read_image_npy(name, expected_shape=shape))
            except ChannelError as exc:
                raise _mismatch(f"the MM-RealSR environment reported success, but its result is unusable: {exc}") \
                    from None
        return result
    finally:
        shutil.rmtree(folder, ignore_errors=True)
