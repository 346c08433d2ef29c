"""Single-factor contrast pairs for the estimator: one image, one degradation, two severities.

Why: the MM-RealSR groups change several things at once (x3 is noisier *and* more JPEG-compressed,
which also smooths), and on this project's small data the noise score then learnt "smoother = noisier".
These pairs isolate one factor each: the same base image, the same noise field, only the severity
differs, so the only way to rank them is to measure that factor. They are an extension of the official
recipe (``losses.factor_rank`` > 0 enables them; 0 reproduces the paper) and stay metric learning: the
loss only orders pairs, it never regresses a label.

Severities (input pixels of the estimator, 0-255 noise scale): Gaussian blur sigma 0.1..4, Gaussian
noise sigma 0..50, JPEG quality 95..10; each pair's two levels are at least a fixed gap apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .degradations.filters import filter2d, quantize_8bit
from .degradations.jpeg import jpeg_roundtrip
from .losses import ranking_loss

BLUR_SIGMA = (0.1, 4.0, 0.4)
"""(lowest, highest, minimum gap) of the Gaussian blur sigma, in pixels of the scored image."""
NOISE_SIGMA = (0.0, 50.0, 5.0)
"""The same for the Gaussian noise sigma, on the 0-255 scale."""
JPEG_QUALITY = (10.0, 95.0, 12.0)
"""The same for the JPEG quality (lower quality = more severe)."""
BLUR_RADIUS = 12
"""Kernel radius in pixels: 3 sigma of the largest blur."""


@dataclass(frozen=True)
class FactorPairs:
    """``mild`` and ``severe`` (N, 3, h, w) per factor; ``score`` is the estimator column that must rise."""

    name: str
    score: int
    mild: torch.Tensor
    severe: torch.Tensor


def _levels(n: int, bounds: tuple[float, float, float], generator: torch.Generator,
            device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Two severities per sample, ``low + gap <= high``, both uniform over the allowed range."""
    lowest, highest, gap = bounds
    u = torch.rand(2, n, generator=generator, device=generator.device).to(device)
    low = lowest + (highest - lowest - gap) * u[0]
    high = low + gap + (highest - low - gap) * u[1]
    return low, high


def gaussian_blur(images: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Blur each image with its own isotropic Gaussian (sigma (N,) in pixels), reflect padding."""
    x = torch.arange(-BLUR_RADIUS, BLUR_RADIUS + 1, dtype=torch.float32, device=images.device)
    taps = torch.exp(-(x[None] ** 2) / (2 * sigma[:, None].to(torch.float32) ** 2))
    taps = taps / taps.sum(dim=1, keepdim=True)
    return filter2d(images, taps[:, :, None] * taps[:, None, :])


def single_factor_pairs(base: torch.Tensor, generator: torch.Generator) -> list[FactorPairs]:
    """Blur, noise and JPEG pairs from ``base`` (N, 3, h, w) in [0, 1]; 8-bit quantised like saved images."""
    n, device = base.shape[0], base.device
    blur_low, blur_high = _levels(n, BLUR_SIGMA, generator, device)
    noise_low, noise_high = _levels(n, NOISE_SIGMA, generator, device)
    quality_low, quality_high = _levels(n, JPEG_QUALITY, generator, device)
    field = torch.randn(base.shape, generator=generator, device=generator.device).to(device)
    per_image = (n, 1, 1, 1)
    return [
        FactorPairs("blur", 0, quantize_8bit(gaussian_blur(base, blur_low)), quantize_8bit(gaussian_blur(base, blur_high))),
        FactorPairs("noise", 1, quantize_8bit(base + field * (noise_low / 255).view(per_image)),
                    quantize_8bit(base + field * (noise_high / 255).view(per_image))),
        FactorPairs("jpeg", 1, quantize_8bit(jpeg_roundtrip(base, quality_high)),
                    quantize_8bit(jpeg_roundtrip(base, quality_low))),
    ]


def stacked(pairs: list[FactorPairs]) -> torch.Tensor:
    """All pair images in one batch (per factor: mild then severe), to score in the same forward pass."""
    return torch.cat([torch.cat([p.mild, p.severe]) for p in pairs])


def factor_losses(scores: torch.Tensor, pairs: list[FactorPairs], margin: float) -> dict[str, torch.Tensor]:
    """``factor_<name>`` ranking loss per factor from the scores of ``stacked(pairs)`` (same order)."""
    losses = {}
    offset = 0
    for pair in pairs:
        n = pair.mild.shape[0]
        mild, severe = scores[offset : offset + n], scores[offset + n : offset + 2 * n]
        losses[f"factor_{pair.name}"] = ranking_loss(mild[:, pair.score], severe[:, pair.score], margin)
        offset += 2 * n
    return losses
