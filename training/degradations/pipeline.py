"""The MM-RealSR training degradation: one GT batch in, five LQ versions out (x1, x2, x3, a_min, a_max).

Second-order Real-ESRGAN pipeline (blur, resize, noise, JPEG, then again, then final resize + sinc + JPEG)
run on four branches that share all randomness except what makes them differ:

* x1  "small" parameters everywhere;
* x2  a blurrier stage-1 and stage-2 kernel and its own stage-1 resize scale (more blur);
* x3  a copy of x1 after the stage-1 resize, then stronger noise in at least one stage and lower JPEG
      quality in both JPEG steps (more noise);
* a_max  every parameter at the top of its range (max anchor);
* a_min  the clean GT, bilinearly downsampled (clean anchor).

Branches of equal size go through each step as one batch, so a step costs one grouped convolution / one
JPEG pass whatever the number of branches.

Granularity of the random choices (as the reference, which runs these steps on whole GPU batches):
per batch: resize direction, scales and modes, Gaussian-vs-Poisson, the final step order;
per sample: kernels, the second-blur coin, noise strengths, gray flags, the "different noise" switches,
JPEG qualities, the final sinc. Noise fields are independent per branch and sample.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from mmrealsr_plugin.errors import ImageError

from .config import DegradationConfig
from .filters import filter2d, quantize_8bit, resize, usm_sharpen
from .jpeg import jpeg_roundtrip
from .kernels import PULSE, KernelParams, build_kernels
from .noise import gaussian_noise, poisson_noise
from .rng import RandomSource
from .sampling import (
    KernelSpec,
    Triplet,
    sample_final_sinc,
    sample_jpeg_triplet,
    sample_kernel_triplet,
    sample_noise_triplet,
    skip_kernels,
)

BRANCH_NAMES: tuple[str, ...] = ("x1", "x2", "x3", "a_min", "a_max")
"""Order of the first axis of ``DegradedBatch.lq``."""

_SYNTH = ("x1", "x2", "x3", "a_max")
"""Order of the synthesised branches inside the pipeline and in ``DegradedBatch.params`` (axis 0)."""


@dataclasses.dataclass(frozen=True)
class DegradedBatch:
    """Result of one pipeline call.

    lq: (5, B, 3, H/scale, W/scale) in [0, 1], 8-bit levels, order ``BRANCH_NAMES``.
    gt: (B, 3, H, W) the training target (USM-sharpened when asked).
    gt_plain: (B, 3, H, W) the GT as given (the GAN's "real").
    params: the sampled values, for logging and checks; per-branch entries have a leading axis of 4 in
        the order x1, x2, x3, a_max.
    """

    lq: torch.Tensor
    gt: torch.Tensor
    gt_plain: torch.Tensor
    params: dict[str, torch.Tensor]


def _kernel_spec(config: DegradationConfig, stage: int) -> KernelSpec:
    suffix = "" if stage == 1 else "2"
    return KernelSpec(
        size_range=config.kernel_size_range,
        type_prob=getattr(config, "kernel_prob" + suffix),
        sinc_prob=getattr(config, "sinc_prob" + suffix),
        sigma=getattr(config, "blur_sigma" + suffix),
        betag=getattr(config, "betag_range" + suffix),
        betap=getattr(config, "betap_range" + suffix),
        diff_lower_bound=config.blur_kernel_diff_lower_bound,
    )


def _per_shape(
    branches: list[torch.Tensor], fn: Callable[..., torch.Tensor], *per_branch: Sequence[torch.Tensor]
) -> list[torch.Tensor]:
    """Apply ``fn(images, *args)`` once per group of same-sized branches (concatenated along the batch)."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for index, branch in enumerate(branches):
        groups.setdefault(tuple(branch.shape), []).append(index)
    out: list[torch.Tensor] = list(branches)
    for indices in groups.values():
        images = torch.cat([branches[i] for i in indices]) if len(indices) > 1 else branches[indices[0]]
        args = [torch.cat([arg[i] for i in indices]) if len(indices) > 1 else arg[indices[0]] for arg in per_branch]
        result = fn(images, *args)
        for i, part in zip(indices, result.split(branches[indices[0]].shape[0])):
            out[i] = part
    return out


def _blur(images: torch.Tensor, params: KernelParams) -> torch.Tensor:
    return filter2d(images, build_kernels(params), params.size)


class DegradationPipeline:
    """Callable turning a GT batch into the five MM-RealSR LQ versions; all randomness from the generator."""

    def __init__(self, config: DegradationConfig | None = None, scale: int = 4) -> None:
        if scale not in (1, 2, 4):
            raise ValueError(f"scale must be 1, 2 or 4, got {scale!r}")
        self.config = config if config is not None else DegradationConfig()
        self.scale = scale

    def __call__(
        self,
        gt: torch.Tensor,
        generator: torch.Generator,
        *,
        sharpen_gt: bool = True,
        degrade_sharpened: bool | None = None,
    ) -> DegradedBatch:
        """Degrade ``gt`` (B, 3, H, W) float in [0, 1], H and W multiples of ``scale``.

        ``sharpen_gt`` USM-sharpens the returned target. ``degrade_sharpened`` (default: same as
        ``sharpen_gt``) chooses whether the LQs and a_min are synthesised from the sharpened GT (stage 1)
        or from the plain GT (stage 2, which still wants sharpened L1/perceptual targets).
        """
        self._check_input(gt)
        cfg = self.config
        gt_plain = gt.to(torch.float32)
        sharpen = self.sharpen
        degrade_sharpened = sharpen_gt if degrade_sharpened is None else degrade_sharpened
        sharpened = sharpen(gt_plain) if (sharpen_gt or degrade_sharpened) else None
        source = sharpened if degrade_sharpened else gt_plain
        target = sharpened if sharpen_gt else gt_plain

        rng = RandomSource(generator, gt_plain.device)
        params: dict[str, torch.Tensor] = {}
        branches = self._synthesise(source, rng, params)

        anchor_source = sharpen(source) if (degrade_sharpened and cfg.official_double_usm_min_anchor) else source
        h, w = gt_plain.shape[-2:]
        a_min = F.interpolate(anchor_source, size=(h // self.scale, w // self.scale), mode="bilinear",
                              align_corners=False)
        x1, x2, x3, a_max = (quantize_8bit(b) for b in branches)
        lq = torch.stack((x1, x2, x3, quantize_8bit(a_min), a_max))
        return DegradedBatch(lq=lq, gt=target, gt_plain=gt_plain, params=params)

    def sharpen(self, images: torch.Tensor) -> torch.Tensor:
        """USM-sharpen with the configured Gaussian, weight and threshold."""
        cfg = self.config
        return usm_sharpen(images, kernel_size=cfg.usm_kernel_size, sigma=cfg.usm_sigma, weight=cfg.usm_weight,
                           threshold=cfg.usm_threshold)

    def _check_input(self, gt: torch.Tensor) -> None:
        if not isinstance(gt, torch.Tensor) or gt.ndim != 4 or gt.shape[1] != 3 or not gt.is_floating_point():
            raise ImageError(
                f"GT batch must be a float tensor of shape (B, 3, H, W), got "
                f"{getattr(gt, 'dtype', type(gt))} {tuple(getattr(gt, 'shape', ()))}"
            )
        h, w = gt.shape[-2:]
        if h % self.scale or w % self.scale or h < 4 * self.scale or w < 4 * self.scale:
            raise ImageError(
                f"GT size {h}x{w} must be a multiple of the scale {self.scale} and at least {4 * self.scale} px; "
                f"crop it (e.g. to 192 or 256) before degrading"
            )

    def _synthesise(self, src: torch.Tensor, rng: RandomSource, params: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        """The four degraded branches [x1, x2, x3, a_max] at (H/scale, W/scale), not yet quantised."""
        differ1 = rng.bernoulli(src.shape[0], self.config.noise_diff_prob)
        differ2 = torch.where(differ1, rng.bernoulli(src.shape[0], self.config.noise_diff_prob2),
                              torch.ones_like(differ1))  # at least one stage has stronger noise in x3
        branches = self._first_order(src, rng, params, differ1)
        branches = self._second_order(branches, tuple(src.shape[-2:]), rng, params, differ2)
        return self._final(branches, tuple(src.shape[-2:]), rng, params)

    def _first_order(
        self, src: torch.Tensor, rng: RandomSource, params: dict[str, torch.Tensor], differ: torch.Tensor
    ) -> list[torch.Tensor]:
        """Blur, resize, noise, JPEG; x3 branches off x1 after the resize."""
        cfg = self.config
        b = src.shape[0]
        h, w = src.shape[-2:]

        # blur: x1 small, x2 large, a_max max kernels
        small, large, most = sample_kernel_triplet(rng, b, _kernel_spec(cfg, 1))
        blurred = _blur(src.repeat(3, 1, 1, 1), KernelParams.cat([small, large, most])).split(b)
        _record_kernels(params, "kernel1", [small, large, small, most])

        # resize: direction and mode shared; x2 and a_max scaled further
        direction = rng.choice(cfg.resize_prob)
        mode = cfg.resize_modes[rng.choice((1.0,) * len(cfg.resize_modes))]
        low, high = cfg.resize_range
        s1, s2 = rng.scalar(), rng.scalar()
        if direction == 0:  # up: the larger factor is "more" (x2), the top is a_max
            a, c = sorted((1 + (high - 1) * s1, 1 + (high - 1) * s2))
            scales = (a, c, a, high)
        elif direction == 1:  # down: the smaller factor is "more"
            a, c = sorted((low + (1 - low) * s1, low + (1 - low) * s2))
            scales = (c, a, c, low)
        else:
            scales = (1.0, 1.0, 1.0, 1.0)
        params["scale1"] = torch.tensor(scales, dtype=torch.float64)
        x1, x2, xm = (resize(x, (int(h * s), int(w * s)), mode) for x, s in zip(blurred, scales[:2] + scales[3:]))
        branches = [x1, x2, x1, xm]

        branches = self._noise(branches, rng, params, stage=1, differ=differ)
        quality1 = sample_jpeg_triplet(rng, b, cfg.jpeg_range, cfg.jpeg_diff_range)
        params["jpeg1"] = _stack(quality1, "small", "small", "large", "max")
        return _per_shape(branches, jpeg_roundtrip, params["jpeg1"])

    def _second_order(
        self, branches: list[torch.Tensor], gt_size: tuple[int, int], rng: RandomSource,
        params: dict[str, torch.Tensor], differ: torch.Tensor,
    ) -> list[torch.Tensor]:
        """Blur (x2 and a_max stronger), a shared resize to around the LQ size, noise."""
        cfg = self.config
        b = branches[0].shape[0]
        h, w = gt_size
        small, large, most = sample_kernel_triplet(rng, b, _kernel_spec(cfg, 2))
        skip = torch.zeros(b, dtype=torch.bool, device=rng.device) if cfg.official_always_second_blur else (
            ~rng.bernoulli(b, cfg.second_blur_prob))
        small, large, most = (skip_kernels(k, skip) for k in (small, large, most))
        params["second_blur"] = ~skip
        per_branch = [small, large, small, most]
        _record_kernels(params, "kernel2", per_branch)
        branches = _per_shape(
            branches, lambda x, *fields: _blur(x, KernelParams(*fields)),
            *[[getattr(k, f.name) for k in per_branch] for f in dataclasses.fields(KernelParams)],
        )

        # resize: one size for every branch
        direction = rng.choice(cfg.resize_prob2)
        mode = cfg.resize_modes[rng.choice((1.0,) * len(cfg.resize_modes))]
        low, high = cfg.resize_range2
        u = rng.scalar()
        scale2 = 1 + (high - 1) * u if direction == 0 else (low + (1 - low) * u if direction == 1 else 1.0)
        params["scale2"] = torch.tensor(scale2, dtype=torch.float64)
        size2 = (int(h / self.scale * scale2), int(w / self.scale * scale2))
        branches = [resize(x, size2, mode) for x in branches]
        return self._noise(branches, rng, params, stage=2, differ=differ)

    def _final(
        self, branches: list[torch.Tensor], gt_size: tuple[int, int], rng: RandomSource,
        params: dict[str, torch.Tensor],
    ) -> list[torch.Tensor]:
        """[resize to the LQ size + sinc] and JPEG, in random order, on all branches at once."""
        cfg = self.config
        b = branches[0].shape[0]
        h, w = gt_size
        resize_first = rng.scalar() < 0.5
        mode = cfg.resize_modes[rng.choice((1.0,) * len(cfg.resize_modes))]
        sinc = sample_final_sinc(rng, b, cfg.final_sinc_prob, cfg.kernel_size_range)
        params["final_sinc_omega"] = torch.where(sinc.family == PULSE, torch.zeros_like(sinc.omega), sinc.omega)
        quality_range = cfg.jpeg_range if cfg.official_ignore_jpeg_range2 else cfg.jpeg_range2
        quality2 = sample_jpeg_triplet(rng, b, quality_range, cfg.jpeg_diff_range)
        params["jpeg2"] = _stack(quality2, "small", "small", "large", "max")
        params["resize_first"] = torch.tensor(resize_first)
        out_size = (h // self.scale, w // self.scale)
        sinc_kernels = build_kernels(sinc)

        def resize_and_sinc(x: torch.Tensor) -> torch.Tensor:
            x = resize(x, out_size, mode)
            copies = x.shape[0] // b
            return filter2d(x, sinc_kernels.repeat(copies, 1, 1), sinc.size.repeat(copies))

        merged = torch.cat(branches)  # all branches share the stage-2 size now
        quality = params["jpeg2"].reshape(-1)
        if resize_first:
            merged = jpeg_roundtrip(resize_and_sinc(merged), quality)
        else:
            merged = resize_and_sinc(jpeg_roundtrip(merged, quality))
        return list(merged.split(b))

    def _noise(
        self, branches: list[torch.Tensor], rng: RandomSource, params: dict[str, torch.Tensor], *, stage: int,
        differ: torch.Tensor,
    ) -> list[torch.Tensor]:
        """Add Gaussian or Poisson noise (kind and gray flag shared by the branches), then clip."""
        cfg = self.config
        suffix = "" if stage == 1 else "2"
        b = branches[0].shape[0]
        gaussian = rng.scalar() < getattr(cfg, "gaussian_noise_prob" + suffix)
        gray = rng.bernoulli(b, getattr(cfg, "gray_noise_prob" + suffix))
        if gaussian:
            strength = sample_noise_triplet(rng, b, getattr(cfg, "noise_range" + suffix),
                                            cfg.gaussian_noise_diff_range, differ)
        else:
            strength = sample_noise_triplet(rng, b, getattr(cfg, "poisson_scale_range" + suffix),
                                            cfg.poisson_scale_diff_range, differ)
        params[f"noise{stage}"] = _stack(strength, "small", "small", "large", "max")
        params[f"noise{stage}_gaussian"] = torch.tensor(gaussian)
        params[f"noise{stage}_gray"] = gray
        params[f"noise{stage}_differ"] = differ
        field = gaussian_noise if gaussian else poisson_noise

        def add(x: torch.Tensor, sigma: torch.Tensor, gray_: torch.Tensor) -> torch.Tensor:
            return (x + field(x, sigma, gray_, rng)).clamp(0, 1)

        return _per_shape(branches, add, params[f"noise{stage}"], [gray] * 4)


def _stack(triplet: Triplet, *names: str) -> torch.Tensor:
    return torch.stack([getattr(triplet, name) for name in names])


def _record_kernels(params: dict[str, torch.Tensor], prefix: str, per_branch: list[KernelParams]) -> None:
    for name in ("family", "size", "sigma_x", "sigma_y", "omega"):
        params[f"{prefix}_{name}"] = torch.stack([getattr(k, name) for k in per_branch])
