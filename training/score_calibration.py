"""Calibrate the measured terms of a model's scores (:mod:`mmrealsr_plugin.measures`) on training photos.

* JPEG blocking (noise score): the two ratios that anchor it, the median over patches of uncompressed photos
  (score 0) and over the same patches JPEG-coded at quality 10 (score 1).
* Blur width (blur score): the width that scores 1, chosen so that width / scale matches the network's own blur
  score over a Gaussian blur sweep of the patches (least squares on the medians per blur level: 3.65-3.98 over
  random halves of 96 training patches, where a fit on every patch ranged 3.9-6.7); the mean of the two then
  keeps the network's scale while the measured width makes it comparable across photos.

Training photos are JPEGs themselves more often than not, so each is first shrunk by a non-integer factor, which
erases its own 8x8 grid (otherwise "uncompressed" would already read as blocky) and most of its own softness.
Deterministic for a seed.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from mmrealsr_plugin.archs.mmrealsr import MMRealSR
from mmrealsr_plugin.errors import DatasetError
from mmrealsr_plugin.imageio import list_images, read_image
from mmrealsr_plugin.measures.blocking import blocking_ratio
from mmrealsr_plugin.measures.blur import blur_sigma

SHRINK = 2.5
"""Non-integer shrink of each photo before cutting patches: the photo's own JPEG grid does not survive it."""
PATCH = 128
MIN_PATCHES = 8
WORST_QUALITY = 10
"""The JPEG quality that scores 1."""
BLUR_SWEEP = tuple(np.linspace(0.5, 3.0, 6))
"""Gaussian blur widths (px) of the blur calibration."""


def _to_uint8(rgb: np.ndarray) -> np.ndarray:
    return (np.clip(rgb, 0.0, 1.0) * 255.0).round().astype(np.uint8)


def _chw(pixels: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(pixels.transpose(2, 0, 1), dtype=np.float32) / 255.0


def _jpeg(patch: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(patch).save(buffer, format="JPEG", quality=quality)  # libjpeg, 4:2:0, as most cameras
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def photo_patches(folders: Sequence[str | Path], count: int, seed: int = 0) -> list[np.ndarray]:
    """Up to ``count`` (PATCH, PATCH, 3) uint8 patches, one per photo, each photo shrunk by SHRINK first."""
    paths = [path for folder in folders for path in list_images(folder, recursive=True)]
    rng = np.random.default_rng(seed)
    patches: list[np.ndarray] = []
    for index in rng.permutation(len(paths)):
        if len(patches) == count:
            break
        photo = Image.fromarray(_to_uint8(read_image(paths[index]).rgb()))
        width, height = (round(side / SHRINK) for side in photo.size)
        if min(width, height) < PATCH:
            continue
        shrunk = np.asarray(photo.resize((width, height), Image.Resampling.BOX))
        top, left = int(rng.integers(height - PATCH + 1)), int(rng.integers(width - PATCH + 1))
        patches.append(shrunk[top : top + PATCH, left : left + PATCH])
    if len(patches) < MIN_PATCHES:
        raise DatasetError(f"score calibration needs at least {MIN_PATCHES} photos of at least "
                           f"{round(PATCH * SHRINK)} px on the short side in {[str(f) for f in folders]}, "
                           f"found {len(patches)}")
    return patches


def calibrate_blocking(patches: Sequence[np.ndarray]) -> tuple[float, float]:
    """(ratio scoring 0, ratio scoring 1): medians over ``patches`` as they are and at JPEG quality 10."""
    clean = [blocking_ratio(_chw(patch)) for patch in patches]
    worst = [blocking_ratio(_chw(_jpeg(patch, WORST_QUALITY))) for patch in patches]
    return float(np.median(clean)), float(np.median(worst))


@torch.inference_mode()
def calibrate_blur_scale(network: MMRealSR, patches: Sequence[np.ndarray]) -> float:
    """The blur width scoring 1: least squares fit of the network's median blur score by the median measured width
    / scale over a blur sweep (medians per level: a few flat patches measure absurd widths)."""
    widths, scores = [], []
    for sigma in BLUR_SWEEP:
        blurred = [_chw(_to_uint8(cv2.GaussianBlur(patch.astype(np.float32) / 255.0, (0, 0), sigma)))
                   for patch in patches]
        measured = [width for image in blurred if (width := blur_sigma(image)) is not None]
        if not measured:
            raise DatasetError(f"blur calibration: no patch has a measurable blur width at sigma {sigma:.1f}")
        widths.append(float(np.median(measured)))
        scores.append(float(network.estimate(torch.from_numpy(np.stack(blurred)))[:, 0].float().median()))
    w, s = np.array(widths), np.array(scores)
    if float(w @ s) <= 0:
        raise DatasetError(f"blur calibration: the network's blur score does not grow with blur ({scores})")
    return float((w @ w) / (w @ s))


def calibrate_scores(network: MMRealSR, folders: Sequence[str | Path], patches: int = 200, blur_patches: int = 64,
                     seed: int = 0) -> dict[str, object]:
    """The config entries of both measured terms for ``network``, from ``folders``' photos (the blur term runs the
    estimator six times per patch, so it takes the first ``blur_patches``)."""
    drawn = photo_patches(folders, patches, seed)
    return {"blur_sigma_scale": round(calibrate_blur_scale(network, drawn[:blur_patches]), 4),
            "jpeg_blocking": [round(value, 4) for value in calibrate_blocking(drawn)]}
