"""Periodic validation: PSNR on a paired folder, and how monotonically the estimator ranks known degradations.

The sweep is the metric-learning check: scores must rise with the Gaussian blur sigma (blur
score) and with the Gaussian noise sigma (noise score). It reports Spearman's rho per image,
averaged over images; 1.0 means every image's scores are perfectly ordered.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from mmrealsr_plugin.archs.mmrealsr import MMRealSR
from mmrealsr_plugin.imageio import list_images, read_image

from .metrics import psnr, spearman

BLUR_SIGMAS = (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0)
"""Gaussian blur sigmas in HR pixels (applied before the x4 downscale, as in the synthesis)."""
NOISE_SIGMAS = (2.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0)
"""Gaussian noise sigmas on the 0-255 scale (added to the clean LR image)."""


def load_rgb(path: Path) -> torch.Tensor:
    """(1, 3, H, W) float32 in [0, 1] through the core's reader; gray is expanded, alpha dropped."""
    return torch.from_numpy(read_image(path).rgb()).permute(2, 0, 1)[None]


def _8bit(image: torch.Tensor) -> np.ndarray:
    """(H, W, 3) float64 on 8-bit levels: how a result would be saved and compared."""
    return np.round(image[0].clamp(0, 1).permute(1, 2, 0).double().cpu().numpy() * 255) / 255


@torch.no_grad()
def paired_psnr(model: MMRealSR, folder: str | Path, device: torch.device, limit: int = 0) -> float:
    """Mean PSNR (RGB, 8-bit levels, 4-pixel border left out) over ``folder/LR_x4/*`` restored with estimated scores
    against ``folder/HR/*``."""
    values = []
    for lr_path in list_images(Path(folder) / "LR_x4", limit=limit):
        hr = load_rgb(Path(folder) / "HR" / lr_path.name).to(device)
        lr = load_rgb(lr_path).to(device)
        sr = model(lr, model.estimate(lr))
        h, w = min(sr.shape[-2], hr.shape[-2]), min(sr.shape[-1], hr.shape[-1])
        values.append(psnr(_8bit(hr[..., :h, :w]), _8bit(sr[..., :h, :w]), crop_border=4, y_channel=False))
    return float(np.mean(values)) if values else float("nan")


def gaussian_blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, math.ceil(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=image.dtype, device=image.device)
    k1 = torch.exp(-(x**2) / (2 * sigma**2))
    k1 = k1 / k1.sum()
    kernel = (k1[:, None] * k1[None, :]).expand(image.shape[1], 1, -1, -1)
    padded = F.pad(image, (radius,) * 4, mode="reflect")
    return F.conv2d(padded, kernel, groups=image.shape[1])


def _downscale(hr: torch.Tensor) -> torch.Tensor:
    h, w = hr.shape[-2] // 4 * 4, hr.shape[-1] // 4 * 4
    return F.interpolate(hr[..., :h, :w], size=(h // 4, w // 4), mode="bicubic", antialias=True).clamp(0, 1)


def _quantize(x: torch.Tensor) -> torch.Tensor:
    return (x.clamp(0, 1) * 255).round() / 255


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rho, 0 where it is undefined (constant scores: an untrained estimator carries no ranking)."""
    rho = spearman(x, y)
    return rho if np.isfinite(rho) else 0.0


@dataclass(frozen=True)
class SweepResult:
    blur_spearman: float
    noise_spearman: float
    blur_scores: list[list[float]]
    """Per image, the blur score at each of BLUR_SIGMAS."""
    noise_scores: list[list[float]]

    def to_dict(self) -> dict[str, object]:
        return {"blur_spearman": self.blur_spearman, "noise_spearman": self.noise_spearman}


@torch.no_grad()
def estimator_sweep(model: MMRealSR, hr_paths: list[Path], device: torch.device, seed: int = 0) -> SweepResult:
    """Score each image under a Gaussian-blur sweep and a Gaussian-noise sweep; Spearman vs the sigma."""
    generator = torch.Generator().manual_seed(seed)
    blur_rows, noise_rows, blur_rhos, noise_rhos = [], [], [], []
    for path in hr_paths:
        hr = load_rgb(path)
        blurred = torch.cat([_quantize(_downscale(gaussian_blur(hr, s))) for s in BLUR_SIGMAS])
        clean = _downscale(hr)
        noise = torch.randn(clean.shape, generator=generator)
        noisy = torch.cat([_quantize(clean + noise * (s / 255)) for s in NOISE_SIGMAS])
        blur_scores = model.estimate(blurred.to(device))[:, 0].float().cpu().numpy()
        noise_scores = model.estimate(noisy.to(device))[:, 1].float().cpu().numpy()
        blur_rows.append(blur_scores.tolist())
        noise_rows.append(noise_scores.tolist())
        blur_rhos.append(_spearman(np.array(BLUR_SIGMAS), blur_scores))
        noise_rhos.append(_spearman(np.array(NOISE_SIGMAS), noise_scores))
    return SweepResult(float(np.mean(blur_rhos)), float(np.mean(noise_rhos)), blur_rows, noise_rows)
