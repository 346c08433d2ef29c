"""The MMREALSR_MODEL value passed between nodes, and running it on ComfyUI's device.

ComfyUI keeps models off the GPU between runs; so do we: the network is loaded on the CPU and
moved to its run device only for the duration of one node's work, then released.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import mmrealsr_plugin
from mmrealsr_plugin.types import LoadedModel

from . import host

MODEL_TYPE = "MMREALSR_MODEL"


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


@contextmanager
def on_device(model: ComfyModel, tile: int = 0) -> Iterator[LoadedModel]:
    """Yield the model on its run device; released (moved back, caches freed) afterwards.

    Only movable runners move (torch); others fix their device at load time and stay as loaded, since the
    node's cached output must remain usable for the next run. Room is made the way ComfyUI's own upscaler
    does, so big checkpoints get unloaded first.
    """
    loaded = model.loaded
    if not loaded.runner.movable:
        yield loaded
        return
    device = model.run_device()
    if loaded.device != device:
        if device != "cpu":
            host.free_memory(loaded.runner.memory_bytes(tile), device)
        loaded.to(device)
    try:
        yield loaded
    finally:
        mmrealsr_plugin.release(loaded)
        host.soft_empty_cache()
