"""Severity groups: each slot differs from the background image in the factor it names, and the losses reward the
order the levels give (and only that)."""

from __future__ import annotations

import pytest
import torch

from mmrealsr_plugin.training.severity import (
    CLEAN, JPEG_FAMILY, NOISE_KINDS, SLOTS, SeverityConfig, SeverityLossConfig, noise_fields, sample_groups,
    severity_losses, total_loss,
)


def _bases(count: int, size: int = 48, seed: int = 0) -> torch.Tensor:
    """Smooth gradients with a few edges: clean images on which blur and noise are measurable."""
    g = torch.Generator().manual_seed(seed)
    y, x = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    images = []
    for _ in range(count):
        colour = torch.rand(3, 1, 1, generator=g) * 0.5 + 0.25
        image = colour * (0.6 + 0.4 * x)[None] + 0.2 * (y > float(torch.rand((), generator=g)) * 0.8 + 0.1)[None]
        images.append(image.clamp(0, 1))
    return torch.stack(images)


def _highpass_energy(images: torch.Tensor) -> torch.Tensor:
    return ((images[..., 1:, :] - images[..., :-1, :]).abs().mean(dim=(1, 2, 3))
            + (images[..., :, 1:] - images[..., :, :-1]).abs().mean(dim=(1, 2, 3)))


def test_groups_have_five_slots_with_the_documented_levels() -> None:
    batch = sample_groups(_bases(16), SeverityConfig(), torch.Generator().manual_seed(1))
    assert batch.images.shape == (16 * SLOTS, 3, 48, 48)
    assert 0 <= float(batch.images.min()) and float(batch.images.max()) <= 1
    assert torch.equal(batch.images, (batch.images * 255).round() / 255)  # 8-bit levels, as real inputs are
    levels = batch.levels.view(16, SLOTS, 2)
    a, b, c, z, m = levels.unbind(1)
    assert torch.equal(a[:, 1], b[:, 1]) and torch.all((a[:, 0] - b[:, 0]).abs() >= SeverityConfig().min_gap - 1e-6)
    assert torch.equal(a[:, 0], c[:, 0]) and torch.all((a[:, 1] - c[:, 1]).abs() >= SeverityConfig().min_gap - 1e-6)
    assert torch.all(z == 0) and torch.all(m == 1)
    assert torch.all(batch.family.view(16, SLOTS)[:, 3] == CLEAN)
    assert torch.equal(batch.group, torch.arange(16).repeat_interleave(SLOTS))


def test_the_clean_slot_is_the_base_and_the_severe_slot_is_far_from_it() -> None:
    bases = _bases(8)
    batch = sample_groups(bases, SeverityConfig(), torch.Generator().manual_seed(2))
    slots = batch.images.view(8, SLOTS, 3, 48, 48)
    assert torch.allclose(slots[:, 3], (bases * 255).round() / 255)
    assert torch.all((slots[:, 4] - slots[:, 3]).abs().mean(dim=(1, 2, 3)) > 0.02)


def test_more_blur_means_less_detail_at_a_fixed_noise_level() -> None:
    config = SeverityConfig(present=0.0)  # A clean: B is A with only blur, C with only noise or JPEG
    batch = sample_groups(_bases(32), config, torch.Generator().manual_seed(3))
    slots = batch.images.view(32, SLOTS, 3, 48, 48)
    levels = batch.levels.view(32, SLOTS, 2)
    energy_b, energy_a = _highpass_energy(slots[:, 1]), _highpass_energy(slots[:, 0])
    assert torch.all(energy_b <= energy_a + 1e-6)
    assert torch.all(levels[:, 1, 1] == 0)  # B carries no noise
    noisy = (levels[:, 2, 1] > 0.3) & (batch.family.view(32, SLOTS)[:, 2] != JPEG_FAMILY)
    assert noisy.any() and torch.all(_highpass_energy(slots[noisy, 2]) > energy_a[noisy])


@pytest.mark.parametrize("kind", range(len(NOISE_KINDS)))
def test_every_noise_kind_has_unit_deviation(kind: int) -> None:
    fields = noise_fields(4, (64, 64), torch.full((4,), kind), torch.Generator().manual_seed(kind))
    assert fields.shape == (4, 3, 64, 64)
    assert torch.allclose(fields.std(dim=(1, 2, 3)), torch.ones(4), atol=0.15), NOISE_KINDS[kind]


def test_losses_vanish_for_scores_that_follow_the_levels_and_grow_against_them() -> None:
    batch = sample_groups(_bases(8), SeverityConfig(), torch.Generator().manual_seed(4))
    config = SeverityLossConfig()
    ordered = (batch.levels * 2 - 1) * config.span * 1.5  # logits in level order, anchors beyond +-span
    reversed_ = -ordered
    good, bad = severity_losses(ordered, batch, config), severity_losses(reversed_, batch, config)
    assert float(good["rank_blur"]) == 0 and float(good["rank_noise"]) == 0 and float(good["anchor"]) == 0
    assert float(good["invariance"]) == 0
    assert float(total_loss(bad, config)) > 1.0
    assert all(float(bad[k]) > 0 for k in ("rank_blur", "rank_noise", "anchor"))


def test_invariance_punishes_the_score_a_pair_does_not_change() -> None:
    batch = sample_groups(_bases(8), SeverityConfig(), torch.Generator().manual_seed(5))
    config = SeverityLossConfig()
    ordered = (batch.levels * 2 - 1) * config.span * 1.5
    leaky = ordered.clone()
    leaky[:, 0] += batch.levels[:, 1] * 3  # noise drags the blur score along: cross-talk
    assert float(severity_losses(leaky, batch, config)["invariance"]) > 0.5
