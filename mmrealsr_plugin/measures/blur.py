"""Blur width: a model-free estimate of the Gaussian blur an image carries, folded into the blur score.

The estimator network ranks blur within one photo almost perfectly but not across photos (pooled Spearman 0.7
on held-out sweeps): each photo's content shifts its score. A re-blur measure does not depend on content in the
same way. For an edge blurred by a Gaussian of width ``s`` the mean squared gradient is proportional to ``1 / s``
whatever the edge's contrast, and blurring it again by a known ``REBLUR`` multiplies that by
``s / sqrt(s^2 + REBLUR^2)``: the ratio of the two energies gives ``s``. Noise adds gradient energy that the second
blur removes, which would read as sharpness; its variance is estimated (Immerkaer 1996) and its share taken out of
both energies, so noise does not move the blur score.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from .common import luma

REBLUR = 1.0
"""Width (px) of the known second blur."""
KERNEL = 2 * math.ceil(4 * REBLUR) + 1
BORDER = KERNEL
"""Pixels left out at each side: the second blur's border handling is not an edge of the photo."""
MIN_SIDE = 4 * BORDER
_IMMERKAER = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32)


def _noise_surviving_reblur() -> float:
    """Share of white noise's gradient energy left after the second blur, exact for the discrete kernel."""
    g = cv2.getGaussianKernel(KERNEL, REBLUR, cv2.CV_64F).ravel()
    steps = np.diff(np.concatenate([[0.0], g, [0.0]]))
    return float((g @ g) * (steps @ steps) / 2.0)  # white noise's own differences have variance 2


NOISE_SURVIVING_REBLUR = _noise_surviving_reblur()


def _gradient_energy(y: np.ndarray) -> float:
    across, down = np.diff(y, axis=1)[:-1, :], np.diff(y, axis=0)[:, :-1]
    inner = (across * across + down * down)[BORDER:-BORDER, BORDER:-BORDER]
    return float(inner.mean(dtype=np.float64))


def _noise_variance(y: np.ndarray) -> float:
    """Immerkaer's fast estimate: the response to a filter blind to planes and ramps, scaled to white noise."""
    response = cv2.filter2D(y, -1, _IMMERKAER, borderType=cv2.BORDER_REFLECT)[1:-1, 1:-1]
    return float((math.sqrt(math.pi / 2) * np.abs(response).mean(dtype=np.float64) / 6.0) ** 2)


def blur_sigma(rgb: np.ndarray) -> float | None:
    """Width in pixels of the Gaussian blur that would explain one (3, H, W) image's edges; None when the image is
    too small, flat or all noise to tell."""
    if rgb.ndim != 3 or rgb.shape[0] != 3:
        raise ValueError(f"blur_sigma expects one RGB image of shape (3, H, W), got {rgb.shape}")
    if min(rgb.shape[1:]) < MIN_SIDE:
        return None
    y = luma(rgb)
    noise = 4.0 * _noise_variance(y)  # white noise's gradient energy: two differences of variance 2 each
    energy = _gradient_energy(y) - noise
    reblurred = _gradient_energy(cv2.GaussianBlur(y, (KERNEL, KERNEL), REBLUR)) - noise * NOISE_SURVIVING_REBLUR
    if energy <= 1e-10:
        return None
    ratio = min(max(reblurred / energy, 0.0), 0.999)  # s / sqrt(s^2 + REBLUR^2)
    return REBLUR * ratio / math.sqrt(1.0 - ratio * ratio)


def with_blur_width(scores: np.ndarray, rgb: np.ndarray, scale: float | None) -> np.ndarray:
    """``scores`` (B, 2: blur, noise) of ``rgb`` (B, 3, H, W) with each image's blur score the mean of the network's
    and ``blur_sigma / scale`` (clipped to 0..1; ``scale`` puts both on one scale). Unchanged without a scale, and
    for an image whose width cannot be measured."""
    if scale is None:
        return scores
    combined = scores.copy()
    for index, image in enumerate(rgb):
        sigma = blur_sigma(image)
        if sigma is not None:
            combined[index, 0] = (scores[index, 0] + min(sigma / scale, 1.0)) / 2
    return combined
