"""A preview: one region of a photo restored exactly as the full restore would restore it, in a fraction of the time.

The knobs are chosen by eye, and a full restore of a photo takes minutes on a CPU, so every front-end (CLI, ComfyUI,
GIMP) previews a region first. The region runs through the same engine (:func:`~mmrealsr_plugin.engine.restore`):
the scores are estimated on the whole image, not on the region, and the region is restored with ``context`` pixels
of its surroundings, then cropped. The full restore itself blends its tiles in the middle half of each overlap, so
each of its pixels comes from a tile that saw at least a quarter of the overlap around it; the default context,
half the default overlap, is more than that. So a preview equals the same region of the full restore within the
tiling tolerance (see ``tiling.DEFAULT_OVERLAP``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from .engine import RestoreResult, estimate, restore
from .errors import UsageError
from .tiling import DEFAULT_OVERLAP, DEFAULT_TILE, ProgressFn
from .types import LoadedModel, Scores

PREVIEW_SIZE = 256
"""Default side of the previewed region in input pixels: 1/16 of a 1024x1024 photo."""
PREVIEW_CONTEXT = DEFAULT_OVERLAP // 2
"""Pixels of surroundings restored with the region (see the module's docstring)."""


@dataclass(frozen=True)
class Box:
    """A region of an image in input pixels."""

    x: int
    y: int
    width: int
    height: int

    @classmethod
    def parse(cls, text: str) -> Box:
        """'X,Y,W,H' (as typed on a command line or in a node's text field)."""
        parts = [part.strip() for part in text.split(",")]
        try:
            values = [int(part) for part in parts]
        except ValueError:
            values = []
        if len(values) != 4 or min(values) < 0 or values[2] == 0 or values[3] == 0:
            raise UsageError(f"crop {text!r}: expected X,Y,WIDTH,HEIGHT as whole numbers (width and height > 0), "
                             "e.g. 100,80,256,256")
        return cls(*values)

    def check_inside(self, width: int, height: int) -> Box:
        if self.x + self.width > width or self.y + self.height > height:
            raise UsageError(f"crop {self.x},{self.y},{self.width},{self.height} reaches outside the "
                             f"{width}x{height} image; pick a region inside it")
        return self


def _luma(image: np.ndarray) -> np.ndarray:
    color = image[..., :3] if image.shape[-1] >= 3 else image[..., :1]
    return color.mean(axis=-1, dtype=np.float64)


def detail_box(image: np.ndarray, size: int = PREVIEW_SIZE) -> Box:
    """The ``size`` x ``size`` window (clipped to the image) holding the most detail.

    Detail is the sum of absolute luma differences to the right and below neighbours, so the preview shows edges
    and texture, where the knobs make a visible difference, rather than sky. Windows are searched on a grid of
    ``size // 8`` pixels with an integral image: a 24-megapixel photo takes well under a second.
    """
    height, width = image.shape[:2]
    box_w, box_h = min(size, width), min(size, height)
    luma = _luma(image)
    detail = np.zeros((height, width), np.float64)
    detail[:, :-1] += np.abs(np.diff(luma, axis=1))
    detail[:-1, :] += np.abs(np.diff(luma, axis=0))
    integral = np.zeros((height + 1, width + 1), np.float64)
    integral[1:, 1:] = detail.cumsum(0).cumsum(1)
    step = max(1, size // 8)
    ys = np.unique(np.r_[np.arange(0, height - box_h + 1, step), height - box_h])
    xs = np.unique(np.r_[np.arange(0, width - box_w + 1, step), width - box_w])
    sums = (integral[ys[:, None] + box_h, xs[None, :] + box_w] - integral[ys[:, None], xs[None, :] + box_w]
            - integral[ys[:, None] + box_h, xs[None, :]] + integral[ys[:, None], xs[None, :]])
    row, col = np.unravel_index(int(np.argmax(sums)), sums.shape)
    return Box(int(xs[col]), int(ys[row]), box_w, box_h)


def restore_region(
    model: LoadedModel,
    image: np.ndarray,
    box: Box,
    *,
    blur: float | None = None,
    noise: float | None = None,
    extrapolate: bool = False,
    tile: int = DEFAULT_TILE,
    overlap: int = DEFAULT_OVERLAP,
    context: int = PREVIEW_CONTEXT,
    scores: Scores | None = None,
    progress: ProgressFn | None = None,
) -> RestoreResult:
    """Restore ``box`` of one image (H, W, C) as :func:`~mmrealsr_plugin.engine.restore` restores it in the whole.

    A knob left None takes the whole image's estimate, and a ``relative`` model reads the knobs against it (pass
    ``scores`` when it is already known, e.g. from an earlier preview of the same image). Returns the region's
    output (``box`` times the model's scale) and the scores used.
    """
    if image.ndim != 3:
        raise ValueError(f"expected one image (H, W, C), got shape {image.shape}")
    height, width = image.shape[:2]
    box.check_inside(width, height)
    needed = blur is None or noise is None or model.descriptor.config.knobs == "relative"
    whole = scores if scores is not None or not needed else estimate(model, image)
    x0, y0 = max(0, box.x - context), max(0, box.y - context)
    x1, y1 = min(width, box.x + box.width + context), min(height, box.y + box.height + context)
    result = restore(model, image[y0:y1, x0:x1], blur=blur, noise=noise, extrapolate=extrapolate, tile=tile,
                     overlap=overlap, progress=progress, estimated=whole)
    scale = model.scale
    top, left = (box.y - y0) * scale, (box.x - x0) * scale
    region = result.image[top: top + box.height * scale, left: left + box.width * scale]
    return RestoreResult(np.ascontiguousarray(region), result.scores, result.tile)


def side_by_side(region: np.ndarray, restored: np.ndarray, gap: int = 8) -> np.ndarray:
    """Bicubic | restored of one region, as one RGB float32 (H, W, 3) picture: what the knobs change, at a glance.

    ``region`` is the input crop (H, W, C), ``restored`` its restore (H*s, W*s, C); the bicubic half is the crop
    upscaled to the same size, so both halves show the same pixels.
    """
    height, width = restored.shape[:2]
    halves = []
    for pixels, resize in ((region, True), (restored, False)):
        rgb = pixels[..., :3] if pixels.shape[-1] >= 3 else np.repeat(pixels[..., :1], 3, axis=-1)
        picture = Image.fromarray(np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8), "RGB")
        if resize:
            picture = picture.resize((width, height), Image.Resampling.BICUBIC)
        halves.append(np.asarray(picture, dtype=np.float32) / 255.0)
    spacer = np.ones((height, gap, 3), np.float32)
    return np.concatenate([halves[0], spacer, halves[1]], axis=1)
