"""Conversions between ComfyUI's tensors and the engine's numpy arrays.

IMAGE is float32 (B, H, W, C) on the CPU and MASK is (B, H, W) with 1 = masked out (LoadImage's
mask is 1 - alpha); the engine takes float32 numpy (B, H, W, C) with alpha as a 4th channel.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def image_to_numpy(image: torch.Tensor) -> np.ndarray:
    if image.ndim != 4:
        raise ValueError(f"expected an IMAGE tensor (B, H, W, C), got shape {tuple(image.shape)}")
    return image.detach().to("cpu", torch.float32).contiguous().numpy()


def numpy_to_image(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


def mask_as_alpha(mask: torch.Tensor, batch: int, height: int, width: int) -> np.ndarray:
    """A MASK as alpha (B, H, W) for an image batch: resized to the image and repeated over the batch.

    A mask of another size (LoadImage's 64x64 "no alpha" placeholder, a mask from a smaller
    image) is resized bilinearly; a single mask applies to every image of the batch.
    """
    if mask.ndim == 2:
        mask = mask[None]
    if mask.ndim != 3:
        raise ValueError(f"expected a MASK tensor (B, H, W), got shape {tuple(mask.shape)}")
    mask = mask.detach().to("cpu", torch.float32)
    if mask.shape[1:] != (height, width):
        mask = F.interpolate(mask[:, None], size=(height, width), mode="bilinear", align_corners=False)[:, 0]
    if mask.shape[0] not in (1, batch):
        raise ValueError(f"MASK batch of {mask.shape[0]} does not match IMAGE batch of {batch}")
    mask = mask.expand(batch, height, width)
    return (1.0 - mask.clamp(0.0, 1.0)).contiguous().numpy()


def alpha_to_mask(alpha: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(1.0 - alpha, dtype=np.float32))
