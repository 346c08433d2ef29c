"""What the output should look like at any knob setting: a frozen teacher's output, moved away by the knobs.

Why: at its own estimate the model should restore like a well-trained GAN upscaler (Real-ESRGAN x4plus, whose
trunk it shares, is the teacher: its outputs carry the texture that GAN and perceptual training gave it, which
no loss available offline can teach). Knobs away from the estimate ask for less or more restoration:

* noise below the estimate: part of what the teacher removed from the input (noise, grain, halftone, JPEG
  artefacts, fine texture) comes back: ``(estimate - knob) / estimate`` of the input's high-pass residual
  against the downscaled teacher output, upsampled (noise 0 keeps all of it), plus optionally (``grain_detail``)
  the teacher's finest scale amplified, which is what makes the knob visibly keep grain at the output's scale;
* noise above: more smoothing, an edge-preserving (guided-filter) flattening of fine texture, up to all of it
  at noise 1;
* blur below: less deblurring, a Gaussian blur of the teacher output whose variance is what separates the two
  levels (blur 0 leaves the input's own blur, at the output's scale);
* blur above: more sharpening, an unsharp mask that grows with the distance.

Every operator is deterministic given the input, so a plain L1 loss against it has no average to collapse to.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class KnobTargetConfig:
    blur_sigma: float = 4.0
    """Input-pixel Gaussian sigma of blur level 1 (the estimator's scale, ``SeverityConfig.blur_sigma``)."""
    sharpen_amount: float = 2.0
    """Unsharp-mask amount per unit of the blur knob above the estimate."""
    sharpen_sigma: float = 2.0
    """Output-pixel sigma of the unsharp mask's blur."""
    smooth_radius: int = 3
    """Output-pixel radius of the guided filter that over-denoising moves towards."""
    smooth_eps: float = 2e-3
    """Guided-filter regulariser: texture of contrast below about sqrt(eps) is flattened."""
    residual_sigma: float = 1.5
    """Input-pixel sigma: the residual's coarser part (edges the teacher sharpened) is not given back as grain."""
    grain_detail: float = 0.0
    """Unsharp-mask amount on the teacher's finest scale at noise 0 (scaled like the grain): the part of "less
    denoising" a network can predict from its input. The input's own grain, upsampled, adds only 1-5% high-frequency
    energy at the output's scale (measured), and its exact pattern is what a student averages away."""
    grain_detail_sigma: float = 1.0
    """Output-pixel sigma of that unsharp mask's blur."""
    min_estimate: float = 0.1
    """Floor of the estimate in the noise fractions, so an estimate near 0 or 1 does not divide by ~0."""
    auto: float = 0.5
    """Share of knobs drawn at the estimate (the automatic setting must stay the teacher's output)."""
    endpoints: float = 0.2
    """Share of the other knobs drawn at exactly 0 or 1 (the ends users try first)."""


def gaussian_blur(images: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian blur with a sigma (N,) per image, reflect padding; sigma 0 leaves an image as it is."""
    radius = int(math.ceil(3 * float(sigma.max()))) if float(sigma.max()) > 0.05 else 0
    if radius == 0:
        return images
    radius = min(radius, images.shape[-1] - 1, images.shape[-2] - 1)
    axis = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    taps = torch.exp(-(axis[None] ** 2) / (2 * sigma.to(images.dtype).clamp_min(1e-3)[:, None] ** 2))
    taps = taps / taps.sum(dim=1, keepdim=True)
    n, c, h, w = images.shape
    taps = taps.repeat_interleave(c, dim=0)
    x = F.pad(images, (radius,) * 4, mode="reflect").reshape(1, n * c, h + 2 * radius, w + 2 * radius)
    x = F.conv2d(x, taps[:, None, None, :], groups=n * c)
    x = F.conv2d(x, taps[:, None, :, None], groups=n * c)
    return x.reshape(n, c, h, w)


def high_pass(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """What a Gaussian blur of ``sigma`` (the same for every image) takes away: edges and texture finer than it."""
    return images - gaussian_blur(images, torch.full(images.shape[:1], sigma, dtype=images.dtype, device=images.device))


def _box(images: torch.Tensor, radius: int) -> torch.Tensor:
    return F.avg_pool2d(F.pad(images, (radius,) * 4, mode="reflect"), 2 * radius + 1, stride=1)


def guided_smooth(images: torch.Tensor, radius: int, eps: float) -> torch.Tensor:
    """Self-guided filter per channel (He et al. 2010): flattens low-contrast texture, keeps strong edges."""
    mean = _box(images, radius)
    variance = (_box(images * images, radius) - mean**2).clamp_min(0)
    gain = variance / (variance + eps)
    return _box(gain, radius) * images + _box(mean - gain * mean, radius)


def input_residual(lr: torch.Tensor, teacher: torch.Tensor, config: KnobTargetConfig) -> torch.Tensor:
    """High-pass of what the input holds and the (area-downscaled) teacher output does not, at input size."""
    scale = teacher.shape[-1] // lr.shape[-1]
    residual = lr - F.avg_pool2d(teacher, scale)
    return high_pass(residual, config.residual_sigma)


def knob_target(teacher: torch.Tensor, residual: torch.Tensor, estimate: torch.Tensor, knobs: torch.Tensor,
                config: KnobTargetConfig) -> torch.Tensor:
    """The target output (N, 3, H, W) at ``knobs`` (N, 2) = [blur, noise] for inputs whose estimate is ``estimate``.

    ``teacher`` is the teacher's output (N, 3, H, W), ``residual`` the input residual (N, 3, h, w).
    """
    scale = teacher.shape[-1] // residual.shape[-1]
    per_image = lambda t: t.view(-1, 1, 1, 1)
    blur_est, noise_est = estimate[:, 0], estimate[:, 1]
    blur, noise = knobs[:, 0], knobs[:, 1]
    target = gaussian_blur(teacher, scale * config.blur_sigma * (blur_est**2 - blur**2).clamp_min(0).sqrt())
    sharpen = config.sharpen_amount * (blur - blur_est).clamp_min(0)
    target = target + per_image(sharpen) * high_pass(target, config.sharpen_sigma)
    keep = ((noise_est - noise) / noise_est.clamp_min(config.min_estimate)).clamp(0, 1)
    grain = F.interpolate(residual, scale_factor=scale, mode="bicubic", align_corners=False)
    if config.grain_detail > 0:
        grain = grain + config.grain_detail * high_pass(target, config.grain_detail_sigma)
    target = target + per_image(keep) * grain
    smooth = ((noise - noise_est) / (1 - noise_est).clamp_min(config.min_estimate)).clamp(0, 1)
    target = target + per_image(smooth) * (guided_smooth(target, config.smooth_radius, config.smooth_eps) - target)
    return target


def sample_knobs(estimate: torch.Tensor, config: KnobTargetConfig, generator: torch.Generator) -> torch.Tensor:
    """Knobs (N, 2) for training: each one at the estimate, at 0 or 1, or uniform in [0, 1]."""
    shape = estimate.shape
    uniform = torch.rand(shape, generator=generator)
    ends = (torch.rand(shape, generator=generator) < 0.5).to(estimate.dtype)
    other = torch.where(torch.rand(shape, generator=generator) < config.endpoints, ends, uniform)
    return torch.where(torch.rand(shape, generator=generator) < config.auto, estimate, other)
