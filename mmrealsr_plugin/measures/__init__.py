"""Model-free measurements folded into a model's estimated scores, where its config asks for them.

The estimator network sees the image (or, above ``MMREALSR_ESTIMATE_MAX_PIXELS``, a downscaled proxy); two things
it does not learn well are measured directly: how wide the blur is (:mod:`.blur`, on what the network saw, so both
read the same scale) and JPEG blocking (:mod:`.blocking`, on the full image, whose 8x8 grid a proxy would erase).
Official models declare neither and keep the network's scores exactly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .blocking import with_blocking
from .blur import with_blur_width

if TYPE_CHECKING:
    from ..archs.mmrealsr import MMRealSRConfig


def measured_scores(scores: np.ndarray, image: np.ndarray, seen: np.ndarray, config: MMRealSRConfig) -> np.ndarray:
    """The network's ``scores`` (B, 2) of ``image`` (B, 3, H, W), which it saw as ``seen`` (the image or its proxy),
    with the measured terms ``config`` declares (``blur_sigma_scale``, ``jpeg_blocking``)."""
    return with_blocking(with_blur_width(scores, seen, config.blur_sigma_scale), image, config.jpeg_blocking)
