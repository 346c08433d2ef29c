"""JPEG blocking, folded into the noise score: a model-free measure the estimator network does not learn.

The paper's noise score covers compression too, but an estimator trained by ranking alone ignores JPEG (this
project's measured twice: pooled Spearman near 0 against JPEG quality). JPEG leaves a signature no network has to
learn: it codes 8x8 blocks independently, so at low quality the steps between neighbouring pixels are larger across
block boundaries than inside blocks. :func:`blocking_ratio` measures that on the full-resolution image (the network
sees a downscaled proxy of large images, which would erase the grid), and :func:`with_blocking` folds it into the
noise score of models whose config carries a calibration (``jpeg_blocking``); official models carry none and keep
their scores exactly.

Limits: the grid must be intact (a JPEG resized afterwards loses it, and then only the network's score remains),
and content with a strict 8-pixel period (pixel art enlarged 8x, some UI screenshots) reads as heavy blocking.
"""

from __future__ import annotations

import numpy as np

from .common import luma

BLOCK = 8
"""JPEG's block side in pixels."""
MIN_SIDE = 4 * BLOCK
"""Smaller images carry too few block boundaries to measure; they get ratio 1 (no blocking)."""
ROWS_PER_CHUNK = 512
"""Rows converted to luma at once: bounds the extra memory on very large photos."""
_FLOOR = 1e-3 / 255
"""Added to both means so a flat image reads as ratio 1, not 0/0."""


def _phase_sums(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sums and counts of |neighbour differences| of luma per boundary phase (0..7), across columns and rows."""
    _, height, width = rgb.shape
    col_sum, row_sum = np.zeros(BLOCK), np.zeros(BLOCK)
    col_count, row_count = np.zeros(BLOCK), np.zeros(BLOCK)
    col_phase = np.arange(1, width) % BLOCK  # the step between column j-1 and j sits at phase j mod 8
    for start in range(0, height - 1, ROWS_PER_CHUNK):
        stop = min(height, start + ROWS_PER_CHUNK + 1)  # one row of overlap for the vertical steps
        y = luma(rgb[:, start:stop])
        own = y[:ROWS_PER_CHUNK] if stop < height else y  # rows whose horizontal steps this chunk counts
        across = np.abs(np.diff(own, axis=1)).sum(axis=0)
        down = np.abs(np.diff(y, axis=0)).sum(axis=1)
        col_sum += np.bincount(col_phase, weights=across, minlength=BLOCK)
        col_count += np.bincount(col_phase, minlength=BLOCK) * own.shape[0]
        row_phase = np.arange(start + 1, stop) % BLOCK
        row_sum += np.bincount(row_phase, weights=down, minlength=BLOCK)
        row_count += np.bincount(row_phase, minlength=BLOCK) * width
    return col_sum, col_count, row_sum, row_count


def _direction_ratio(sums: np.ndarray, counts: np.ndarray) -> float:
    means = sums / np.maximum(counts, 1)
    strongest = int(np.argmax(means))  # the grid's phase: unknown after a crop, so the strongest one
    others = np.delete(means, strongest).mean()
    return float((means[strongest] + _FLOOR) / (others + _FLOOR))


def blocking_ratio(rgb: np.ndarray) -> float:
    """How much larger luma steps are on the strongest 8-pixel grid than elsewhere, for one (3, H, W) image in
    [0, 1]: the mean over both directions; about 1.1 for a typical uncompressed photo, 2-3 at JPEG quality 10."""
    if rgb.ndim != 3 or rgb.shape[0] != 3:
        raise ValueError(f"blocking_ratio expects one RGB image of shape (3, H, W), got {rgb.shape}")
    if min(rgb.shape[1:]) < MIN_SIDE:
        return 1.0
    col_sum, col_count, row_sum, row_count = _phase_sums(rgb)
    return (_direction_ratio(col_sum, col_count) + _direction_ratio(row_sum, row_count)) / 2


def blocking_score(ratio: float, calibration: tuple[float, float]) -> float:
    """0 at the calibration's first ratio (a typical uncompressed photo) or below, 1 at its second (JPEG quality 10)
    or above, log-linear between."""
    clean, worst = calibration
    return float(np.clip(np.log(max(ratio, 1e-6) / clean) / np.log(worst / clean), 0.0, 1.0))


def with_blocking(scores: np.ndarray, rgb: np.ndarray, calibration: tuple[float, float] | None) -> np.ndarray:
    """``scores`` (B, 2: blur, noise) of the images ``rgb`` (B, 3, H, W) with each image's blocking folded into its
    noise score as one more independent cause: ``1 - (1 - network) * (1 - blocking)``. Unchanged without a
    calibration."""
    if calibration is None:
        return scores
    blocking = np.array([blocking_score(blocking_ratio(image), calibration) for image in rgb], dtype=scores.dtype)
    combined = scores.copy()
    combined[:, 1] = 1 - (1 - scores[:, 1]) * (1 - blocking)
    return combined
