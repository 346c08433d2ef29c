"""Random patches of a folder of photos, held in memory: the raw material of the default-model recipe.

Why in memory: the recipe draws tens of thousands of small patches (48-64 px) at random scales from about two
hundred photos; decoding a file per patch would cost more than the estimator step that uses it. Each photo is
decoded once (through the core's image reader), shrunk so its longer side is at most ``max_side`` (large camera
JPEGs also at least ``min_shrink`` times, which hides their compression) and kept as uint8 (about 0.6 GB for
250 photos at 1024 px).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from mmrealsr_plugin.errors import DatasetError
from mmrealsr_plugin.imageio import list_images, read_image


def _shrunk(pixels: np.ndarray, max_side: int, min_shrink: float) -> torch.Tensor:
    """(3, H, W) uint8 tensor of an RGB float image, area-shrunk to fit ``max_side``."""
    image = torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))[None]
    height, width = image.shape[-2:]
    factor = max(max(height, width) / max_side, min_shrink, 1.0)
    if factor > 1.0:
        size = (max(1, round(height / factor)), max(1, round(width / factor)))
        image = F.interpolate(image, size=size, mode="bilinear", antialias=True, align_corners=False)
    return (image[0].clamp(0, 1) * 255.0).round().to(torch.uint8)


class PhotoPatches:
    """Square RGB patches in [0, 1] cut from photos at a random scale, rotation and flip."""

    def __init__(self, folders: Sequence[str | Path], max_side: int = 1024, min_shrink_above: int = 2000) -> None:
        self.photos: list[torch.Tensor] = []
        for folder in folders:
            for path in list_images(folder, recursive=True):
                pixels = read_image(path).rgb()
                big = max(pixels.shape[:2]) > min_shrink_above
                self.photos.append(_shrunk(pixels, max_side, 2.0 if big else 1.0))
        if not self.photos:
            raise DatasetError(f"no training photos in {[str(f) for f in folders]}: give data.train_dirs folders "
                               "that hold PNG, JPEG, TIFF or WebP photos")

    def __len__(self) -> int:
        return len(self.photos)

    def sample(self, count: int, size: int, generator: torch.Generator, max_zoom_out: float = 3.0) -> torch.Tensor:
        """``count`` patches (count, 3, size, size): a region ``size * f`` wide, f log-uniform in [1, max_zoom_out],
        shrunk to ``size`` with antialiasing (so most patches are sharper than the photo), rotated and flipped."""
        patches = []
        for _ in range(count):
            photo = self.photos[int(torch.randint(len(self.photos), (), generator=generator))]
            height, width = photo.shape[-2:]
            zoom = math.exp(float(torch.rand((), generator=generator)) * math.log(max_zoom_out))
            side = max(1, min(int(size * zoom), height, width))
            top = int(torch.randint(height - side + 1, (), generator=generator))
            left = int(torch.randint(width - side + 1, (), generator=generator))
            patch = photo[:, top : top + side, left : left + side].float()[None] / 255.0
            if side != size:
                patch = F.interpolate(patch, size=(size, size), mode="bilinear", antialias=side > size,
                                      align_corners=False)
            patch = torch.rot90(patch, int(torch.randint(4, (), generator=generator)), dims=(2, 3))
            if float(torch.rand((), generator=generator)) < 0.5:
                patch = patch.flip(3)
            patches.append(patch.clamp(0, 1))
        return torch.cat(patches)
