"""The PyTorch runner: an MM-RealSR network on cpu, cuda or mps in float32, float16 or bfloat16."""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import torch

from ..archs.mmrealsr import MMRealSR
from ..errors import BackendError, BackendOutOfMemoryError
from ..sysmem import available_bytes
from ..types import PRECISIONS, Precision

NAME = "torch"
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
DEFAULT_ESTIMATE_SIDE = 1024
"""Tile side assumed by :meth:`TorchRunner.memory_bytes` for ``tile=0`` (whole images)."""


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


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


class TorchRunner:
    """Runs one :class:`MMRealSR` (which it owns and moves) on a torch device."""

    backend = NAME
    precisions = PRECISIONS
    movable = True

    def __init__(self, module: MMRealSR, device: str, precision: Precision) -> None:
        self.module = module.eval().requires_grad_(False)
        self.precision: Precision = precision
        self.scale = module.config.scale
        self.size_multiple = module.config.unshuffle
        self._device = torch.device("cpu")
        self.to(device)

    @property
    def device(self) -> str:
        return str(self._device)

    def to(self, device: str) -> None:
        self._device = resolve_device(device)
        self.module.to(device=self._device, dtype=DTYPES[self.precision], memory_format=_memory_format(self._device))

    def release(self) -> None:
        self.module.to("cpu")
        self._device = torch.device("cpu")
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def with_precision(self, precision: Precision) -> TorchRunner:
        if precision == self.precision:
            return self
        return TorchRunner(copy.deepcopy(self.module), self.device, precision)

    def memory_bytes(self, tile: int) -> int:
        values = sum(p.numel() for p in self.module.parameters())
        values += self.module.config.activation_values(tile or DEFAULT_ESTIMATE_SIDE)
        return values * DTYPES[self.precision].itemsize

    def free_bytes(self) -> int | None:
        if self._device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(self._device)
            cached = torch.cuda.memory_reserved(self._device) - torch.cuda.memory_allocated(self._device)
            return int(free + cached)  # torch's cache is free for our tiles too
        if self._device.type == "cpu":
            return available_bytes()
        return None

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        tensor = torch.from_numpy(array).to(device=self._device, dtype=DTYPES[self.precision])
        return tensor.contiguous(memory_format=_memory_format(self._device)) if tensor.dim() == 4 else tensor

    def _run(self, what: str, fn: Callable[..., torch.Tensor], *arrays: np.ndarray) -> np.ndarray:
        try:
            with torch.inference_mode():
                out = fn(*(self._tensor(a) for a in arrays))
                return out.float().cpu().numpy()
        except RuntimeError as exc:
            if not _is_oom(exc):
                raise
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            shape = "x".join(map(str, arrays[0].shape[2:]))
            raise BackendOutOfMemoryError(f"torch backend: out of memory on {self.device} running the {what} on "
                                          f"{shape} pixels") from exc

    def run_tile(self, tile: np.ndarray, scores: np.ndarray) -> np.ndarray:
        return self._run("generator", self.module, tile, scores)

    def estimate(self, images: np.ndarray) -> np.ndarray:
        return self._run("estimator", self.module.estimate, images)
