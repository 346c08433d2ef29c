"""The ONNX Runtime runner: exported generator/estimator graphs on CUDA or the CPU, and how they are found.

A model is ``<stem>.generator.onnx`` with ``<stem>.estimator.onnx`` beside it (as written by
:mod:`mmrealsr_plugin.export.onnx`), or a ``.safetensors``/``.pth`` weights file exported once into a cache
folder keyed by the checkpoint's sha256 (``MMREALSR_ONNX_CACHE``). A pair runs at the precision it was exported
with (``--fp16`` files are float16 inside, float32 at the interface), whatever ``precision`` asks; its device is
fixed when its sessions are made.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from .. import settings
from ..archs.mmrealsr import MMRealSRConfig
from ..errors import BackendError, BackendOutOfMemoryError, ModelLoadError
from ..integrity import sha256_of
from ..suffixes import WEIGHT_SUFFIXES
from ..sysmem import available_bytes
from ..types import LoadedModel, LoadOptions, ModelDescriptor, Precision

NAME = "onnx"
CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"


def _ort() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise BackendError(
            "onnx backend: onnxruntime is not installed; pip install 'mmrealsr-plugin[onnx]' "
            "(or '[onnx-gpu]' for CUDA), or use the torch backend"
        ) from exc
    return onnxruntime


def _cuda_device_present() -> bool:
    import torch

    return torch.cuda.is_available()


def provider_request(device: str) -> tuple[list[Any], bool]:
    """Providers to ask ORT for, and whether CUDA is required (an explicit ``cuda`` device).

    Only asks for CUDA when a CUDA device exists, so CPU machines stay quiet.
    """
    ort = _ort()
    compiled = ort.get_available_providers()
    if device == "cpu":
        return [CPU], False
    if device == "auto":
        if CUDA in compiled and _cuda_device_present():
            return [CUDA, CPU], False
        return [CPU], False
    if device == "cuda" or device.startswith("cuda:"):
        if CUDA not in compiled:
            raise BackendError(
                f"onnx backend: device {device!r} requested but this onnxruntime has no CUDA provider "
                f"(it has {compiled}); pip install 'mmrealsr-plugin[onnx-gpu]' or use --device cpu"
            )
        index = int(device.split(":", 1)[1]) if ":" in device else 0
        return [(CUDA, {"device_id": index}), CPU], True
    raise BackendError(f"onnx backend: unsupported device {device!r}; use auto, cpu, cuda or cuda:N")


def create_session(path: Path, device: str) -> Any:
    """An InferenceSession on the requested device; checks which provider really loaded."""
    ort = _ort()
    providers, need_cuda = provider_request(device)
    options = ort.SessionOptions()
    options.log_severity_level = 3  # a missing CUDA library falls back to CPU; we check that ourselves below
    threads = settings.onnx_threads()
    if threads:
        options.intra_op_num_threads = threads
    try:
        session = ort.InferenceSession(str(path), options, providers=providers)
    except Exception as exc:
        raise ModelLoadError(f"{path}: ONNX Runtime cannot load this graph ({exc})") from exc
    if need_cuda and CUDA not in session.get_providers():
        raise BackendError(
            f"onnx backend: CUDA was requested for {path.name} but ONNX Runtime fell back to {session.get_providers()}; "
            "install the CUDA/cuDNN libraries (pip install 'onnxruntime-gpu[cuda,cudnn]') or use --device cpu"
        )
    return session


def _descriptor_from_graph(generator: Path, estimator: Path) -> tuple[ModelDescriptor, str]:
    from ..export.onnx import META_CONFIG, META_GRAPH, META_PRECISION, META_SHA256, read_metadata

    if not estimator.is_file():
        raise ModelLoadError(f"{generator}: its estimator graph {estimator.name} is missing beside it; re-export the model")
    try:
        meta = read_metadata(generator)
        estimator_meta = read_metadata(estimator)
    except Exception as exc:
        raise ModelLoadError(f"{generator}: not a readable ONNX file ({exc})") from exc
    if META_CONFIG not in meta or meta.get(META_GRAPH) != "generator" or estimator_meta.get(META_GRAPH) != "estimator":
        raise ModelLoadError(
            f"{generator}: not an mmrealsr-plugin export (metadata {sorted(meta)}); export with `mmrealsr export-onnx`"
        )
    if estimator_meta.get(META_SHA256) != meta.get(META_SHA256):
        raise ModelLoadError(f"{generator} and {estimator.name} come from different checkpoints; re-export both")
    config = MMRealSRConfig.from_dict(json.loads(meta[META_CONFIG]))
    descriptor = ModelDescriptor(config, str(generator), meta.get(META_SHA256, ""), None)
    return descriptor, meta.get(META_PRECISION, "float32")


def _graph_pair(path: Path) -> tuple[Path, Path] | None:
    from ..export.onnx import ESTIMATOR_SUFFIX, GENERATOR_SUFFIX, sibling_estimator

    name = path.name
    if name.endswith(GENERATOR_SUFFIX):
        return path, sibling_estimator(path)
    if name.endswith(ESTIMATOR_SUFFIX):
        generator = path.with_name(path.name[: -len(ESTIMATOR_SUFFIX)] + GENERATOR_SUFFIX)
        return generator, path
    if path.suffix.lower() == ".onnx":
        raise ModelLoadError(
            f"{path}: name ONNX models <stem>{GENERATOR_SUFFIX} with <stem>{ESTIMATOR_SUFFIX} beside it "
            "(as `mmrealsr export-onnx` writes them)"
        )
    return None


def _cached_export(path: Path, precision: str) -> tuple[Path, Path]:
    """Export a weights file into the cache (once per checkpoint sha256 and precision)."""
    from ..export.onnx import FORMAT_VERSION, export_onnx, graph_paths
    from ..weights import read_network

    if precision not in ("float32", "float16"):
        raise BackendError(f"onnx backend: precision {precision!r} is not supported; use float32 or float16")
    digest = sha256_of(path)
    folder = settings.onnx_cache_dir() / digest
    generator, estimator = graph_paths(folder, f"v{FORMAT_VERSION}", precision)  # type: ignore[arg-type]
    if not (generator.is_file() and estimator.is_file()):
        model = read_network(path)
        export_onnx(model, folder, f"v{FORMAT_VERSION}", source_sha256=digest, precision=precision)  # type: ignore[arg-type]
    return generator, estimator


def load(path: Path, options: LoadOptions) -> LoadedModel | None:
    """A graph pair, or a weights file when the ONNX backend was asked for by name; None for other files."""
    wanted = options.backend or settings.default_backend()
    if wanted not in (None, NAME):
        return None
    pair = _graph_pair(path)
    if pair is None and not (wanted == NAME and path.suffix.lower() in WEIGHT_SUFFIXES):
        return None
    _ort()  # a clear "install the extra" error before any work
    if pair is not None:
        generator, estimator = pair
        descriptor, precision = _descriptor_from_graph(generator, estimator)
    else:
        generator, estimator = _cached_export(path, options.precision)
        descriptor, precision = _descriptor_from_graph(generator, estimator)
        descriptor = ModelDescriptor(descriptor.config, str(path), descriptor.sha256, None)
    return LoadedModel(descriptor, OnnxRunner(generator, estimator, options.device, precision, descriptor.config))


def _is_oom(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "failed to allocate memory" in text or "out of memory" in text or "bad_alloc" in text


class OnnxRunner:
    """The two graphs of one export and their ONNX Runtime sessions (made on first use, dropped by release)."""

    backend = NAME
    movable = False

    def __init__(self, generator: Path, estimator: Path, device: str, precision: Precision,
                 config: MMRealSRConfig) -> None:
        self.paths = {"generator": generator, "estimator": estimator}
        self.requested_device = device
        self.precision: Precision = precision
        self.precisions: tuple[Precision, ...] = (precision,)
        self.config = config
        self.scale, self.size_multiple = config.scale, config.unshuffle
        self.sessions: dict[str, Any] = {}
        self._device = "cuda" if CUDA in self.session("generator").get_providers() else "cpu"

    @property
    def device(self) -> str:
        return self._device

    def session(self, kind: str) -> Any:
        if kind not in self.sessions:
            self.sessions[kind] = create_session(self.paths[kind], self.requested_device)
        return self.sessions[kind]

    def to(self, device: str) -> None:
        if device != self._device:
            raise BackendError(f"onnx backend: the device ({self._device}) is fixed when the model is loaded; load it "
                               f"again with device={device!r}")

    def release(self) -> None:
        self.sessions.clear()  # made again on next use

    def with_precision(self, precision: Precision) -> OnnxRunner:
        if precision != self.precision:
            raise BackendError(f"onnx backend: this export runs in {self.precision} only; export a {precision} "
                               "variant (`mmrealsr export-onnx`) or use the torch backend")
        return self

    def memory_bytes(self, tile: int) -> int:
        itemsize = 2 if self.precision == "float16" else 4
        return self.paths["generator"].stat().st_size + self.config.activation_values(tile or 1024) * itemsize

    def free_bytes(self) -> int | None:
        if self._device == "cpu":
            return available_bytes()
        return None  # ONNX Runtime's CUDA arena does not say; tile="auto" then keeps the default tile

    def _run(self, kind: str, feeds: dict[str, np.ndarray]) -> np.ndarray:
        try:
            (out,) = self.session(kind).run(None, feeds)
        except Exception as exc:
            if _is_oom(exc):
                raise BackendOutOfMemoryError(f"onnx backend: out of memory on {self.device} running the {kind}") from exc
            raise BackendError(f"onnx backend: the {kind} graph failed on input shapes "
                               f"{ {k: v.shape for k, v in feeds.items()} }: {exc}") from exc
        return np.asarray(out, dtype=np.float32)

    def run_tile(self, tile: np.ndarray, scores: np.ndarray) -> np.ndarray:
        return self._run("generator", {"image": tile, "scores": np.ascontiguousarray(scores, dtype=np.float32)})

    def estimate(self, images: np.ndarray) -> np.ndarray:
        return self._run("estimator", {"image": np.ascontiguousarray(images, dtype=np.float32)})
