"""Per-sample 2-D filtering (grouped convolution), resizing, unsharp masking and 8-bit quantisation."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .kernels import gaussian_1d


def reflect_pad(x: torch.Tensor, pad_h: int, pad_w: int) -> torch.Tensor:
    """Reflect (mirror without repeating the edge) padding on all four sides.

    Tiny images (pad >= side) reflect as far as they can and replicate the rest, so a 21-tap kernel still
    works on a 6-pixel image after a strong downscale.
    """
    h, w = x.shape[-2:]
    rh, rw = min(pad_h, h - 1), min(pad_w, w - 1)
    if rh or rw:
        x = F.pad(x, (rw, rw, rh, rh), mode="reflect")
    if pad_h > rh or pad_w > rw:
        x = F.pad(x, (pad_w - rw, pad_w - rw, pad_h - rh, pad_h - rh), mode="replicate")
    return x


def filter2d(images: torch.Tensor, kernels: torch.Tensor, sizes: torch.Tensor | None = None) -> torch.Tensor:
    """Convolve each image (N, C, H, W) with its own centred kernel (N, k, k) (odd k), reflect padding.

    One grouped convolution per distinct kernel ``size`` (the support inside the zero padding), so a
    7x7 kernel costs 49 taps rather than 441; without ``sizes`` the full kernel is used for everyone.
    """
    if sizes is None:
        return _filter_same_size(images, kernels)
    grid = kernels.shape[-1]
    sizes = sizes.to(images.device)
    distinct = torch.unique(sizes).tolist()
    if len(distinct) == 1:
        return _filter_same_size(images, _crop(kernels, grid, distinct[0]))
    parts, order = [], []
    for size in distinct:
        chosen = (sizes == size).nonzero().flatten()
        subset = images.index_select(0, chosen)
        parts.append(_filter_same_size(subset, _crop(kernels.index_select(0, chosen), grid, size)))
        order.append(chosen)
    inverse = torch.argsort(torch.cat(order))
    return torch.cat(parts).index_select(0, inverse)


def _crop(kernels: torch.Tensor, grid: int, size: int) -> torch.Tensor:
    cut = (grid - int(size)) // 2
    return kernels[:, cut: grid - cut, cut: grid - cut] if cut > 0 else kernels


def _filter_same_size(images: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    n, c, h, w = images.shape
    if kernels.shape[-1] == 1:  # identity pulses
        return images
    k = kernels.shape[-1]
    padded = reflect_pad(images, k // 2, k // 2)
    # conv2d correlates; flipping makes it a true convolution (kernels here are point-symmetric anyway)
    weight = kernels.flip(-1, -2).to(images.dtype).repeat_interleave(c, dim=0)[:, None]
    out = F.conv2d(padded.reshape(1, n * c, *padded.shape[-2:]), weight, groups=n * c)
    return out.reshape(n, c, h, w)


def separable_blur(images: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
    """Blur with the same symmetric 1-D kernel along rows then columns (the USM Gaussian)."""
    n, c, h, w = images.shape
    k = taps.numel()
    flat = reflect_pad(images, k // 2, k // 2).reshape(1, n * c, h + 2 * (k // 2), w + 2 * (k // 2))
    row = taps.to(images.dtype).view(1, 1, 1, k).repeat(n * c, 1, 1, 1)  # contiguous: 2x faster than expand
    col = row.view(n * c, 1, k, 1)
    out = F.conv2d(F.conv2d(flat, row, groups=n * c), col, groups=n * c)
    return out.reshape(n, c, h, w)


def usm_sharpen(
    images: torch.Tensor, *, kernel_size: int, sigma: float, weight: float, threshold: float
) -> torch.Tensor:
    """Unsharp masking with a soft mask: sharpen only where the detail exceeds ``threshold`` (0-255 scale).

    sharp = clip(x + weight * (x - blur(x))); the hard mask |x - blur(x)| > threshold/255 is blurred with
    the same Gaussian and blends sharp over the original, so flat areas (and their noise) stay untouched.
    """
    taps = gaussian_1d(kernel_size, sigma, images.device)
    residual = images - separable_blur(images, taps)
    mask = (residual.abs() * 255 > threshold).to(images.dtype)
    soft = separable_blur(mask, taps)
    sharp = (images + weight * residual).clamp(0, 1)
    return soft * sharp + (1 - soft) * images


def resize(images: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    """Resize to ``size`` (H, W) with area / bilinear / bicubic (no antialias, as the official pipeline)."""
    size = (max(1, int(size[0])), max(1, int(size[1])))
    if tuple(images.shape[-2:]) == size:
        return images
    if mode == "area":
        return F.interpolate(images, size=size, mode="area")
    return F.interpolate(images, size=size, mode=mode, align_corners=False)


def quantize_8bit(images: torch.Tensor) -> torch.Tensor:
    """Round to the 256 levels of an 8-bit image, as a saved LQ file would be."""
    return torch.clamp(torch.round(images * 255.0), 0, 255) / 255.0
