"""MM-RealSR Preview: one region of each image restored as Restore would restore it, bicubic | restored.

Choosing the knobs by eye on a full restore costs minutes per try on a CPU; this node restores only the most
detailed region (or the one given) through the core's :func:`~mmrealsr_plugin.preview.restore_region`, so the
picture equals that region of Restore's output with the same inputs.
"""

from __future__ import annotations

import numpy as np
import torch

from mmrealsr_plugin.preview import Box, detail_box, restore_region, side_by_side
from mmrealsr_plugin.types import Scores

from . import host
from .model import ComfyModel, on_device
from .tensors import image_to_numpy, numpy_to_image

AUTO_CROP = "auto"


def region_of(pixels: np.ndarray, crop: str, size: int) -> Box:
    """'auto' (the most detailed ``size`` square) or 'X,Y,W,H', checked against the image."""
    height, width = pixels.shape[:2]
    text = crop.strip().lower()
    if text in ("", AUTO_CROP):
        return detail_box(pixels, size)
    return Box.parse(text).check_inside(width, height)


def validate_crop(crop: object) -> bool | str:
    """Refuse a malformed crop when the prompt is queued (a linked value is checked when the node runs)."""
    if not isinstance(crop, str) or crop.strip().lower() in ("", AUTO_CROP):
        return True
    try:
        Box.parse(crop)
    except ValueError as exc:
        return str(exc)
    return True


def preview_images(
    image: torch.Tensor, model: ComfyModel, blur: float | None, noise: float | None, crop: str, size: int,
    tile: int, overlap: int,
) -> tuple[torch.Tensor, torch.Tensor, Scores, list[Box]]:
    """(bicubic | restored per image, the restored regions, the scores used, the regions)."""
    batch = image_to_numpy(image)
    progress = host.progress_callback()
    pictures, regions, boxes, used = [], [], [], []
    with on_device(model, tile) as loaded:
        for index, pixels in enumerate(batch):
            def step(done: int, total: int, index: int = index) -> None:
                progress(index * total + done, len(batch) * total)

            box = region_of(pixels, crop, size)
            result = restore_region(loaded, pixels, box, blur=blur, noise=noise, tile=tile, overlap=overlap,
                                    progress=step)
            source = pixels[box.y: box.y + box.height, box.x: box.x + box.width]
            pictures.append(side_by_side(source, result.image))
            regions.append(result.image[..., :3] if result.image.shape[-1] >= 3 else
                           np.repeat(result.image[..., :1], 3, axis=-1))
            boxes.append(box)
            used.append(result.scores.as_array()[0])
    scores = Scores.from_array(np.stack(used))
    return numpy_to_image(np.stack(pictures)), numpy_to_image(np.stack(regions)), scores, boxes
