"""Properties of the MM-RealSR training degradation: kernels, filters, noise, JPEG, branches, anchors, seeding."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from mmrealsr_plugin.errors import ImageError, TrainingConfigError
from mmrealsr_plugin.training.degradations import (
    BRANCH_NAMES,
    DegradationConfig,
    DegradationPipeline,
    DegradedBatch,
)
from mmrealsr_plugin.training.degradations.filters import filter2d, quantize_8bit, usm_sharpen
from mmrealsr_plugin.training.degradations.jpeg import jpeg_roundtrip
from mmrealsr_plugin.training.degradations.kernels import (
    GENERALIZED,
    PLATEAU,
    PULSE,
    SINC,
    KernelParams,
    build_kernels,
)
from mmrealsr_plugin.training.degradations.noise import gaussian_noise, poisson_noise
from mmrealsr_plugin.training.degradations.rng import RandomSource
from mmrealsr_plugin.training.degradations.sampling import KernelSpec, sample_kernel_triplet

X1, X2, X3, A_MIN, A_MAX = range(5)
P_X1, P_X2, P_X3, P_MAX = range(4)  # axis 0 of per-branch params


@pytest.fixture(autouse=True)
def _one_thread():
    """Many small ops: one thread avoids OpenMP barrier stalls when the CI machine is oversubscribed."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _textured(batch: int = 8, size: int = 96, seed: int = 0) -> torch.Tensor:
    """Smooth random colour field: natural-ish content with edges of every scale."""
    coarse = torch.rand(batch, 3, 12, 12, generator=torch.Generator().manual_seed(seed))
    return F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)


def _flat(batch: int = 8, size: int = 96) -> torch.Tensor:
    """A gentle ramp: any high-frequency content in a degraded version is noise or artefacts."""
    return (torch.full((batch, 3, size, size), 0.45) + torch.linspace(0, 0.2, size)[None, None, None, :]).contiguous()


def _gradient_energy(x: torch.Tensor) -> torch.Tensor:
    dy = (x[..., 1:, :] - x[..., :-1, :]) ** 2
    dx = (x[..., :, 1:] - x[..., :, :-1]) ** 2
    return dy.mean(dim=(1, 2, 3)) + dx.mean(dim=(1, 2, 3))


def _residual_noise(x: torch.Tensor) -> torch.Tensor:
    smooth = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    return ((x - smooth) ** 2).mean(dim=(1, 2, 3))


def _run(gt: torch.Tensor, seed: int, config: DegradationConfig | None = None, **kwargs) -> DegradedBatch:
    pipeline = DegradationPipeline(config or DegradationConfig(), scale=4)
    return pipeline(gt, torch.Generator().manual_seed(seed), **kwargs)


# ---------------------------------------------------------------- kernels


def _params(family: int, n: int = 16, seed: int = 0) -> KernelParams:
    g = torch.Generator().manual_seed(seed)
    u = lambda lo, hi: lo + (hi - lo) * torch.rand(n, generator=g)  # noqa: E731
    return KernelParams(
        family=torch.full((n,), family),
        size=7 + 2 * torch.randint(0, 8, (n,), generator=g),
        sigma_x=u(0.2, 3.0), sigma_y=u(0.2, 3.0), theta=u(-math.pi, math.pi),
        beta=u(0.5, 4.0), omega=u(math.pi / 5, math.pi),
    )


