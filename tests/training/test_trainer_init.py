"""Where a run starts: from scratch (official init), from a generator file, or from Real-ESRGAN ncnn weights."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

from mmrealsr_plugin.convert import RRDBNet
from mmrealsr_plugin.errors import ModelLoadError
from mmrealsr_plugin.testing import TINY_CONFIG, save_random_model
from mmrealsr_plugin.training.config import load_config
from mmrealsr_plugin.training.models import build_generator

TINY = [
    "model.num_feat=8", "model.num_block=2", "model.num_grow_ch=4", "model.embed_dim=16",
    "model.estimator_feats=[8, 16]", "model.estimator_blocks=[1, 1]", "model.estimator_downscales=[2, 1]",
    "model.estimator_hidden=16",
]


def _ncnn_writer():
    path = Path(__file__).parent.parent / "convert" / "conftest.py"
    spec = importlib.util.spec_from_file_location("mmrealsr_training_tests_ncnn_writer", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.write_ncnn_rrdb


def test_finetune_config_starts_as_the_realesrgan_trunk_at_any_knob(tmp_path: Path) -> None:
    torch.manual_seed(0)
    rrdb = RRDBNet(TINY_CONFIG).eval()
    param, weights = _ncnn_writer()(rrdb, tmp_path, fp16=False)
    config = load_config("finetune_from_realesrgan", TINY + [
        f'init.realesrgan_ncnn_param="{param}"', f'init.realesrgan_ncnn_bin="{weights}"'])
    model = build_generator(config).eval()
    assert all(m.fc[-1].weight.abs().sum() == 0 for m in model.am_list)
    x = torch.rand(1, 3, 12, 12)
    with torch.no_grad():
        reference = rrdb(x)
        for scores in ([0.0, 0.0], [1.0, 0.3]):
            assert torch.allclose(model(x, torch.tensor([scores])), reference, atol=1e-5)


def test_init_generator_must_match_the_model_table(tmp_path: Path) -> None:
    path = save_random_model(tmp_path / "g.safetensors")
    loaded = build_generator(load_config("smoke", [f'init.generator="{path}"']))
    assert loaded.config == TINY_CONFIG
    with pytest.raises(ModelLoadError, match="make \\[model\\] match"):
        build_generator(load_config("smoke", [f'init.generator="{path}"', "model.num_block=3"]))


def test_scratch_init_is_kaiming_times_a_tenth_with_zero_bias() -> None:
    model = build_generator(load_config("smoke"))
    conv = model.body[0].rdb2.conv5  # fan_in 8 + 4*4 = 24 channels x 9
    expected = 0.1 * (2 / (24 * 9)) ** 0.5
    assert 0.5 * expected < conv.weight.std().item() < 1.5 * expected
    assert torch.count_nonzero(conv.bias) == 0
    assert all(torch.count_nonzero(m.fc[0].bias) == 0 for m in model.am_list)
