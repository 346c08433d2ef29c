"""The PyTorch backend: runs MM-RealSR on cpu, cuda or mps in float32, float16 or bfloat16."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch

from ..archs.mmrealsr import MMRealSR
from ..errors import BackendError, BackendOutOfMemoryError
from ..hookspecs import hookimpl
from ..tiling import ProgressFn, TileConfig, tiled_apply
from ..types import LoadedModel, LoadOptions, ModelDescriptor, Scores
from ..integrity import sha256_of
from ..weights import WEIGHT_SUFFIXES, network_from_state, read_state_dict

NAME = "torch"
_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def resolve_device(device: str) -> torch.device:
    """``auto`` picks cuda, then mps, then cpu; an unavailable device is a clear error."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as exc:
        raise BackendError(f"torch backend: unknown device {device!r}; use auto, cpu, cuda, cuda:N or mps") from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise BackendError(f"torch backend: device {device!r} requested but CUDA is not available; use --device cpu")
    if resolved.type == "mps" and not torch.backends.mps.is_available():
        raise BackendError(f"torch backend: device {device!r} requested but MPS is not available; use --device cpu")
    return resolved


def _memory_format(device: torch.device) -> torch.memory_format:
    """Channels-last on CPU and CUDA: the dense blocks' concatenations are cheap in that layout.

    Measured (bench/bench_torch_layout.py): the official generator runs 1.5-2.9x faster on CPU
    than in the default layout, where torch.cat took a fifth of each block; outputs agree to 2e-7.
    """
    return torch.channels_last if device.type in ("cpu", "cuda") else torch.contiguous_format


def wrap_module(module: MMRealSR, descriptor: ModelDescriptor, options: LoadOptions) -> LoadedModel:
    """Put an in-memory network on its device and precision (used by training and tests too)."""
    device = resolve_device(options.device)
    module = module.to(device=device, dtype=_DTYPES[options.precision], memory_format=_memory_format(device)).eval()
    return LoadedModel(descriptor, NAME, str(device), options.precision, module)


@hookimpl
def mmrealsr_backend_names() -> list[str]:
    return [NAME]


@hookimpl
def mmrealsr_load_model(path: Path, options: LoadOptions) -> LoadedModel | None:
    if options.backend not in (None, NAME) or path.suffix.lower() not in WEIGHT_SUFFIXES:
        return None
    state = read_state_dict(path)
    module = network_from_state(state, str(path))
    descriptor = ModelDescriptor(module.config, str(path), sha256_of(path), state.container_key)
    return wrap_module(module, descriptor, options)


def _tensor(model: LoadedModel, array: np.ndarray, dtype: torch.dtype | None = None) -> torch.Tensor:
    module: MMRealSR = model.handle
    dtype = dtype or next(module.parameters()).dtype
    tensor = torch.from_numpy(array).to(device=model.device, dtype=dtype)
    if tensor.dim() == 4:
        tensor = tensor.contiguous(memory_format=_memory_format(tensor.device))
    return tensor


class _Float32Fallback:
    """A float32 copy of a half-precision network, made on first need and kept for one call.

    Half precision overflows (to infinity, then NaN) on some inputs and GPUs where float32 does not:
    the known black-frame failure of GAN upscalers. Only the failing tiles are run again in float32.
    """

    def __init__(self, model: LoadedModel) -> None:
        self.model = model
        self.module: MMRealSR | None = None

    def needed(self, out: torch.Tensor) -> bool:
        return self.model.precision != "float32" and not bool(torch.isfinite(out).all())

    def network(self) -> MMRealSR:
        if self.module is None:
            self.module = copy.deepcopy(self.model.handle).float()
        return self.module


@hookimpl
def mmrealsr_estimate(model: LoadedModel, images: np.ndarray) -> Scores | None:
    if model.backend != NAME:
        return None
    fallback = _Float32Fallback(model)
    with torch.inference_mode():
        scores = model.handle.estimate(_tensor(model, images))
        if fallback.needed(scores):
            scores = fallback.network().estimate(_tensor(model, images, torch.float32))
    scores = scores.float().cpu().numpy()
    return Scores(blur=scores[:, 0], noise=scores[:, 1])


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


@hookimpl
def mmrealsr_restore(
    model: LoadedModel, images: np.ndarray, scores: Scores, tiling: TileConfig, progress: ProgressFn | None
) -> np.ndarray | None:
    if model.backend != NAME:
        return None
    module: MMRealSR = model.handle
    conditioning = _tensor(model, scores.as_array())
    fallback = _Float32Fallback(model)

    def run_tile(tile: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out = module(_tensor(model, tile), conditioning)
            if fallback.needed(out):
                exact = _tensor(model, scores.as_array(), torch.float32)
                out = fallback.network()(_tensor(model, tile, torch.float32), exact)
        return out.float().cpu().numpy()

    try:
        return tiled_apply(run_tile, images, module.scale, tiling, progress, align=module.config.unshuffle)
    except RuntimeError as exc:
        if _is_oom(exc):
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            raise BackendOutOfMemoryError(f"torch backend: out of memory on {model.device} at tile {tiling.tile}") from exc
        raise


@hookimpl
def mmrealsr_release(model: LoadedModel) -> None:
    if model.backend != NAME:
        return
    model.handle.to("cpu")
    model.device = "cpu"
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
