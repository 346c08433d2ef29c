"""Knob targets: the teacher's output at the estimate, and knobs that move it the way their names say."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mmrealsr_plugin.training.knob_targets import (
    KnobTargetConfig, gaussian_blur, guided_smooth, input_residual, knob_target, sample_knobs,
)

CONFIG = KnobTargetConfig()


def _energy(images: torch.Tensor) -> float:
    """Mean absolute Laplacian: the high-frequency energy the evaluation also measures."""
    kernel = torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]]).repeat(3, 1, 1, 1)
    return float(F.conv2d(images, kernel, groups=3).abs().mean())


def _pair(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A smooth 'teacher output' and a grainy input it was made from (the grain is what the teacher removed)."""
    g = torch.Generator().manual_seed(seed)
    y, x = torch.meshgrid(torch.linspace(0, 1, 128), torch.linspace(0, 1, 128), indexing="ij")
    teacher = torch.stack([0.3 + 0.4 * x, 0.5 + 0.2 * y, 0.4 + 0.3 * (x > 0.5)])[None].repeat(2, 1, 1, 1)
    lr = F.avg_pool2d(teacher, 4) + 0.06 * torch.randn(2, 3, 32, 32, generator=g)
    return teacher, lr.clamp(0, 1)


def test_the_automatic_setting_is_exactly_the_teacher() -> None:
    teacher, lr = _pair()
    estimate = torch.tensor([[0.3, 0.6], [0.0, 1.0]])
    residual = input_residual(lr, teacher, CONFIG)
    assert torch.equal(knob_target(teacher, residual, estimate, estimate, CONFIG), teacher)


def test_noise_below_the_estimate_gives_the_grain_back_and_above_it_smooths() -> None:
    teacher, lr = _pair()
    teacher = teacher + 0.004 * torch.randn(teacher.shape, generator=torch.Generator().manual_seed(1))  # fine texture
    residual = input_residual(lr, teacher, CONFIG)
    estimate = torch.tensor([[0.3, 0.5]]).repeat(2, 1)
    energies = [_energy(knob_target(teacher, residual, estimate, torch.tensor([[0.3, n]]).repeat(2, 1), CONFIG))
                for n in (0.0, 0.25, 0.5, 0.75, 1.0)]
    assert energies == sorted(energies, reverse=True), energies
    assert energies[0] > 1.3 * energies[2] and energies[-1] < energies[2]


def test_grain_detail_amplifies_the_teachers_fine_texture_towards_noise_zero_only() -> None:
    teacher, lr = _pair()
    teacher = teacher + 0.004 * torch.randn(teacher.shape, generator=torch.Generator().manual_seed(2))
    residual = input_residual(lr, teacher, CONFIG)
    estimate = torch.tensor([[0.3, 0.5]]).repeat(2, 1)
    detailed = KnobTargetConfig(grain_detail=1.0)

    def energy(config: KnobTargetConfig, noise: float) -> float:
        return _energy(knob_target(teacher, residual, estimate, torch.tensor([[0.3, noise]]).repeat(2, 1), config))

    assert energy(detailed, 0.0) > 1.2 * energy(CONFIG, 0.0)
    assert energy(detailed, 0.25) > energy(CONFIG, 0.25)
    for noise in (0.5, 0.75, 1.0):  # at and above the estimate nothing changes (the automatic setting stays the teacher)
        assert energy(detailed, noise) == energy(CONFIG, noise)


def test_blur_below_the_estimate_blurs_and_above_it_sharpens() -> None:
    teacher, lr = _pair()
    residual = input_residual(lr, teacher, CONFIG)
    estimate = torch.tensor([[0.5, 0.3]]).repeat(2, 1)
    energies = [_energy(knob_target(teacher, residual, estimate, torch.tensor([[b, 0.3]]).repeat(2, 1), CONFIG))
                for b in (0.0, 0.25, 0.5, 0.75, 1.0)]
    assert energies == sorted(energies), energies
    assert energies[-1] > 1.2 * energies[0]


def test_filters_leave_flat_images_flat_and_blur_zero_is_the_identity() -> None:
    flat = torch.full((2, 3, 16, 16), 0.4)
    assert torch.allclose(gaussian_blur(flat, torch.tensor([0.0, 2.0])), flat)
    assert torch.allclose(guided_smooth(flat, 3, 2e-3), flat, atol=1e-6)
    image = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    assert torch.equal(gaussian_blur(image, torch.zeros(1)), image)


def test_knobs_are_drawn_at_the_estimate_at_the_ends_and_between_in_the_configured_shares() -> None:
    estimate = torch.full((20000, 2), 0.37)
    knobs = sample_knobs(estimate, KnobTargetConfig(auto=0.3, endpoints=0.5), torch.Generator().manual_seed(3))
    at_estimate = (knobs == 0.37).float().mean()
    at_ends = ((knobs == 0) | (knobs == 1)).float().mean()
    assert abs(float(at_estimate) - 0.3) < 0.02
    assert abs(float(at_ends) - 0.7 * 0.5) < 0.02
    assert float(knobs.min()) >= 0 and float(knobs.max()) <= 1
