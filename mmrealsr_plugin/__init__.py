"""mmrealsr-plugin: MM-RealSR real-world super-resolution with noise and blur knobs.

Quick use::

    from mmrealsr_plugin import load_model, restore, read_image
    model = load_model("path/to/model.safetensors")
    result = restore(model, read_image("photo.jpg").pixels, noise=0.3)   # blur estimated
"""

from .archs.mmrealsr import DegradationEstimator, MMRealSR, MMRealSRConfig
from .engine import RestoreResult, estimate, load_model, release, restore
from .errors import (
    BackendError,
    BackendOutOfMemoryError,
    CancelledError,
    ImageError,
    ImageTooLargeError,
    InvalidScoreError,
    MMRealSRError,
    ModelLoadError,
    ModelNotFoundError,
    NonFiniteOutputError,
    NotMMRealSRModelError,
    OutputError,
)
from .hookspecs import hookimpl
from .imageio import LoadedImage, read_image, write_image
from .plugins import create_plugin_manager, get_plugin_manager
from .tiling import TileConfig, tiled_apply
from .types import LoadedModel, LoadOptions, ModelDescriptor, Scores

__version__ = "0.1.0"

__all__ = [
    "BackendError", "BackendOutOfMemoryError", "CancelledError", "DegradationEstimator", "ImageError",
    "ImageTooLargeError", "InvalidScoreError", "LoadOptions", "LoadedImage", "LoadedModel", "MMRealSR",
    "MMRealSRConfig", "MMRealSRError", "ModelDescriptor", "ModelLoadError", "ModelNotFoundError",
    "NonFiniteOutputError", "NotMMRealSRModelError", "OutputError", "RestoreResult", "Scores", "TileConfig",
    "create_plugin_manager", "estimate", "get_plugin_manager", "hookimpl", "load_model", "read_image", "release",
    "restore", "tiled_apply", "write_image",
]
