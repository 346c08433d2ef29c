"""The modulation grid (as in the paper's Fig. 1): rows of noise values, columns of blur values."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .engine import check_score, restore
from .preview import Box, restore_region
from .tiling import DEFAULT_OVERLAP, DEFAULT_TILE, ProgressFn
from .types import LoadedModel

MIN_CELL, MAX_CELL = 16, 8192
"""Grid cell sizes that make sense: a canvas of 8192-pixel cells is already hundreds of megapixels."""
BACKGROUND = (24, 24, 24)
TEXT = (235, 235, 235)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only the fixed bitmap font
        return ImageFont.load_default()


def check_cell_size(cell_size: int) -> int:
    if not MIN_CELL <= cell_size <= MAX_CELL:
        raise ValueError(f"cell_size must be between {MIN_CELL} and {MAX_CELL} pixels, got {cell_size}")
    return cell_size


def modulation_grid(
    model: LoadedModel,
    image: np.ndarray,
    blur_values: Sequence[float] = (0.0, 0.5, 1.0),
    noise_values: Sequence[float] = (0.0, 0.5, 1.0),
    *,
    cell_size: int = 384,
    tile: int = DEFAULT_TILE,
    overlap: int = DEFAULT_OVERLAP,
    extrapolate: bool = False,
    progress: ProgressFn | None = None,
    box: Box | None = None,
) -> np.ndarray:
    """Restore ``image`` (H, W, C float32) at every (noise, blur) pair and lay the results out labelled.

    With ``box``, only that region is restored in each cell, as the full restore would restore it
    (:func:`~mmrealsr_plugin.preview.restore_region`): the knob grid of a preview.

    Each cell is the restored image fitted into ``cell_size`` pixels on its longer side (so large
    inputs give a grid one can look at). ``progress(done, total)`` counts tiles over the whole grid.
    Returns an RGB float32 (H, W, 3) array in [0, 1].
    """
    check_cell_size(cell_size)
    if not blur_values or not noise_values:
        raise ValueError("blur_values and noise_values must each hold at least one value")
    for value in blur_values:
        check_score("blur", value, extrapolate)
    for value in noise_values:
        check_score("noise", value, extrapolate)
    if image.ndim != 3:
        raise ValueError(f"expected one image (H, W, C), got shape {image.shape}")
    height, width = image.shape[:2] if box is None else (box.height, box.width)
    factor = cell_size / max(height * model.scale, width * model.scale)
    cell_w, cell_h = max(1, round(width * model.scale * factor)), max(1, round(height * model.scale * factor))
    font_size = max(12, cell_size // 20)
    margin = font_size * 2
    left = font_size * 7
    pad = max(2, cell_size // 64)
    canvas = Image.new("RGB", (left + len(blur_values) * (cell_w + pad), margin + len(noise_values) * (cell_h + pad)),
                       BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    font = _font(font_size)
    cells = len(blur_values) * len(noise_values)
    cell_index = 0

    def tile_progress(done: int, total: int) -> None:
        """Report tiles over the whole grid, so a host can show progress and cancel between tiles."""
        if progress is not None:
            progress(cell_index * total + done, cells * total)

    for row, noise in enumerate(noise_values):
        y = margin + row * (cell_h + pad)
        draw.text((pad, y + cell_h // 2), f"noise {noise:.2f}", fill=TEXT, font=font, anchor="lm")
        for col, blur in enumerate(blur_values):
            x = left + col * (cell_w + pad)
            if row == 0:
                draw.text((x + cell_w // 2, margin // 2), f"blur {blur:.2f}", fill=TEXT, font=font, anchor="mm")
            if box is None:
                result = restore(model, image, blur=blur, noise=noise, extrapolate=extrapolate, tile=tile,
                                 overlap=overlap, progress=tile_progress)
            else:
                result = restore_region(model, image, box, blur=blur, noise=noise, extrapolate=extrapolate, tile=tile,
                                        overlap=overlap, progress=tile_progress)
            pixels = result.image
            if pixels.shape[2] in (1, 2):
                pixels = np.repeat(pixels[..., :1], 3, axis=2)
            cell = Image.fromarray(np.round(np.clip(pixels[..., :3], 0, 1) * 255).astype(np.uint8), "RGB")
            canvas.paste(cell.resize((cell_w, cell_h), Image.Resampling.LANCZOS), (x, y))
            cell_index += 1
    return np.asarray(canvas, dtype=np.float32) / 255.0
