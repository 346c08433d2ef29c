"""Random parameters of the MM-RealSR contrast triplets: a "small", a "large" and a "max" version.

Why triplets: x1 (small) and x2 / x3 (large) must differ in exactly one direction so the ranking loss
learns that direction, and a_max sits at the top of every range. Everything not listed as different is
shared within a sample (kernel type, size, rotation, beta; noise kind and gray flag; resize mode).

All per-sample values are drawn for every sample whatever its type (then selected with ``where``), so
the number of draws, and therefore the random stream, never depends on earlier outcomes within a call.
"""

from __future__ import annotations

import dataclasses
import math

import torch

from .config import KERNEL_TYPES
from .kernels import GENERALIZED, PLATEAU, SINC, KernelParams, pulse_params
from .rng import RandomSource


@dataclasses.dataclass(frozen=True)
class KernelSpec:
    """The per-stage kernel settings (stage 1 uses the unsuffixed config keys, stage 2 the ``2`` keys)."""

    size_range: tuple[int, int]
    type_prob: tuple[float, ...]
    sinc_prob: float
    sigma: tuple[float, float]
    betag: tuple[float, float]
    betap: tuple[float, float]
    diff_lower_bound: float


@dataclasses.dataclass(frozen=True)
class Triplet:
    """Per-sample (B,) values for the small / large / max versions."""

    small: torch.Tensor
    large: torch.Tensor
    max: torch.Tensor


def _odd_sizes(rng: RandomSource, n: int, size_range: tuple[int, int]) -> torch.Tensor:
    low, high = size_range
    count = (high - low) // 2 + 1
    index = torch.clamp((rng.rand(n) * count).long(), max=count - 1)
    return low + 2 * index


def _split_beta(rng: RandomSource, n: int, beta_range: tuple[float, float]) -> torch.Tensor:
    """Half the time below 1 (heavier tails / sharper plateau), half above, as the reference sampler."""
    low, high = beta_range
    below = rng.uniform(n, low, min(1.0, high))
    above = rng.uniform(n, max(1.0, low), high)
    return torch.where(rng.bernoulli(n, 0.5), below, above)


def sample_kernel_triplet(
    rng: RandomSource, n: int, spec: KernelSpec
) -> tuple[KernelParams, KernelParams, KernelParams]:
    """Kernels (small, large, max) for ``n`` samples: same type/size/rotation/beta, growing sigma."""
    size = _odd_sizes(rng, n, spec.size_range)
    is_sinc = rng.bernoulli(n, spec.sinc_prob)
    kind = rng.categorical(n, spec.type_prob)
    aniso = torch.zeros(n, dtype=torch.bool, device=rng.device)
    plateau = torch.zeros_like(aniso)
    generalized = torch.zeros_like(aniso)
    for index, name in enumerate(KERNEL_TYPES):
        hit = kind == index
        aniso |= hit & name.endswith("aniso")
        plateau |= hit & name.startswith("plateau")
        generalized |= hit & name.startswith("generalized")
    theta = torch.where(aniso, rng.uniform(n, -math.pi, math.pi), torch.zeros(n, device=rng.device))
    beta_g = _split_beta(rng, n, spec.betag)
    beta_p = _split_beta(rng, n, spec.betap)
    beta = torch.where(plateau, beta_p, torch.where(generalized, beta_g, torch.ones(n, device=rng.device)))

    lo, hi = spec.sigma
    width = hi - lo
    lb = spec.diff_lower_bound
    # isotropic: one gap d >= lb
    d_iso = rng.uniform(n, lb, width)
    s_iso = rng.uniform(n, lo, hi - d_iso)
    # anisotropic: gaps per axis, jointly at least lb
    dx = rng.uniform(n, 0.0, width)
    dy = rng.uniform(n, torch.clamp(lb - dx, min=0.0), width)
    sx = rng.uniform(n, lo, hi - dx)
    sy = rng.uniform(n, lo, hi - dy)
    sx_small = torch.where(aniso, sx, s_iso)
    sy_small = torch.where(aniso, sy, s_iso)
    sx_large = sx_small + torch.where(aniso, dx, d_iso)
    sy_large = sy_small + torch.where(aniso, dy, d_iso)

    omega_floor = torch.where(size < 13, math.pi / 3, math.pi / 5).to(torch.float32)
    w1 = rng.uniform(n, omega_floor, math.pi)
    w2 = rng.uniform(n, omega_floor, math.pi)
    family = torch.where(plateau, PLATEAU, GENERALIZED)
    family = torch.where(is_sinc, SINC, family)

    def make(sx_: torch.Tensor, sy_: torch.Tensor, omega: torch.Tensor) -> KernelParams:
        return KernelParams(family=family, size=size, sigma_x=sx_, sigma_y=sy_, theta=theta, beta=beta, omega=omega)

    top = torch.full((n,), hi, device=rng.device)
    small = make(sx_small, sy_small, torch.maximum(w1, w2))  # higher cut-off = less blur
    large = make(sx_large, sy_large, torch.minimum(w1, w2))
    most = make(top, top, omega_floor)
    return small, large, most


def sample_final_sinc(rng: RandomSource, n: int, prob: float, size_range: tuple[int, int]) -> KernelParams:
    """The last low-pass (ringing/overshoot artefacts): a sinc with probability ``prob``, else identity."""
    use = rng.bernoulli(n, prob)
    size = _odd_sizes(rng, n, size_range)
    omega = rng.uniform(n, math.pi / 3, math.pi)
    identity = pulse_params(n, rng.device)
    sinc = identity.replace(family=torch.full((n,), SINC, dtype=torch.long, device=rng.device), size=size, omega=omega)
    return identity.where(use, sinc)


def skip_kernels(params: KernelParams, skip: torch.Tensor) -> KernelParams:
    """Replace the kernels of samples where ``skip`` is True by the identity."""
    return params.where(skip, pulse_params(skip.numel(), skip.device))


def sample_noise_triplet(
    rng: RandomSource, n: int, value_range: tuple[float, float], diff_range: tuple[float, float], differ: torch.Tensor
) -> Triplet:
    """Noise strengths: small, large (= small + d where ``differ``, else = small) and the range top.

    With a gap d, small = U * (top - d) + low, so large may exceed the top by ``low`` (as the reference).
    """
    low, high = value_range
    gap = rng.uniform(n, diff_range[0], diff_range[1])
    u = rng.rand(n)
    small = torch.where(differ, u * (high - gap) + low, low + u * (high - low))
    large = small + torch.where(differ, gap, torch.zeros_like(gap))
    return Triplet(small=small, large=large, max=torch.full((n,), high, device=rng.device))


def sample_jpeg_triplet(
    rng: RandomSource, n: int, quality_range: tuple[float, float], diff_range: tuple[float, float]
) -> Triplet:
    """JPEG qualities: "large" (more artefacts) = lower quality, small = large + d, max = the range floor."""
    low, high = quality_range
    gap = rng.uniform(n, diff_range[0], diff_range[1])
    large = rng.rand(n) * (high - low - gap) + low
    return Triplet(small=large + gap, large=large, max=torch.full((n,), low, device=rng.device))

