"""Blur kernels built for a whole batch at once from per-sample parameters.

Why batched: the pipeline needs up to ~3B kernels per stage; building them as one tensor expression on a
shared 21x21 grid is far cheaper than a Python loop, and zero-padding to 21 falls out of a size mask.

Families (the Real-ESRGAN/MM-RealSR set):
* generalized Gaussian  exp(-0.5 * q^beta)   (plain Gaussian is beta = 1)
* plateau               1 / (1 + q^beta)
* sinc                  2-D circular low-pass  omega * J1(omega r) / (2 pi r)
* pulse                 identity (a single 1 at the centre), for "no blur"
where q = x^T Sigma^-1 x with Sigma = R(theta) diag(sigma_x^2, sigma_y^2) R(theta)^T.
"""

from __future__ import annotations

import dataclasses
import math

import torch

GRID = 21
"""Every kernel is zero-padded to GRID x GRID (the largest kernel size)."""

GENERALIZED, PLATEAU, SINC, PULSE = 0, 1, 2, 3


@dataclasses.dataclass(frozen=True)
class KernelParams:
    """Per-kernel parameters, each a tensor of shape (N,); ``size`` is odd and <= GRID."""

    family: torch.Tensor
    size: torch.Tensor
    sigma_x: torch.Tensor
    sigma_y: torch.Tensor
    theta: torch.Tensor
    beta: torch.Tensor
    omega: torch.Tensor

    def replace(self, **changes: torch.Tensor) -> KernelParams:
        return dataclasses.replace(self, **changes)

    def where(self, mask: torch.Tensor, other: KernelParams) -> KernelParams:
        """Per kernel: ``other``'s parameters where ``mask`` is True, else these."""
        return KernelParams(**{
            f.name: torch.where(mask, getattr(other, f.name), getattr(self, f.name))
            for f in dataclasses.fields(self)
        })

    @staticmethod
    def cat(parts: list[KernelParams]) -> KernelParams:
        return KernelParams(**{
            f.name: torch.cat([getattr(p, f.name) for p in parts]) for f in dataclasses.fields(KernelParams)
        })


def pulse_params(n: int, device: torch.device) -> KernelParams:
    """``n`` identity kernels."""
    zeros = torch.zeros(n, device=device)
    return KernelParams(
        family=torch.full((n,), PULSE, dtype=torch.long, device=device),
        size=torch.ones(n, dtype=torch.long, device=device),
        sigma_x=zeros + 1, sigma_y=zeros + 1, theta=zeros, beta=zeros + 1, omega=zeros + math.pi,
    )


def build_kernels(params: KernelParams, grid: int = GRID) -> torch.Tensor:
    """Kernels of shape (N, grid, grid), each summing to 1, centred, zero outside its own size."""
    device = params.sigma_x.device
    radius = grid // 2
    axis = torch.arange(-radius, radius + 1, dtype=torch.float32, device=device)
    yy, xx = torch.meshgrid(axis, axis, indexing="ij")
    xx, yy = xx[None], yy[None]

    def col(t: torch.Tensor) -> torch.Tensor:
        return t.to(torch.float32)[:, None, None]

    cos, sin = torch.cos(col(params.theta)), torch.sin(col(params.theta))
    u = cos * xx + sin * yy
    v = -sin * xx + cos * yy
    q = (u / col(params.sigma_x)) ** 2 + (v / col(params.sigma_y)) ** 2
    q_beta = q.pow(col(params.beta))
    generalized = torch.exp(-0.5 * q_beta)
    plateau = 1.0 / (1.0 + q_beta)

    omega = col(params.omega)
    r = torch.sqrt(xx**2 + yy**2).expand_as(q)
    safe_r = torch.where(r > 0, r, torch.ones_like(r))
    sinc = torch.where(
        r > 0,
        omega * torch.special.bessel_j1(omega * safe_r) / (2 * math.pi * safe_r),
        omega**2 / (4 * math.pi),
    )
    pulse = ((xx == 0) & (yy == 0)).to(torch.float32).expand_as(q)

    family = params.family[:, None, None]
    kernel = torch.where(family == GENERALIZED, generalized, plateau)
    kernel = torch.where(family == SINC, sinc, kernel)
    kernel = torch.where(family == PULSE, pulse, kernel)
    half = (params.size // 2)[:, None, None]
    inside = (xx.abs() <= half) & (yy.abs() <= half)
    kernel = kernel * inside
    return kernel / kernel.sum(dim=(1, 2), keepdim=True)


def gaussian_1d(size: int, sigma: float, device: torch.device | None = None) -> torch.Tensor:
    """A normalised 1-D Gaussian of odd ``size`` (separable half of the USM blur)."""
    axis = torch.arange(size, dtype=torch.float64) - size // 2
    weights = torch.exp(-(axis**2) / (2 * sigma * sigma))
    return (weights / weights.sum()).to(torch.float32).to(device)
