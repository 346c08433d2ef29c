"""Small typed records passed between the engine, the backends and the front-ends."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from .archs.mmrealsr import MMRealSRConfig

Precision = Literal["float32", "float16", "bfloat16"]
PRECISIONS: tuple[Precision, ...] = ("float32", "float16", "bfloat16")


@dataclass(frozen=True)
class ModelDescriptor:
    """What a model is, independent of the backend that runs it."""

    config: MMRealSRConfig
    source: str
    """Path of the weights file the model came from."""
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
    """A model ready to run on one backend; ``handle`` is the backend's own object."""

    descriptor: ModelDescriptor
    backend: str
    device: str
    precision: Precision
    handle: Any = field(repr=False)

    @property
    def scale(self) -> int:
        return self.descriptor.scale


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

    def __len__(self) -> int:
        return int(self.blur.shape[0])

    def as_array(self) -> np.ndarray:
        """(B, 2) float32 in the network's order: column 0 blur, column 1 noise."""
        return np.stack([self.blur, self.noise], axis=1)

    def to_list(self) -> list[dict[str, float]]:
        return [{"blur": float(b), "noise": float(n)} for b, n in zip(self.blur, self.noise)]
