"""MM-RealSR training degradations: batched, seeded, device-agnostic synthesis of the five LQ versions.

Public interface (the trainer codes against it)::

    pipeline = DegradationPipeline(DegradationConfig(), scale=4)
    out = pipeline(gt, generator, sharpen_gt=True)
    out.lq        # (5, B, 3, H/4, W/4): x1, x2 (blur+), x3 (noise+), a_min, a_max
    out.gt        # USM-sharpened GT when sharpen_gt, else the GT
    out.gt_plain  # the GT as given
"""

from .config import KERNEL_TYPES, RESIZE_MODES, DegradationConfig
from .pipeline import BRANCH_NAMES, DegradationPipeline, DegradedBatch

__all__ = ["BRANCH_NAMES", "KERNEL_TYPES", "RESIZE_MODES", "DegradationConfig", "DegradationPipeline", "DegradedBatch"]
