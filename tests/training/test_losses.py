"""Losses, discriminator, VGG plumbing and EMA: small exact checks against hand-computed values."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.nn import functional as F

from mmrealsr_plugin.errors import ModelLoadError, TrainingConfigError
from mmrealsr_plugin.training.discriminator import UNetDiscriminatorSN
from mmrealsr_plugin.training.ema import EMA
from mmrealsr_plugin.training.losses import (
    PerceptualLoss,
    anchor_loss,
    estimator_losses,
    gan_loss,
    ranking_loss,
)
from mmrealsr_plugin.training.vgg import CONV_INDEX, VGG19Features, load_vgg19
from mmrealsr_plugin.weights import save_safetensors

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "discriminator_state_dict_keys.tsv"


def test_ranking_loss_is_a_hinge_with_margin() -> None:
    lower = torch.tensor([0.2, 0.5, 0.9])
    higher = torch.tensor([0.5, 0.52, 0.1])
    # max(0, l - h + 0.05): 0, 0.03, 0.85
    assert ranking_loss(lower, higher, 0.05).item() == pytest.approx((0 + 0.03 + 0.85) / 3, abs=1e-6)
    assert torch.equal(ranking_loss(lower, higher, 0.05), F.margin_ranking_loss(lower, higher, -torch.ones(3), margin=0.05))


def test_anchor_loss_pins_min_to_zero_and_max_to_one() -> None:
    a_min = torch.tensor([[0.1, 0.2], [0.3, 0.0]])
    a_max = torch.tensor([[1.0, 0.5], [0.8, 1.0]])
    expected = (0.01 + 0.09) / 2 + (0.04 + 0.0) / 2 + (0.0 + 0.04) / 2 + (0.25 + 0.0) / 2
    assert anchor_loss(a_min, a_max).item() == pytest.approx(expected, abs=1e-6)
    assert anchor_loss(torch.zeros(3, 2), torch.ones(3, 2)).item() == 0.0


def test_estimator_losses_compare_blur_x1_x2_and_noise_x1_x3() -> None:
    b = 2
    x1 = torch.tensor([[0.5, 0.5]] * b)
    x2 = torch.tensor([[0.9, 0.0]] * b)  # more blur; its noise score must not matter
    x3 = torch.tensor([[0.0, 0.52]] * b)  # more noise, only 0.02 above: hinge 0.03
    scores = torch.cat([x1, x2, x3, torch.zeros(b, 2), torch.ones(b, 2)])
    parts = estimator_losses(scores, b, 0.05)
    assert parts["rank_blur"].item() == 0.0
    assert parts["rank_noise"].item() == pytest.approx(0.03, abs=1e-6)
    assert parts["anchor"].item() == 0.0


def test_gan_loss_is_bce_on_logits() -> None:
    logits = torch.tensor([[2.0, -1.0]])
    assert gan_loss(logits, True).item() == pytest.approx(F.softplus(-logits).mean().item(), abs=1e-6)
    assert gan_loss(logits, False).item() == pytest.approx(F.softplus(logits).mean().item(), abs=1e-6)


# The official U-Net discriminator (num_feat 64), written out by this project: (conv, out, in, kernel, spectral norm).
# Spectral-normed convs store weight_orig, weight_u (out) and weight_v (in * k * k); the others weight and bias.
OFFICIAL_DISCRIMINATOR = [
    ("conv0", 64, 3, 3, False), ("conv1", 128, 64, 4, True), ("conv2", 256, 128, 4, True),
    ("conv3", 512, 256, 4, True), ("conv4", 256, 512, 3, True), ("conv5", 128, 256, 3, True),
    ("conv6", 64, 128, 3, True), ("conv7", 64, 64, 3, True), ("conv8", 64, 64, 3, True), ("conv9", 1, 64, 3, False),
]


def _official_discriminator_shapes() -> list[tuple[str, tuple[int, ...]]]:
    shapes: list[tuple[str, tuple[int, ...]]] = []
    for name, out, inp, k, spectral in OFFICIAL_DISCRIMINATOR:
        if spectral:
            shapes += [(f"{name}.weight_orig", (out, inp, k, k)), (f"{name}.weight_u", (out,)),
                       (f"{name}.weight_v", (inp * k * k,))]
        else:
            shapes += [(f"{name}.weight", (out, inp, k, k)), (f"{name}.bias", (out,))]
    return shapes


def test_discriminator_keys_and_shapes_match_the_official_layout() -> None:
    state = UNetDiscriminatorSN().state_dict()
    assert [(k, tuple(v.shape)) for k, v in state.items()] == _official_discriminator_shapes()
    assert sum(v.numel() for v in state.values()) == 4_394_753


@pytest.mark.skipif(not REFERENCE.is_file(), reason="the reference key list lies in ../shared, beside the checkout")
def test_the_written_out_layout_equals_the_reference_key_list() -> None:
    rows = [line.split("\t") for line in REFERENCE.read_text().splitlines() if line.strip()]
    reference = [(key, tuple(int(s) for s in shape.strip("()").split(",") if s.strip())) for key, shape in rows]
    assert reference == _official_discriminator_shapes()


def test_discriminator_gives_per_pixel_logits() -> None:
    net = UNetDiscriminatorSN(num_feat=8)
    assert net(torch.rand(2, 3, 32, 32)).shape == (2, 1, 32, 32)


def test_vgg_conv_indices_follow_torchvision() -> None:
    assert CONV_INDEX["conv1_2"] == 2 and CONV_INDEX["conv3_4"] == 16 and CONV_INDEX["conv5_4"] == 34


def _random_vgg_file(tmp_path: Path, layers: tuple[str, ...]) -> Path:
    net = VGG19Features(layers)
    state = {f"features.{k}": v for k, v in net.features.state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(2, 2)  # torchvision files carry a classifier; it is ignored
    return save_safetensors(state, tmp_path / "vgg.safetensors")


def test_perceptual_loss_loads_weights_and_is_zero_on_identical_images(tmp_path: Path) -> None:
    layers = {"conv1_2": 0.1, "conv2_2": 1.0}
    extractor = load_vgg19(tuple(layers), str(_random_vgg_file(tmp_path, tuple(layers))))
    loss = PerceptualLoss(extractor, layers)
    image = torch.rand(2, 3, 16, 16, requires_grad=True)
    assert loss(image, image.detach()).item() == 0.0
    value = loss(image, torch.rand(2, 3, 16, 16))
    value.backward()
    assert value.item() > 0 and image.grad is not None
    assert all(p.grad is None for p in extractor.parameters())


def test_perceptual_loss_without_weights_is_a_clear_error() -> None:
    with pytest.raises(TrainingConfigError, match="vgg_weights"):
        load_vgg19(("conv1_2",), "")


def test_perceptual_loss_rejects_non_vgg_weights(tmp_path: Path) -> None:
    path = save_safetensors({"features.0.weight": torch.zeros(3, 3, 3, 3)}, tmp_path / "bad.safetensors")
    with pytest.raises(ModelLoadError, match="features"):
        load_vgg19(("conv1_2",), str(path))


def test_ema_follows_the_model_with_the_decay() -> None:
    model = torch.nn.Linear(2, 1)
    ema = EMA(model, 0.9)
    start = model.weight.detach().clone()
    with torch.no_grad():
        model.weight.add_(1.0)
    ema.update(model)
    assert torch.allclose(ema.shadow.weight, start + 0.1)
    assert not ema.shadow.weight.requires_grad
