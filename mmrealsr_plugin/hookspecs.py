"""The public plugin contract. A backend is a plain module or object implementing these hooks.

Register third-party backends under the ``mmrealsr`` entry-point group. Every hook is
``firstresult``: implementations return None for requests that are not theirs (another backend's
model, a file type they do not read), and the first non-None answer wins.

Arrays are numpy float32, channels first, values in [0, 1] (restore output is unclamped).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pluggy

if TYPE_CHECKING:
    from .tiling import ProgressFn, TileConfig
    from .types import LoadedModel, LoadOptions, Scores

PROJECT = "mmrealsr"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def mmrealsr_backend_names() -> list[str]:
    """Names of the backends this plugin provides (e.g. ``["torch"]``); collected from all plugins."""
    raise NotImplementedError


@hookspec(firstresult=True)
def mmrealsr_load_model(path: Path, options: LoadOptions) -> LoadedModel | None:
    """Load the weights file ``path`` for running.

    :param path: a local file (names and Hub references are resolved before this hook).
    :param options: backend, device and precision; return None when ``options.backend`` names
        another backend or the file type is not yours.
    :returns: the loaded model. Stops at the first non-None result.
    """
    raise NotImplementedError


@hookspec(firstresult=True)
def mmrealsr_estimate(model: LoadedModel, images: np.ndarray) -> Scores | None:
    """Estimate blur and noise scores of ``images`` (B, 3, H, W) as a whole (no tiling).

    :returns: one score pair per image, or None when ``model.backend`` is not yours.
    """
    raise NotImplementedError


@hookspec(firstresult=True)
def mmrealsr_restore(
    model: LoadedModel, images: np.ndarray, scores: Scores, tiling: TileConfig, progress: ProgressFn | None
) -> np.ndarray | None:
    """Upscale ``images`` (B, 3, H, W) by ``model.scale`` with the given, fixed scores.

    Implementations must use :func:`mmrealsr_plugin.tiling.tiled_apply` so that every backend
    tiles and blends identically, and raise
    :class:`~mmrealsr_plugin.errors.BackendOutOfMemoryError` on device out-of-memory so the
    engine can retry with smaller tiles.

    :returns: (B, 3, H*scale, W*scale) float32 (as ``tiled_apply`` returns it; the engine clips it
        in place), or None when ``model.backend`` is not yours.
    """
    raise NotImplementedError


@hookspec
def mmrealsr_release(model: LoadedModel) -> None:
    """Free the device memory held by ``model`` (the model may be loaded again later)."""
