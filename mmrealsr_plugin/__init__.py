"""mmrealsr-plugin: MM-RealSR real-world super-resolution with noise and blur knobs.

Quick use::

    from mmrealsr_plugin import load_model, restore, read_image
    model = load_model("path/to/model.safetensors")
    result = restore(model, read_image("photo.jpg").pixels, noise=0.3)   # blur estimated

The names below are imported on first use (:mod:`.lazy`), so ``import mmrealsr_plugin`` is cheap and
loads no torch; ``mmrealsr --help`` and ``mmrealsr models`` rely on that.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .lazy import lazy_attributes

__version__ = "0.1.0"

_EXPORTS = {
    **dict.fromkeys(["DegradationEstimator", "MMRealSR", "MMRealSRConfig"], ".archs.mmrealsr"),
    **dict.fromkeys(["RestoreResult", "estimate", "load_model", "release", "restore"], ".engine"),
    **dict.fromkeys([
        "BackendError", "BackendOutOfMemoryError", "CancelledError", "ConfigError", "ImageError", "ImageTooLargeError",
        "InvalidScoreError", "MMRealSRError", "ModelLoadError", "ModelNotFoundError", "NonFiniteOutputError",
        "NotMMRealSRModelError", "OutputError", "UsageError",
    ], ".errors"),
    "hookimpl": ".hookspecs",
    **dict.fromkeys(["LoadedImage", "read_image", "write_image"], ".imageio"),
    **dict.fromkeys(["create_plugin_manager", "get_plugin_manager"], ".plugins"),
    **dict.fromkeys(["TileConfig", "tiled_apply"], ".tiling"),
    **dict.fromkeys(["LoadedModel", "LoadOptions", "ModelDescriptor", "Runner", "Scores"], ".types"),
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_attributes(__name__, _EXPORTS)

if TYPE_CHECKING:
    from .archs.mmrealsr import DegradationEstimator, MMRealSR, MMRealSRConfig
    from .engine import RestoreResult, estimate, load_model, release, restore
    from .errors import (
        BackendError,
        BackendOutOfMemoryError,
        CancelledError,
        ConfigError,
        ImageError,
        ImageTooLargeError,
        InvalidScoreError,
        MMRealSRError,
        ModelLoadError,
        ModelNotFoundError,
        NonFiniteOutputError,
        NotMMRealSRModelError,
        OutputError,
        UsageError,
    )
    from .hookspecs import hookimpl
    from .imageio import LoadedImage, read_image, write_image
    from .plugins import create_plugin_manager, get_plugin_manager
    from .tiling import TileConfig, tiled_apply
    from .types import LoadedModel, LoadOptions, ModelDescriptor, Runner, Scores
