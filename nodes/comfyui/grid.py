"""Modulation Grid: one labelled image showing the restoration over several blur and noise values."""

from __future__ import annotations

import numpy as np
import torch

from mmrealsr_plugin.engine import check_score
from mmrealsr_plugin.errors import InvalidScoreError
from mmrealsr_plugin.grid import modulation_grid

from . import host
from .model import ComfyModel, on_device
from .tensors import image_to_numpy, numpy_to_image


def parse_values(name: str, text: str) -> list[float]:
    """'0, 0.5, 1' -> [0.0, 0.5, 1.0]; every value must be a number in [0, 1]."""
    parts = [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]
    if not parts:
        raise InvalidScoreError(f"{name}: give at least one value, e.g. '0, 0.5, 1'")
    values = [check_score(name, part, extrapolate=False) for part in parts]
    return [float(v) for v in values if v is not None]


def validate_values(blur_values: object, noise_values: object) -> bool | str:
    """Refuse malformed value lists when the prompt is queued, not halfway through a run.

    Values arriving through a link are not known yet at queue time; they are checked when the node runs.
    """
    if not (isinstance(blur_values, str) and isinstance(noise_values, str)):
        return True
    try:
        parse_values("blur", blur_values)
        parse_values("noise", noise_values)
    except InvalidScoreError as exc:
        return str(exc)
    return True


def grid_images(
    image: torch.Tensor, model: ComfyModel, blur_values: str, noise_values: str, cell_size: int, tile: int,
    overlap: int,
) -> torch.Tensor:
    """One labelled grid per image of the batch, progress counted over the whole batch."""
    blurs, noises = parse_values("blur", blur_values), parse_values("noise", noise_values)
    progress = host.progress_callback()
    batch = image_to_numpy(image)
    grids = []
    with on_device(model, tile) as loaded:
        for index, pixels in enumerate(batch):
            def step(done: int, total: int, index: int = index) -> None:
                progress(index * total + done, len(batch) * total)

            grids.append(modulation_grid(
                loaded, pixels, blurs, noises, cell_size=cell_size, tile=tile, overlap=overlap, progress=step,
            ))
    return numpy_to_image(np.stack(grids))
