"""The MMREALSR_MODEL value passed between nodes, and running it on ComfyUI's device.

ComfyUI keeps models off the GPU between runs; so do we: the network is loaded on the CPU and
moved to its run device only for the duration of one node's work, then released.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import mmrealsr_plugin
from mmrealsr_plugin.types import LoadedModel, LoadOptions

from . import host

MODEL_TYPE = "MMREALSR_MODEL"
BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}
ACTIVATION_FACTOR = 48
"""Rough peak activations per input pixel of a tile, in feature maps of num_feat channels:
the dense blocks hold several maps at once and the 4x upsampling path works at 16x the pixels."""


@dataclass
class ComfyModel:
    """A loaded model plus where it should run; ``device`` 'auto' means ComfyUI's torch device."""

    loaded: LoadedModel
    device: str
    label: str

    @property
    def scale(self) -> int:
        return self.loaded.scale

    def run_device(self) -> str:
        return host.torch_device() if self.device == "auto" else self.device


def _reserve(model: LoadedModel, device: str, tile: int) -> None:
    """Make room the way ComfyUI's own upscaler does, so big checkpoints get unloaded first."""
    if device == "cpu" or model.backend != "torch":
        return
    params = sum(p.numel() for p in model.handle.parameters())
    side = tile or 1024
    activations = side * side * model.descriptor.config.num_feat * ACTIVATION_FACTOR
    host.free_memory((params + activations) * BYTES[model.precision], device)


@contextmanager
def on_device(model: ComfyModel, tile: int = 0) -> Iterator[LoadedModel]:
    """Yield the model on its run device; released (moved back, caches freed) afterwards.

    Only torch models move: other backends fix their device at load time and stay as loaded,
    since the node's cached output must remain usable for the next run.
    """
    loaded = model.loaded
    if loaded.backend != "torch":
        yield loaded
        return
    device = model.run_device()
    if loaded.device != device:
        from mmrealsr_plugin.backends.torch_backend import wrap_module

        _reserve(loaded, device, tile)
        loaded = wrap_module(loaded.handle, loaded.descriptor, LoadOptions("torch", device, loaded.precision))
    try:
        yield loaded
    finally:
        mmrealsr_plugin.release(loaded)
        model.loaded.device = loaded.device
        host.soft_empty_cache()
