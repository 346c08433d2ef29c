"""Single-factor contrast pairs: each pair differs in one degradation only, in the stated direction."""

from __future__ import annotations

import torch

from mmrealsr_plugin.training.contrast import gaussian_blur, single_factor_pairs


def _textured(n: int = 6, size: int = 48) -> torch.Tensor:
    generator = torch.Generator().manual_seed(3)
    coarse = torch.rand(n, 3, size // 4, size // 4, generator=generator)
    return torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)


def _high_frequency(images: torch.Tensor) -> torch.Tensor:
    """Mean |horizontal + vertical difference| per image."""
    dx = (images[..., 1:] - images[..., :-1]).abs().mean(dim=(1, 2, 3))
    dy = (images[..., 1:, :] - images[..., :-1, :]).abs().mean(dim=(1, 2, 3))
    return dx + dy


def test_each_pair_is_ordered_by_its_own_factor() -> None:
    base = _textured()
    pairs = {p.name: p for p in single_factor_pairs(base, torch.Generator().manual_seed(0))}
    assert set(pairs) == {"blur", "noise", "jpeg"}
    assert pairs["blur"].score == 0 and pairs["noise"].score == 1 and pairs["jpeg"].score == 1
    for pair in pairs.values():
        assert pair.mild.shape == pair.severe.shape == base.shape
        assert torch.equal(pair.mild, (pair.mild * 255).round() / 255)  # 8-bit, like a saved image
    # more blur removes detail; more noise adds it (same noise field, larger sigma)
    assert (_high_frequency(pairs["blur"].severe) < _high_frequency(pairs["blur"].mild)).all()
    assert (_high_frequency(pairs["noise"].severe) > _high_frequency(pairs["noise"].mild)).all()
    # lower JPEG quality strays further from the original
    err = lambda x: (x - base).abs().mean(dim=(1, 2, 3))  # noqa: E731
    assert (err(pairs["jpeg"].severe) > err(pairs["jpeg"].mild)).all()


def test_the_same_generator_state_gives_the_same_pairs() -> None:
    base = _textured(n=2)
    first = single_factor_pairs(base, torch.Generator().manual_seed(5))
    again = single_factor_pairs(base, torch.Generator().manual_seed(5))
    assert all(torch.equal(a.severe, b.severe) and torch.equal(a.mild, b.mild) for a, b in zip(first, again))


def test_gaussian_blur_keeps_the_mean_and_a_tiny_sigma_is_nearly_identity() -> None:
    base = _textured(n=2)
    blurred = gaussian_blur(base, torch.tensor([0.1, 3.0]))
    assert torch.allclose(blurred.mean(dim=(2, 3)), base.mean(dim=(2, 3)), atol=2e-3)
    assert (blurred[0] - base[0]).abs().max() < 1e-4
