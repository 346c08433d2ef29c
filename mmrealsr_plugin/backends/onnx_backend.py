"""The ONNX Runtime backend: runs exported generator/estimator graphs on CUDA or the CPU.

It loads ``<stem>.generator.onnx`` files (with ``<stem>.estimator.onnx`` beside them, as written
by :mod:`mmrealsr_plugin.export.onnx`), and ``.safetensors``/``.pth`` weights when asked for by
name (``load_model(..., backend="onnx")`` or ``MMREALSR_BACKEND=onnx``): those are exported once
into a cache folder keyed by the checkpoint's sha256 (``MMREALSR_ONNX_CACHE``).

Hooks run before the torch backend's (``tryfirst``) so that ``MMREALSR_BACKEND=onnx`` wins for
weights files. A ``.onnx`` pair runs at the precision it was exported with (``--fp16`` files are
float16 inside, float32 at the interface), whatever ``precision`` asks.

``onnxruntime`` is imported only when a model is loaded, so this module (and the plugin
manager) imports on machines without it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import settings
from ..archs.mmrealsr import MMRealSRConfig
from ..errors import BackendError, BackendOutOfMemoryError, ModelLoadError
from ..hookspecs import hookimpl
from ..tiling import ProgressFn, TileConfig, tiled_apply
from ..types import LoadedModel, LoadOptions, ModelDescriptor, Scores
from ..integrity import sha256_of
from ..weights import WEIGHT_SUFFIXES

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


@dataclass
class OnnxHandle:
    """The backend's model object: graph paths, the provider request, and sessions made on first use."""

    generator_path: Path
    estimator_path: Path
    device: str
    precision: str
    sessions: dict[str, Any] = field(default_factory=dict)

    def session(self, kind: str) -> Any:
        if kind not in self.sessions:
            path = self.generator_path if kind == "generator" else self.estimator_path
            self.sessions[kind] = create_session(path, self.device)
        return self.sessions[kind]


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


def _active_device(handle: OnnxHandle) -> str:
    session = handle.session("generator")
    return "cuda" if CUDA in session.get_providers() else "cpu"


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


@hookimpl
def mmrealsr_backend_names() -> list[str]:
    return [NAME]


@hookimpl(tryfirst=True)
def mmrealsr_load_model(path: Path, options: LoadOptions) -> LoadedModel | None:
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
    handle = OnnxHandle(generator, estimator, options.device, precision)
    device = _active_device(handle)
    return LoadedModel(descriptor, NAME, device, precision, handle)  # type: ignore[arg-type]


def _is_oom(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "failed to allocate memory" in text or "out of memory" in text or "bad_alloc" in text


def _run(model: LoadedModel, kind: str, feeds: dict[str, np.ndarray]) -> np.ndarray:
    handle: OnnxHandle = model.handle
    session = handle.session(kind)
    try:
        (out,) = session.run(None, feeds)
    except Exception as exc:
        if _is_oom(exc):
            raise BackendOutOfMemoryError(f"onnx backend: out of memory on {model.device} running the {kind}") from exc
        raise BackendError(f"onnx backend: the {kind} graph failed on input shapes "
                           f"{ {k: v.shape for k, v in feeds.items()} }: {exc}") from exc
    return np.asarray(out, dtype=np.float32)


@hookimpl(tryfirst=True)
def mmrealsr_estimate(model: LoadedModel, images: np.ndarray) -> Scores | None:
    if model.backend != NAME:
        return None
    scores = _run(model, "estimator", {"image": np.ascontiguousarray(images, dtype=np.float32)})
    return Scores(blur=scores[:, 0], noise=scores[:, 1])


@hookimpl(tryfirst=True)
def mmrealsr_restore(
    model: LoadedModel, images: np.ndarray, scores: Scores, tiling: TileConfig, progress: ProgressFn | None
) -> np.ndarray | None:
    if model.backend != NAME:
        return None
    conditioning = scores.as_array()

    def run_tile(tile: np.ndarray) -> np.ndarray:
        return _run(model, "generator", {"image": tile, "scores": conditioning})

    config = model.descriptor.config
    return tiled_apply(run_tile, images, config.scale, tiling, progress, align=config.unshuffle)


@hookimpl
def mmrealsr_release(model: LoadedModel) -> None:
    if model.backend != NAME:
        return
    model.handle.sessions.clear()  # sessions are made again on next use
