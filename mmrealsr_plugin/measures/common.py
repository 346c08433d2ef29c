"""What every model-free measure works on: the luma of an RGB image."""

from __future__ import annotations

import numpy as np

LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)
"""Rec. 601, as JPEG's own colour transform."""


def luma(rgb: np.ndarray) -> np.ndarray:
    """(H, W) float32 luma of a (3, H, W) image in [0, 1]."""
    return np.tensordot(LUMA_WEIGHTS, rgb.astype(np.float32, copy=False), axes=1)