@pytest.mark.parametrize("family", [GENERALIZED, PLATEAU, SINC, PULSE])
def test_kernels_sum_to_one_are_point_symmetric_and_zero_outside_their_size(family):
    params = _params(family)
    kernels = build_kernels(params)
    assert kernels.shape == (16, 21, 21)
    torch.testing.assert_close(kernels.sum(dim=(1, 2)), torch.ones(16), atol=1e-5, rtol=0)
    torch.testing.assert_close(kernels, kernels.flip(-1, -2), atol=1e-6, rtol=0)
    axis = torch.arange(-10, 11)
    outside = (axis.abs()[None, :, None] > params.size[:, None, None] // 2) | (
        axis.abs()[None, None, :] > params.size[:, None, None] // 2)
    assert kernels[outside].abs().max() == 0
    if family != SINC:
        assert kernels.min() >= 0


def test_gaussian_kernel_matches_the_closed_form():
    params = KernelParams(family=torch.tensor([GENERALIZED]), size=torch.tensor([21]), sigma_x=torch.tensor([2.0]),
                          sigma_y=torch.tensor([1.0]), theta=torch.tensor([0.0]), beta=torch.tensor([1.0]),
                          omega=torch.tensor([1.0]))
    axis = torch.arange(-10, 11, dtype=torch.float32)
    expected = torch.exp(-0.5 * ((axis[None, :] / 2.0) ** 2 + (axis[:, None] / 1.0) ** 2))
    torch.testing.assert_close(build_kernels(params)[0], expected / expected.sum(), atol=1e-6, rtol=0)


def test_sampled_triplets_grow_in_sigma_and_share_type_size_rotation():
    rng = RandomSource(torch.Generator().manual_seed(3), torch.device("cpu"))
    spec = KernelSpec((7, 21), (0.45, 0.25, 0.12, 0.03, 0.12, 0.03), 0.0, (0.2, 3.0), (0.5, 4.0), (1.0, 2.0), 0.1)
    small, large, most = sample_kernel_triplet(rng, 400, spec)
    for field in ("family", "size", "theta", "beta"):
        assert torch.equal(getattr(small, field), getattr(large, field))
        assert torch.equal(getattr(small, field), getattr(most, field))
    grow = (large.sigma_x - small.sigma_x) + (large.sigma_y - small.sigma_y)
    assert (large.sigma_x >= small.sigma_x).all() and (large.sigma_y >= small.sigma_y).all()
    assert (grow >= 0.1 - 1e-5).all()
    assert (large.sigma_x <= 3.0 + 1e-5).all() and (small.sigma_x >= 0.2 - 1e-5).all()
    assert (most.sigma_x == 3.0).all() and (most.sigma_y == 3.0).all()
    assert set(small.size.tolist()) == set(range(7, 22, 2))


def test_kernel_type_frequencies_follow_the_configured_probabilities():
    rng = RandomSource(torch.Generator().manual_seed(12), torch.device("cpu"))
    spec = KernelSpec((7, 21), (0.45, 0.25, 0.12, 0.03, 0.12, 0.03), 0.1, (0.2, 3.0), (0.5, 4.0), (1.0, 2.0), 0.1)
    small, _, _ = sample_kernel_triplet(rng, 20000, spec)
    sinc = (small.family == SINC).float().mean().item()
    assert abs(sinc - 0.1) < 0.01
    rest = small.family != SINC
    plateau = ((small.family == PLATEAU) & rest).float().sum().item() / rest.sum().item()
    assert abs(plateau - 0.15) < 0.015  # plateau_iso 0.12 + plateau_aniso 0.03
    rotated = ((small.theta != 0) & rest).float().sum().item() / rest.sum().item()
    assert abs(rotated - 0.31) < 0.015  # aniso 0.25 + generalized_aniso 0.03 + plateau_aniso 0.03
    beta = small.beta[rest & (small.family == PLATEAU)]
    assert abs((beta == 1.0).float().mean().item() - 0.5) < 0.05 and beta.max() <= 2.0


def test_sinc_triplet_gives_the_lower_cutoff_to_the_blurrier_kernel():
    rng = RandomSource(torch.Generator().manual_seed(4), torch.device("cpu"))
    spec = KernelSpec((7, 21), (1.0, 0, 0, 0, 0, 0), 1.0, (0.2, 3.0), (0.5, 4.0), (1.0, 2.0), 0.1)
    small, large, most = sample_kernel_triplet(rng, 200, spec)
    assert (small.family == SINC).all()
    assert (large.omega <= small.omega).all()
    floor = torch.where(small.size < 13, math.pi / 3, math.pi / 5)
    torch.testing.assert_close(most.omega, floor.float())
    assert (large.omega >= most.omega - 1e-6).all()


# ---------------------------------------------------------------- filters


def test_filter2d_applies_each_samples_own_kernel_with_reflect_padding():
    g = torch.Generator().manual_seed(5)
    images = torch.rand(5, 3, 30, 26, generator=g)
    params = _params(GENERALIZED, n=5, seed=6)
    kernels = build_kernels(params)
    out = filter2d(images, kernels, params.size)
    for i in range(5):
        k = int(params.size[i])
        cut = (21 - k) // 2
        kernel = kernels[i, cut: 21 - cut, cut: 21 - cut]
        padded = F.pad(images[i: i + 1], (k // 2,) * 4, mode="reflect")
        reference = F.conv2d(padded, kernel.flip(0, 1).expand(3, 1, k, k), groups=3)
        torch.testing.assert_close(out[i: i + 1], reference, atol=1e-5, rtol=0)
    torch.testing.assert_close(filter2d(images, kernels), out, atol=1e-5, rtol=0)


def test_filter2d_survives_images_smaller_than_the_kernel():
    images = torch.rand(2, 3, 5, 6)
    kernels = build_kernels(_params(GENERALIZED, n=2).replace(size=torch.tensor([21, 21])))
    out = filter2d(images, kernels)
    assert out.shape == images.shape and torch.isfinite(out).all()


def test_usm_keeps_flat_areas_and_overshoots_edges():
    step = torch.zeros(1, 3, 64, 64)
    step[..., 32:] = 0.6
    step += 0.2
    out = usm_sharpen(step, kernel_size=51, sigma=8.0, weight=0.5, threshold=10.0)
    torch.testing.assert_close(out[..., :, :4], step[..., :, :4], atol=1e-6, rtol=0)
    assert out[..., 33].min() > 0.8 + 0.01  # bright side of the edge overshoots
    assert out[..., 30].max() < 0.2 - 0.01  # dark side undershoots
    flat = torch.full((1, 3, 64, 64), 0.3)
    torch.testing.assert_close(usm_sharpen(flat, kernel_size=51, sigma=8.0, weight=0.5, threshold=10.0), flat)


# ---------------------------------------------------------------- noise and JPEG


def test_gaussian_noise_has_the_requested_sigma_and_gray_noise_is_shared_by_channels():
    rng = RandomSource(torch.Generator().manual_seed(7), torch.device("cpu"))
    images = torch.full((2, 3, 128, 128), 0.5)
    noise = gaussian_noise(images, torch.tensor([10.0, 25.0]), torch.tensor([False, True]), rng)
    assert abs(noise[0].std().item() * 255 - 10.0) < 0.3
    assert abs(noise[1].std().item() * 255 - 25.0) < 0.6
    assert torch.equal(noise[1, 0], noise[1, 2])
    assert not torch.equal(noise[0, 0], noise[0, 2])


def test_poisson_noise_variance_follows_the_signal():
    rng = RandomSource(torch.Generator().manual_seed(8), torch.device("cpu"))
    levels = torch.arange(256, dtype=torch.float32) / 255  # 256 distinct levels -> L = 256
    images = levels.repeat(3, 256, 1)[None].repeat(1, 1, 1, 1)
    images = torch.cat([images, images])
    noise = poisson_noise(images, torch.tensor([1.0, 1.0]), torch.tensor([False, False]), rng)
    dark, bright = noise[..., 5:20].var().item(), noise[..., 200:240].var().item()
    # Var(Poisson(x L) / L) = x / L
    assert abs(bright / (levels[200:240].mean().item() / 256) - 1) < 0.1
    assert abs(dark / (levels[5:20].mean().item() / 256) - 1) < 0.15
    assert abs(noise.mean().item()) < 2e-3


def test_jpeg_error_grows_as_quality_drops_and_tracks_a_real_codec():
    image = _textured(batch=1, size=64, seed=9)
    image = image + 0.05 * torch.rand(image.shape, generator=torch.Generator().manual_seed(10))
    image = quantize_8bit(image.clamp(0, 1))
    qualities = [10.0, 30.0, 50.0, 70.0, 90.0]
    errors = [((jpeg_roundtrip(image, torch.tensor([q])) - image) ** 2).mean().item() for q in qualities]
    assert all(a > b for a, b in zip(errors, errors[1:])), errors
    # continuous quality: 47.5 sits between 45 and 50
    e45, e475, e50 = (((jpeg_roundtrip(image, torch.tensor([q])) - image) ** 2).mean().item() for q in (45, 47.5, 50))
    assert e45 >= e475 >= e50
    pixels = (image[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=50, subsampling=2)  # 4:2:0 like ours
    codec = torch.from_numpy(np.array(Image.open(buffer))).permute(2, 0, 1)[None].float() / 255
    ours = jpeg_roundtrip(image, torch.tensor([50.0]))
    assert 10 * math.log10(1 / ((ours - codec) ** 2).mean().item()) > 38  # same codec up to integer DCT details


def test_jpeg_handles_sizes_that_are_not_multiples_of_16_and_per_sample_quality():
    images = torch.rand(2, 3, 21, 35, generator=torch.Generator().manual_seed(11))
    out = jpeg_roundtrip(images, torch.tensor([20.0, 95.0]))
    assert out.shape == images.shape
    err = ((out - images) ** 2).mean(dim=(1, 2, 3))
    assert err[0] > err[1]


# ---------------------------------------------------------------- the pipeline


def test_output_shapes_ranges_and_8bit_levels():
    gt = _textured(batch=3, size=64)
    out = _run(gt, seed=0)
    assert BRANCH_NAMES == ("x1", "x2", "x3", "a_min", "a_max")
    assert out.lq.shape == (5, 3, 3, 16, 16)
    assert out.gt.shape == gt.shape and out.gt_plain.shape == gt.shape
    assert out.lq.min() >= 0 and out.lq.max() <= 1
    torch.testing.assert_close(out.lq * 255, (out.lq * 255).round(), atol=1e-4, rtol=0)
    assert torch.equal(out.gt_plain, gt)


def test_same_seed_is_bit_identical_and_another_seed_differs():
    gt = _textured(batch=2, size=64)
    first, again, other = _run(gt, seed=42), _run(gt, seed=42), _run(gt, seed=43)
    assert torch.equal(first.lq, again.lq) and torch.equal(first.gt, again.gt)
    for key in first.params:
        assert torch.equal(first.params[key], again.params[key]), key
    assert not torch.equal(first.lq[X1], other.lq[X1])


def test_x2_is_blurrier_than_x1():
    gt = _textured()
    for seed in (0, 1):
        out = _run(gt, seed=seed, sharpen_gt=False)
        x1, x2 = _gradient_energy(out.lq[X1]), _gradient_energy(out.lq[X2])
        assert x2.mean() < 0.85 * x1.mean(), (seed, x1.mean(), x2.mean())
        assert (x2 < x1).float().mean() >= 0.75


def test_x3_is_noisier_than_x1():
    """A statistical property over a batch: per sample, lower JPEG quality can also smooth some noise away."""
    gt = _flat(batch=12)
    for seed in (0, 1):
        out = _run(gt, seed=seed, sharpen_gt=False)
        x1, x3 = _residual_noise(out.lq[X1]), _residual_noise(out.lq[X3])
        assert x3.mean() > 1.2 * x1.mean(), (seed, x1.mean(), x3.mean())
        assert (x3 > x1).float().mean() >= 0.6
        errors = ((out.lq - out.lq[A_MIN]) ** 2).mean(dim=(1, 2, 3, 4))
        assert errors[X3] > 1.2 * errors[X1]
        noise1, noise2 = out.params["noise1"], out.params["noise2"]
        # at least one stage is "different" for every sample, and there x3 is strictly stronger
        assert ((noise1[P_X3] > noise1[P_X1]) | (noise2[P_X3] > noise2[P_X1])).all()
        assert (out.params["jpeg1"][P_X3] < out.params["jpeg1"][P_X1]).all()
        assert (out.params["jpeg2"][P_X3] < out.params["jpeg2"][P_X1]).all()


def test_x3_shares_x1_stage1_blur_and_scale_and_x2_shares_x1_noise_level():
    out = _run(_textured(batch=4, size=64), seed=5)
    p = out.params
    assert torch.equal(p["kernel1_sigma_x"][P_X3], p["kernel1_sigma_x"][P_X1])
    assert torch.equal(p["kernel2_sigma_x"][P_X3], p["kernel2_sigma_x"][P_X1])
    assert p["scale1"][P_X3] == p["scale1"][P_X1]
    assert torch.equal(p["noise1"][P_X2], p["noise1"][P_X1]) and torch.equal(p["noise2"][P_X2], p["noise2"][P_X1])
    assert torch.equal(p["jpeg1"][P_X2], p["jpeg1"][P_X1])


def test_a_min_is_the_quantised_bilinear_downsample_of_the_gt():
    gt = _textured(batch=2, size=64)
    expected = quantize_8bit(F.interpolate(gt, size=(16, 16), mode="bilinear", align_corners=False))
    assert torch.equal(_run(gt, seed=1, sharpen_gt=False).lq[A_MIN], expected)

    pipeline = DegradationPipeline(DegradationConfig(), scale=4)
    sharpened = pipeline.sharpen(gt)
    out = _run(gt, seed=1, sharpen_gt=True)
    torch.testing.assert_close(out.gt, sharpened)
    expected = quantize_8bit(F.interpolate(sharpened, size=(16, 16), mode="bilinear", align_corners=False))
    assert torch.equal(out.lq[A_MIN], expected)

    official = DegradationConfig(official_double_usm_min_anchor=True)
    twice = quantize_8bit(F.interpolate(pipeline.sharpen(sharpened), size=(16, 16), mode="bilinear",
                                        align_corners=False))
    assert torch.equal(_run(gt, seed=1, config=official, sharpen_gt=True).lq[A_MIN], twice)

    stage2 = _run(gt, seed=1, sharpen_gt=True, degrade_sharpened=False)
    torch.testing.assert_close(stage2.gt, sharpened)
    plain = quantize_8bit(F.interpolate(gt, size=(16, 16), mode="bilinear", align_corners=False))
    assert torch.equal(stage2.lq[A_MIN], plain)


def test_a_max_uses_the_top_of_every_range_and_is_the_most_degraded():
    gt = _textured(batch=6, size=64)
    cfg = DegradationConfig()
    out = _run(gt, seed=2, sharpen_gt=False)
    p = out.params
    sinc1 = p["kernel1_family"][P_MAX] == SINC
    assert (p["kernel1_sigma_x"][P_MAX][~sinc1] == cfg.blur_sigma[1]).all()
    blurred2 = p["kernel2_family"][P_MAX] != PULSE
    assert (p["kernel2_sigma_x"][P_MAX][blurred2 & (p["kernel2_family"][P_MAX] != SINC)] == cfg.blur_sigma2[1]).all()
    top1 = cfg.noise_range[1] if p["noise1_gaussian"] else cfg.poisson_scale_range[1]
    top2 = cfg.noise_range2[1] if p["noise2_gaussian"] else cfg.poisson_scale_range2[1]
    assert (p["noise1"][P_MAX] == top1).all() and (p["noise2"][P_MAX] == top2).all()
    assert (p["jpeg1"][P_MAX] == cfg.jpeg_range[0]).all() and (p["jpeg2"][P_MAX] == cfg.jpeg_range2[0]).all()
    assert float(p["scale1"][P_MAX]) in (cfg.resize_range[0], 1.0, cfg.resize_range[1])
    error = lambda i: ((out.lq[i] - out.lq[A_MIN]) ** 2).mean().item()  # noqa: E731
    assert error(A_MAX) > max(error(X1), error(X2), error(X3))


def test_second_blur_probability_is_honoured_unless_the_official_switch_is_on():
    gt = _textured(batch=16, size=64)
    faithful = _run(gt, seed=3, sharpen_gt=False).params["second_blur"]
    assert 0 < faithful.sum() < 16
    official = _run(gt, seed=3, config=DegradationConfig(official_always_second_blur=True), sharpen_gt=False)
    assert official.params["second_blur"].all()


def test_final_jpeg_reads_jpeg_range2_unless_the_official_switch_is_on():
    gt = _textured(batch=4, size=64)
    faithful = DegradationConfig(jpeg_range2=(40.0, 100.0))
    assert (_run(gt, seed=4, config=faithful).params["jpeg2"][P_MAX] == 40.0).all()
    official = DegradationConfig(jpeg_range2=(40.0, 100.0), official_ignore_jpeg_range2=True)
    assert (_run(gt, seed=4, config=official).params["jpeg2"][P_MAX] == 30.0).all()


def test_bad_input_is_refused_with_the_shape_in_the_message():
    with pytest.raises(ImageError, match="multiple of the scale"):
        _run(torch.rand(1, 3, 66, 64), seed=0)
    with pytest.raises(ImageError, match=r"\(B, 3, H, W\)"):
        _run(torch.rand(3, 64, 64), seed=0)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_runs_on_the_gpu_with_a_cuda_generator_and_is_reproducible():
    gt = _textured(batch=4, size=96).cuda()
    pipeline = DegradationPipeline(DegradationConfig(), scale=4)
    first = pipeline(gt, torch.Generator(device="cuda").manual_seed(0))
    again = pipeline(gt, torch.Generator(device="cuda").manual_seed(0))
    assert first.lq.device.type == "cuda" and first.lq.shape == (5, 4, 3, 24, 24)
    torch.testing.assert_close(first.lq, again.lq, atol=1 / 255, rtol=0)
    cpu_driven = pipeline(gt, torch.Generator().manual_seed(0))
    assert cpu_driven.lq.device.type == "cuda"


# ---------------------------------------------------------------- config as data


def test_config_defaults_are_the_official_numbers_and_round_trip():
    cfg = DegradationConfig()
    assert cfg.blur_sigma == (0.2, 3.0) and cfg.blur_sigma2 == (0.2, 1.5)
    assert cfg.noise_range == (1.0, 30.0) and cfg.noise_range2 == (1.0, 25.0)
    assert cfg.jpeg_range == (30.0, 95.0) and cfg.jpeg_diff_range == (5.0, 60.0)
    assert cfg.second_blur_prob == 0.8 and cfg.final_sinc_prob == 0.8
    assert not (cfg.official_always_second_blur or cfg.official_ignore_jpeg_range2
                or cfg.official_double_usm_min_anchor)
    assert DegradationConfig.from_dict(cfg.to_dict()) == cfg


def test_config_rejects_unknown_keys_wrong_types_and_bad_values_naming_the_key():
    with pytest.raises(TrainingConfigError, match="blur_sigmaa"):
        DegradationConfig.from_dict({"blur_sigmaa": [0.2, 3]})
    with pytest.raises(TrainingConfigError, match="'noise_range'.*wrong type"):
        DegradationConfig.from_dict({"noise_range": "1-30"})
    with pytest.raises(TrainingConfigError, match="'official_always_second_blur'"):
        DegradationConfig.from_dict({"official_always_second_blur": 1})
    with pytest.raises(TrainingConfigError, match="'kernel_prob'"):
        DegradationConfig.from_dict({"kernel_prob": [0.5, 0.5]})
    with pytest.raises(TrainingConfigError, match="'sinc_prob'"):
        DegradationConfig.from_dict({"sinc_prob": 1.5})
    assert DegradationConfig.from_dict({"noise_range": [2, 28]}).noise_range == (2.0, 28.0)


def test_official_toml_switches_on_every_deviation(tmp_path):
    from pathlib import Path

    import mmrealsr_plugin.training as training

    configs = Path(training.__file__).parent / "configs" / "degradation"
    official = DegradationConfig.from_toml(configs / "official.toml")
    assert official.official_always_second_blur and official.official_ignore_jpeg_range2
    assert official.official_double_usm_min_anchor
    faithful = DegradationConfig.from_toml(configs / "faithful.toml")
    assert faithful == DegradationConfig()
    broken = tmp_path / "bad.toml"
    broken.write_text("[degradation]\nsinc_prob = 'often'\n")
    with pytest.raises(TrainingConfigError, match="sinc_prob"):
        DegradationConfig.from_toml(broken)
