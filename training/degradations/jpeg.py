"""Baseline JPEG compression round trip in torch, batched, at a continuous per-sample quality.

Why our own: the degradations run on batches on any device and need qualities such as 47.3; a codec
library works on one uint8 image at a time on the CPU. Steps: RGB -> YCbCr (JFIF), 4:2:0 chroma (2x2
mean), level shift, 8x8 DCT-II, divide by the standard (ITU T.81 Annex K) tables scaled by quality, round,
multiply back, inverse DCT, triangle-filter chroma upsampling, YCbCr -> RGB. Output is float, not rounded to 8 bits.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

_LUMA_TABLE = (
    (16, 11, 10, 16, 24, 40, 51, 61),
    (12, 12, 14, 19, 26, 58, 60, 55),
    (14, 13, 16, 24, 40, 57, 69, 56),
    (14, 17, 22, 29, 51, 87, 80, 62),
    (18, 22, 37, 56, 68, 109, 103, 77),
    (24, 35, 55, 64, 81, 104, 113, 92),
    (49, 64, 78, 87, 103, 121, 120, 101),
    (72, 92, 95, 98, 112, 100, 103, 99),
)
_CHROMA_TABLE = (
    (17, 18, 24, 47, 99, 99, 99, 99),
    (18, 21, 26, 66, 99, 99, 99, 99),
    (24, 26, 56, 99, 99, 99, 99, 99),
    (47, 66, 99, 99, 99, 99, 99, 99),
    (99, 99, 99, 99, 99, 99, 99, 99),
    (99, 99, 99, 99, 99, 99, 99, 99),
    (99, 99, 99, 99, 99, 99, 99, 99),
    (99, 99, 99, 99, 99, 99, 99, 99),
)


# JFIF full-range conversion; chroma is centred on 0 here (the +128 offset cancels in the round trip)
_RGB_TO_YCC = (
    (0.299, 0.587, 0.114),
    (-0.168736, -0.331264, 0.5),
    (0.5, -0.418688, -0.081312),
)
_YCC_TO_RGB = (
    (1.0, 0.0, 1.402),
    (1.0, -0.344136, -0.714136),
    (1.0, 1.772, 0.0),
)


def quality_scale(quality: torch.Tensor) -> torch.Tensor:
    """IJG quality -> table multiplier, continuous: 50/q below 50, 2 - q/50 above (1 at q = 50)."""
    q = quality.clamp(1.0, 100.0)
    return torch.where(q < 50, 50.0 / q, 2.0 - q / 50.0)


def _dct_basis(device: torch.device) -> torch.Tensor:
    """(64, 64) matrix: row u*8+v is the orthonormal 8x8 DCT-II basis image (u, v), flattened y*8+x."""
    n = torch.arange(8, dtype=torch.float64)
    basis = torch.cos((2 * n[None, :] + 1) * n[:, None] * math.pi / 16)
    basis[0] /= math.sqrt(2)
    basis *= 0.5  # rows: frequency, columns: sample position
    return torch.kron(basis, basis).to(torch.float32).to(device)


def _mix_channels(matrix: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """Per-pixel 3x3 colour transform of (N, 3, H, W)."""
    n, c, h, w = images.shape
    return (matrix @ images.reshape(n, c, h * w)).reshape(n, c, h, w)


def _code_plane(plane: torch.Tensor, tables: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """Quantise level-shifted planes (N, 1, H, W) (H, W multiples of 8) with per-plane tables (N, 64).

    pixel_unshuffle puts each 8x8 block on the channel axis, so the blockwise DCT and its inverse are
    one broadcast matrix product each (measured faster than einsum or a 1x1 convolution on the CPU).
    """
    blocks = F.pixel_unshuffle(plane, 8)
    n, _, bh, bw = blocks.shape
    coeffs = basis @ blocks.reshape(n, 64, bh * bw)
    q = tables[:, :, None]
    coeffs = torch.round(coeffs / q) * q
    return F.pixel_shuffle((basis.T @ coeffs).reshape(n, 64, bh, bw), 8)


def jpeg_roundtrip(images: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
    """Compress and decompress RGB images (N, 3, H, W) in [0, 1] at ``quality`` (N,) in [1, 100]."""
    n, _, h, w = images.shape
    x = images.clamp(0, 1) * 255.0
    pad_h, pad_w = (-h) % 16, (-w) % 16
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
    device = images.device
    ycc = _mix_channels(torch.tensor(_RGB_TO_YCC, device=device), x)  # Y, centred Cb, Cr
    y = ycc[:, :1] - 128.0
    chroma = F.avg_pool2d(ycc[:, 1:], 2)

    scale = quality_scale(quality.to(torch.float32).to(images.device))[:, None]
    luma_q = (torch.tensor(_LUMA_TABLE, dtype=torch.float32, device=device).reshape(1, 64) * scale).clamp_min(1.0)
    chroma_q = (torch.tensor(_CHROMA_TABLE, dtype=torch.float32, device=device).reshape(1, 64) * scale).clamp_min(1.0)
    basis = _dct_basis(device)

    y = _code_plane(y, luma_q, basis) + 128.0
    half = chroma.shape[-2:]  # multiples of 8 thanks to the padding to 16
    coded = _code_plane(chroma.reshape(n * 2, 1, *half), chroma_q.repeat_interleave(2, dim=0), basis)
    # libjpeg's "fancy" 2x chroma upsampling is the 3/4-1/4 triangle filter = bilinear, half-pixel centres
    chroma = F.interpolate(coded.reshape(n, 2, *half), scale_factor=2, mode="bilinear", align_corners=False)
    rgb = _mix_channels(torch.tensor(_YCC_TO_RGB, device=device), torch.cat((y, chroma), dim=1))
    return (rgb[..., :h, :w] / 255.0).clamp(0, 1)
