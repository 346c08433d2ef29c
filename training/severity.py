"""Single-factor severity groups and the metric-learning losses that teach the estimator what its scores mean.

Why not the paper's contrast groups alone: there, "more noise" also means "more JPEG", and two images are only
ever compared within one degradation draw, so the scores rank correctly inside a photo but carry no common
scale across photos (a blur score of 0.7 meant nothing). Here every group is one clean base patch seen as

    A  a background degradation (blur, and noise or JPEG, each present or not, at random severities)
    B  A with another blur severity           -> the blur score must move, the noise score must not
    C  A with another noise or JPEG severity  -> the noise score must move, the blur score must not
    Z  the clean base                         -> anchor at the bottom of both scores
    M  the most severe blur and noise (or JPEG) -> anchor at the top of both scores

and every image carries its severity level in [0, 1] per score. The losses stay metric learning (no score is
regressed to a label): pairs are ranked with a margin proportional to their level gap, inside a group and, with
a lower weight, across groups of the same noise family, so one level means one score on every photo; anchors
are hinges, not squared targets. They act on the estimator's logits, where a sigmoid saturated by the anchors
still passes gradients.

Noise severity covers the paper's "noise" in the broad sense users mean: Gaussian (colour or grey), signal-
dependent (Poisson-like), spatially correlated film grain and halftone screens, and JPEG compression.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .degradations.filters import filter2d, quantize_8bit
from .degradations.jpeg import jpeg_roundtrip

SLOTS = 5
"""Images per group, in the order A, B, C, Z, M."""
NOISE_FAMILY, JPEG_FAMILY, CLEAN = 0, 1, -1
NOISE_KINDS = ("gaussian", "gray", "poisson", "grain", "halftone")


@dataclass(frozen=True)
class SeverityConfig:
    """What level 1 means for each factor, and how groups are drawn."""

    blur_sigma: float = 4.0
    """Gaussian blur sigma at level 1, in pixels of the scored image (level = sigma / blur_sigma)."""
    noise_sigma: float = 40.0
    """Noise standard deviation at level 1, on the 0-255 scale."""
    jpeg_quality_clean: float = 95.0
    """JPEG quality at level 0 of the JPEG severity."""
    jpeg_quality_worst: float = 10.0
    """JPEG quality at level 1."""
    jpeg_family: float = 0.5
    """Share of groups whose noise severity is JPEG compression (the others: additive noise)."""
    present: float = 0.6
    """Chance that each factor of the background image A is present at all."""
    anisotropic: float = 0.4
    """Share of groups blurred with an anisotropic Gaussian (axis ratio up to 3, any angle)."""
    noise_kinds: tuple[float, float, float, float, float] = (0.4, 0.15, 0.15, 0.2, 0.1)
    """Shares of the noise kinds, in the order of ``NOISE_KINDS``."""
    min_gap: float = 0.12
    """Smallest level change between A and B (blur) or A and C (noise)."""

    def __post_init__(self) -> None:
        if not (self.blur_sigma > 0 and self.noise_sigma > 0):
            raise ValueError("blur_sigma and noise_sigma must be positive")
        if not 100 >= self.jpeg_quality_clean > self.jpeg_quality_worst >= 1:
            raise ValueError("need 100 >= jpeg_quality_clean > jpeg_quality_worst >= 1")
        if len(self.noise_kinds) != len(NOISE_KINDS) or min(self.noise_kinds) < 0 or sum(self.noise_kinds) <= 0:
            raise ValueError(f"noise_kinds needs {len(NOISE_KINDS)} non-negative shares ({', '.join(NOISE_KINDS)})")


@dataclass(frozen=True)
class SeverityLossConfig:
    span: float = 2.2
    """Anchor hinges: clean logits below -span, most severe above +span (scores about 0.1 and 0.9)."""
    margin: float = 1.0
    """Ranking margin in logits per unit of level gap, as a share of 2 * span (1: the anchors' distance)."""
    cross_weight: float = 0.25
    """Weight of pairs from different groups (same noise family) relative to pairs within a group."""
    min_gap: float = 0.05
    """Smallest level gap ranked within a group."""
    cross_min_gap: float = 0.15
    """Smallest level gap ranked across groups."""
    tolerance: float = 0.1
    """Logit difference allowed for the score that a pair does not change (cross-talk)."""
    invariance_weight: float = 2.0
    anchor_weight: float = 1.0


@dataclass(frozen=True)
class SeverityBatch:
    images: torch.Tensor
    """(G * 5, 3, h, w) in [0, 1], 8-bit levels, groups consecutive in slot order A, B, C, Z, M."""
    levels: torch.Tensor
    """(G * 5, 2) severity in [0, 1]: column 0 blur, column 1 noise (the larger of noise and JPEG)."""
    family: torch.Tensor
    """(G * 5,) NOISE_FAMILY, JPEG_FAMILY, or CLEAN where the noise level is 0."""
    group: torch.Tensor
    """(G * 5,) the group of each image."""


def _uniform(shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    return torch.rand(shape, generator=generator)


def _another_level(level: torch.Tensor, gap: float, generator: torch.Generator) -> torch.Tensor:
    """A level in [0, 1] at least ``gap`` away from ``level``: uniform over the allowed part of [0, 1]."""
    below = (level - gap).clamp_min(0.0)
    above = (1.0 - level - gap).clamp_min(0.0)
    u = _uniform(level.shape, generator) * (below + above)
    return torch.where(u < below, u, level + gap + (u - below))


def gaussian_kernels(sigma: torch.Tensor, ratio: torch.Tensor, angle: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalised Gaussian kernels (N, k, k) with geometric-mean sigma ``sigma`` and axis ratio ``ratio`` >= 1,
    and the odd support size each needs (3 sigma of its longer axis; 1 = identity)."""
    sx, sy = sigma * ratio.sqrt(), sigma / ratio.sqrt()
    radius = torch.ceil(3 * torch.maximum(sx, sy)).long().where(sigma > 0.05, torch.zeros_like(sigma, dtype=torch.long))
    grid = int(radius.max())
    axis = torch.arange(-grid, grid + 1, dtype=torch.float32)
    y, x = torch.meshgrid(axis, axis, indexing="ij")
    cos, sin = angle.cos()[:, None, None], angle.sin()[:, None, None]
    u, v = cos * x + sin * y, -sin * x + cos * y
    kernels = torch.exp(-0.5 * (u**2 / sx.clamp_min(1e-3)[:, None, None] ** 2 + v**2 / sy.clamp_min(1e-3)[:, None, None] ** 2))
    pulse = torch.zeros_like(kernels)
    pulse[:, grid, grid] = 1.0
    kernels = torch.where((radius == 0)[:, None, None], pulse, kernels)
    return kernels / kernels.sum(dim=(1, 2), keepdim=True), 2 * radius + 1


def noise_fields(count: int, shape: tuple[int, int], kinds: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Unit-deviation noise fields (count, 3, h, w) of the given kinds (indices into ``NOISE_KINDS``).

    Poisson-like fields are scaled per pixel later (they depend on the image); grain is white noise blurred by a
    sigma of 0.5-1.5 px and rescaled; halftone is a rotated dot screen of period 2.5-5 px.
    """
    h, w = shape
    fields = torch.randn((count, 3, h, w), generator=generator)
    fields = torch.where((kinds == 1)[:, None, None, None], fields[:, :1].expand(-1, 3, -1, -1), fields)
    grain = kinds == 3
    if grain.any():
        sigma = 0.5 + _uniform((int(grain.sum()),), generator)
        kernels, sizes = gaussian_kernels(sigma, torch.ones_like(sigma), torch.zeros_like(sigma))
        smooth = filter2d(fields[grain], kernels, sizes)
        fields[grain] = smooth / smooth.std(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6)
    halftone = kinds == 4
    if halftone.any():
        n = int(halftone.sum())
        period = 2.5 + 2.5 * _uniform((n, 1, 1), generator)
        angle = math.pi / 2 * _uniform((n, 1, 1), generator)
        y, x = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
        phase = 2 * math.pi * _uniform((n, 2, 1, 1), generator)
        u = (x * angle.cos() + y * angle.sin()) * 2 * math.pi / period + phase[:, 0]
        v = (-x * angle.sin() + y * angle.cos()) * 2 * math.pi / period + phase[:, 1]
        screen = 2.0 * torch.cos(u) * torch.cos(v)  # unit standard deviation
        fields[halftone] = screen[:, None].expand(-1, 3, -1, -1).clone()
    return fields


def sample_groups(bases: torch.Tensor, config: SeverityConfig, generator: torch.Generator) -> SeverityBatch:
    """Severity groups (see the module docstring) of clean ``bases`` (G, 3, h, w) in [0, 1]; all draws from ``generator``."""
    g = bases.shape[0]
    present = lambda: torch.where(_uniform((g,), generator) < config.present, _uniform((g,), generator), torch.zeros(g))
    jpeg_family = _uniform((g,), generator) < config.jpeg_family
    blur = present()
    noise = torch.where(jpeg_family, torch.zeros(g), present())
    jpeg = torch.where(jpeg_family, present(), torch.zeros(g))
    max_is_jpeg = jpeg_family & (_uniform((g,), generator) < 0.5)
    zeros, ones = torch.zeros(g), torch.ones(g)
    other_blur = _another_level(blur, config.min_gap, generator)
    changed_noise = _another_level(torch.where(jpeg_family, jpeg, noise), config.min_gap, generator)
    # slots A, B, C, Z, M: (G, 5) levels per factor
    blur_levels = torch.stack([blur, other_blur, blur, zeros, ones], dim=1)
    noise_levels = torch.stack([noise, noise, torch.where(jpeg_family, noise, changed_noise), zeros,
                                torch.where(max_is_jpeg, zeros, ones)], dim=1)
    jpeg_levels = torch.stack([jpeg, jpeg, torch.where(jpeg_family, changed_noise, jpeg), zeros,
                               torch.where(max_is_jpeg, ones, zeros)], dim=1)

    ratio = torch.where(_uniform((g,), generator) < config.anisotropic, torch.exp(_uniform((g,), generator) * math.log(3.0)), ones)
    angle = math.pi * _uniform((g,), generator)
    kernels, sizes = gaussian_kernels((blur_levels * config.blur_sigma).flatten(), ratio.repeat_interleave(SLOTS),
                                      angle.repeat_interleave(SLOTS))
    images = bases.repeat_interleave(SLOTS, dim=0)
    images = filter2d(images, kernels, sizes)

    kinds = torch.multinomial(torch.tensor(config.noise_kinds), g, replacement=True, generator=generator)
    fields = noise_fields(g, tuple(bases.shape[-2:]), kinds, generator).repeat_interleave(SLOTS, dim=0)
    poisson = (kinds == 2).repeat_interleave(SLOTS)[:, None, None, None]
    fields = torch.where(poisson, fields * (images.clamp(0, 1) / 0.5).sqrt(), fields)
    sigma = (noise_levels.flatten() * config.noise_sigma / 255.0)[:, None, None, None]
    images = (images + fields * sigma).clamp(0, 1)

    compressed = jpeg_levels.flatten() > 0
    if compressed.any():
        quality = config.jpeg_quality_clean - jpeg_levels.flatten()[compressed] * (
            config.jpeg_quality_clean - config.jpeg_quality_worst)
        images[compressed] = jpeg_roundtrip(quantize_8bit(images[compressed]), quality)
    images = quantize_8bit(images)

    noise_severity = torch.maximum(noise_levels, jpeg_levels).flatten()
    family = torch.where(jpeg_levels.flatten() > 0, JPEG_FAMILY, NOISE_FAMILY)
    family = torch.where(noise_severity > 0, family, CLEAN)
    return SeverityBatch(images, torch.stack([blur_levels.flatten(), noise_severity], dim=1), family,
                         torch.arange(g).repeat_interleave(SLOTS))


def _ranking(logits: torch.Tensor, levels: torch.Tensor, same_group: torch.Tensor, comparable: torch.Tensor,
             config: SeverityLossConfig) -> torch.Tensor:
    """Hinge on every ordered pair (i, j) with level_j > level_i: logit_j - logit_i >= margin * 2 span * gap."""
    gap = levels[None, :] - levels[:, None]
    valid = (gap > config.min_gap) & (same_group | ((gap > config.cross_min_gap) & comparable))
    weight = torch.where(same_group, 1.0, config.cross_weight) * valid
    hinge = torch.relu(logits[:, None] - logits[None, :] + 2 * config.span * config.margin * gap)
    return (weight * hinge).sum() / weight.sum().clamp_min(1.0)


def severity_losses(logits: torch.Tensor, batch: SeverityBatch, config: SeverityLossConfig) -> dict[str, torch.Tensor]:
    """``rank_blur``, ``rank_noise``, ``invariance`` and ``anchor`` from the estimator's logits (N, 2)."""
    same_group = batch.group[None, :] == batch.group[:, None]
    family = batch.family
    same_family = (family[None, :] == family[:, None]) | (family[None, :] == CLEAN) | (family[:, None] == CLEAN)
    everything = torch.ones_like(same_group)
    losses = {
        "rank_blur": _ranking(logits[:, 0], batch.levels[:, 0], same_group, everything, config),
        "rank_noise": _ranking(logits[:, 1], batch.levels[:, 1], same_group, same_family, config),
    }
    invariance = logits.new_zeros(())
    for moved in (0, 1):
        kept = 1 - moved
        pairs = (same_group & (batch.levels[None, :, kept] == batch.levels[:, None, kept])
                 & (batch.levels[None, :, moved] != batch.levels[:, None, moved]))
        drift = torch.relu((logits[None, :, kept] - logits[:, None, kept]).abs() - config.tolerance)
        invariance = invariance + (drift * pairs).sum() / pairs.sum().clamp_min(1)
    losses["invariance"] = invariance
    slots = logits.view(-1, SLOTS, 2)
    losses["anchor"] = torch.relu(slots[:, 3] + config.span).mean() + torch.relu(config.span - slots[:, 4]).mean()
    return losses


def total_loss(losses: dict[str, torch.Tensor], config: SeverityLossConfig) -> torch.Tensor:
    return (losses["rank_blur"] + losses["rank_noise"] + config.invariance_weight * losses["invariance"]
            + config.anchor_weight * losses["anchor"])
