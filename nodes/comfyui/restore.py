"""MM-RealSR Restore: upscale with the blur and noise knobs (manual or estimated per image)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

import mmrealsr_plugin
from mmrealsr_plugin.types import Scores

from . import host
from .model import ComfyModel, on_device
from .tensors import alpha_to_mask, image_to_numpy, mask_as_alpha, numpy_to_image


@dataclass(frozen=True)
class Restored:
    image: torch.Tensor
    mask: torch.Tensor
    scores: Scores


def with_alpha(pixels: np.ndarray, mask: torch.Tensor | None) -> tuple[np.ndarray, bool]:
    """Append the mask as alpha (replacing an existing one); the engine upscales alpha on its own."""
    if mask is None:
        return pixels, pixels.shape[-1] in (2, 4)
    batch, height, width, channels = pixels.shape
    color = pixels[..., :-1] if channels in (2, 4) else pixels
    alpha = mask_as_alpha(mask, batch, height, width)
    return np.concatenate([color, alpha[..., None]], axis=-1), True


def restore_images(
    image: torch.Tensor, model: ComfyModel, blur: float | None, noise: float | None, tile: int, overlap: int,
    mask: torch.Tensor | None = None,
) -> Restored:
    """The engine's restore on a ComfyUI batch, with ComfyUI's progress bar (where Cancel takes effect)."""
    pixels, has_alpha = with_alpha(image_to_numpy(image), mask)
    with on_device(model, tile) as loaded:
        result = mmrealsr_plugin.restore(loaded, pixels, blur=blur, noise=noise, tile=tile, overlap=overlap,
                                         progress=host.progress_callback())
    out = result.image
    if has_alpha:
        upscaled, out_mask = out[..., :-1], alpha_to_mask(out[..., -1])
    else:
        upscaled, out_mask = out, torch.zeros(out.shape[:3], dtype=torch.float32)
    return Restored(numpy_to_image(upscaled), out_mask, result.scores)
