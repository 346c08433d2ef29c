"""The MMREALSR_MODEL value passed between nodes, and running it on ComfyUI's device.

ComfyUI keeps models off the GPU between runs; so do we: the network is loaded on the CPU and
moved to its run device only for the duration of one node's work, then released.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import mmrealsr_plugin
from mmrealsr_plugin.errors import NotMMRealSRModelError
from mmrealsr_plugin.types import LoadedModel
from mmrealsr_plugin.weights import StateDict, network_from_state

from . import host

MODEL_TYPE = "MMREALSR_MODEL"
UPSCALE_MODEL_TYPE = "UPSCALE_MODEL"
"""What ComfyUI's Load Upscale Model gives: a spandrel descriptor; accepted when it holds an MM-RealSR network."""
SPANDREL_ARCHITECTURE = "MMRealSR"
UPSCALE_LABEL = "Load Upscale Model's MM-RealSR network"


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


_from_upscale_models: weakref.WeakKeyDictionary[object, ComfyModel] = weakref.WeakKeyDictionary()
"""One engine model per Load Upscale Model output, dropped with it (ComfyUI re-runs the loader on a new file)."""


def from_upscale_model(descriptor: object) -> ComfyModel:
    """An MM-RealSR network from ComfyUI's Load Upscale Model (spandrel) as one of our models.

    spandrel runs MM-RealSR without its knobs and re-estimates the scores on every tile; ours runs the same
    weights through the engine: knobs, scores estimated once per image, fixed over the tiles. The weights are the
    descriptor's tensors (shared, not copied), built into our network by the one path from weights to network.
    """
    cached = _from_upscale_models.get(descriptor)
    if cached is not None:
        return cached
    architecture = getattr(getattr(descriptor, "architecture", None), "id", None)
    network = getattr(descriptor, "model", None)
    if architecture != SPANDREL_ARCHITECTURE or network is None:
        what = f"a network of spandrel's architecture {architecture!r}" if architecture else f"a {type(descriptor).__name__}"
        raise NotMMRealSRModelError(
            f"the model input holds {what} from Load Upscale Model; MM-RealSR nodes run only MM-RealSR networks. "
            "Upscale it with ComfyUI's Upscale Image (using Model), or load an MM-RealSR file"
        )
    tensors = {key: value.detach().to("cpu") for key, value in network.state_dict().items()}
    loaded = mmrealsr_plugin.load_model(network_from_state(StateDict(tensors, None), UPSCALE_LABEL), device="cpu")
    model = ComfyModel(loaded, "auto", UPSCALE_LABEL)
    _from_upscale_models[descriptor] = model
    return model


def as_model(value: object) -> ComfyModel:
    """The nodes' model input: ours from Load MM-RealSR Model, or ComfyUI's UPSCALE_MODEL holding MM-RealSR."""
    return value if isinstance(value, ComfyModel) else from_upscale_model(value)
