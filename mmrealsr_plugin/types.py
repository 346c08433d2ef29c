"""Small typed records passed between the engine, the backends and the front-ends (no heavy imports).

A backend plugin loads a model into a :class:`Runner`: the few things the engine needs to run a network on a
device. Everything else (padding, tiling, blending, the non-finite check and precision retry, the out-of-memory
retry, alpha, gray and resizing) is the engine's, the same for every backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

import numpy as np

if TYPE_CHECKING:
    from .archs.mmrealsr import MMRealSRConfig

Precision = Literal["float32", "float16", "bfloat16"]
PRECISIONS: tuple[Precision, ...] = ("float32", "float16", "bfloat16")


class Runner(Protocol):
    """One loaded network on one device, as a backend runs it; arrays are numpy float32, channels first."""

    backend: str
    """The backend's name (``torch``, ``onnx``), for messages."""
    scale: int
    """Output pixels per input pixel along each side."""
    size_multiple: int
    """Input height and width must be multiples of this (the network's pixel-unshuffle); the engine pads."""
    precision: Precision
    """The precision it computes in."""
    precisions: tuple[Precision, ...]
    """The precisions :meth:`with_precision` can give (the engine reruns a non-finite tile in float32 if listed)."""
    movable: bool
    """Whether :meth:`to` can change the device (an ONNX session's device is fixed when it is made)."""

    @property
    def device(self) -> str:
        """Where it runs now: ``cpu``, ``cuda:0``, ``mps`` ..."""
        ...

    def run_tile(self, tile: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """Upscale ``tile`` (B, 3, h, w) in [0, 1] with ``scores`` (B, 2) = [blur, noise].

        :returns: (B, 3, h * scale, w * scale), unclamped; NaN or infinity are returned, not raised (the engine
            decides). :raises BackendOutOfMemoryError: on device out-of-memory, so the engine retries smaller tiles.
        """
        ...

    def estimate(self, images: np.ndarray) -> np.ndarray:
        """Scores (B, 2) = [blur, noise] of whole images (B, 3, H, W)."""
        ...

    def with_precision(self, precision: Precision) -> Runner:
        """The same weights at ``precision`` (self when it already is; a copy otherwise)."""
        ...

    def to(self, device: str) -> None:
        """Move the weights to ``device`` (only when :attr:`movable`)."""
        ...

    def release(self) -> None:
        """Free what the runner holds on its device; it stays usable (moved back to the CPU or rebuilt on use)."""
        ...

    def memory_bytes(self, tile: int) -> int:
        """Rough device bytes to run one tile of ``tile`` input pixels a side (weights plus peak activations)."""
        ...

    def free_bytes(self) -> int | None:
        """Memory free on its device now, for sizing tiles automatically (``tile="auto"``); None when unknown."""
        ...


@dataclass(frozen=True)
class ModelDescriptor:
    """What a model is, independent of the backend that runs it."""

    config: MMRealSRConfig
    source: str
    """Path of the weights file the model came from (or a description of an in-memory network)."""
    sha256: str
    container_key: str | None = None
    """Which entry of a checkpoint container was used (``params_ema``, ``params`` ...), None if bare."""
    name: str | None = None
    """Registry name, when the model was loaded by name."""

    @property
    def scale(self) -> int:
        return self.config.scale


@dataclass
class LoadedModel:
    """A model ready to run: what it is (``descriptor``) and the backend's :class:`Runner` that runs it."""

    descriptor: ModelDescriptor
    runner: Runner

    @property
    def scale(self) -> int:
        return self.descriptor.scale

    @property
    def backend(self) -> str:
        return self.runner.backend

    @property
    def device(self) -> str:
        return self.runner.device

    @property
    def precision(self) -> Precision:
        return self.runner.precision

    def to(self, device: str) -> LoadedModel:
        """Move the weights to ``device`` (in place, like ``nn.Module.to``); returns the model."""
        self.runner.to(device)
        return self


@dataclass(frozen=True)
class LoadOptions:
    """How to load a model: ``backend`` None lets the first plugin that knows the file take it."""

    backend: str | None = None
    device: str = "auto"
    """``auto`` (cuda, then mps, then cpu), ``cpu``, ``cuda``, ``cuda:1``, ``mps``."""
    precision: Precision = "float32"


@dataclass(frozen=True)
class Scores:
    """Per-image degradation scores in a batch: higher means more degradation, stronger restoration."""

    blur: np.ndarray
    noise: np.ndarray

    def __post_init__(self) -> None:
        blur = np.asarray(self.blur, dtype=np.float32).reshape(-1)
        noise = np.asarray(self.noise, dtype=np.float32).reshape(-1)
        if blur.shape != noise.shape:
            raise ValueError(f"blur and noise must have one value per image, got {blur.shape} and {noise.shape}")
        object.__setattr__(self, "blur", blur)
        object.__setattr__(self, "noise", noise)

    @classmethod
    def from_array(cls, scores: np.ndarray) -> Scores:
        """From (B, 2) in the network's order: column 0 blur, column 1 noise."""
        return cls(blur=scores[:, 0], noise=scores[:, 1])

    def __len__(self) -> int:
        return int(self.blur.shape[0])

    def as_array(self) -> np.ndarray:
        """(B, 2) float32 in the network's order: column 0 blur, column 1 noise."""
        return np.stack([self.blur, self.noise], axis=1)

    def to_list(self) -> list[dict[str, float]]:
        return [{"blur": float(b), "noise": float(n)} for b, n in zip(self.blur, self.noise)]
