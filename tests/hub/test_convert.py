"""``mmrealsr convert``: every official container style, Real-ESRGAN RRDBNet (.pth and ncnn) -> Hub layout."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from mmrealsr_plugin.archs.mmrealsr import MMRealSRConfig
from mmrealsr_plugin.cli import EXIT_USAGE, main
from mmrealsr_plugin.convert import RRDBNet
from mmrealsr_plugin.convert import read_config_json
from mmrealsr_plugin.testing import TINY_CONFIG, random_model
from mmrealsr_plugin.weights import CONFIG_METADATA_KEY, read_state_dict

SMALL_RRDB = MMRealSRConfig(num_feat=8, num_block=2, num_grow_ch=4)


def _state(seed: int) -> dict[str, torch.Tensor]:
    return random_model(seed=seed).state_dict()


CONTAINERS = {
    "params_ema preferred": lambda: {"params": _state(1), "params_ema": _state(0)},
    "params": lambda: {"params": _state(0)},
    "bare": lambda: _state(0),
    "module. prefix": lambda: {"params_ema": {f"module.{k}": v for k, v in _state(0).items()}},
}


@pytest.mark.parametrize("style", sorted(CONTAINERS))
def test_official_containers(style: str, tmp_path: Path) -> None:
    source = tmp_path / "official.pth"
    torch.save(CONTAINERS[style](), source)
    assert main(["convert", str(source), str(tmp_path / "out")]) == 0
    converted = read_state_dict(tmp_path / "out" / "model.safetensors")
    expected = _state(0)
    assert converted.tensors.keys() == expected.keys()
    assert all(torch.equal(converted.tensors[k], expected[k]) for k in expected)
    assert json.loads(converted.metadata[CONFIG_METADATA_KEY]) == TINY_CONFIG.to_dict()
    assert read_config_json(tmp_path / "out" / "config.json") == TINY_CONFIG
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert config["scale"] == 4 and config["provenance"]["source_file"] == "official.pth"


def test_refuses_to_overwrite_without_force(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    source = tmp_path / "bare.pth"
    torch.save(_state(0), source)
    assert main(["convert", str(source), str(tmp_path / "out")]) == 0
    assert main(["convert", str(source), str(tmp_path / "out")]) == EXIT_USAGE
    assert "--force" in capsys.readouterr().err
    assert main(["convert", str(source), str(tmp_path / "out"), "--force"]) == 0


def _rrdb(seed: int = 3) -> RRDBNet:
    generator = torch.Generator().manual_seed(seed)
    model = RRDBNet(SMALL_RRDB)
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * 0.1)
    return model.eval()


def _restores_like(rrdb: RRDBNet, checkpoint_dir: Path) -> None:
    """The converted model reproduces the RRDBNet at any knob setting (identity modulation)."""
    import mmrealsr_plugin

    model = mmrealsr_plugin.load_model(checkpoint_dir / "model.safetensors", device="cpu")
    image = torch.rand(1, 3, 12, 12, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = rrdb(image)
        for scores in ([[0.0, 0.0]], [[1.0, 0.3]]):
            out = model.runner.module(image, torch.tensor(scores))
            torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-4)


def test_realesrgan_pth_becomes_initialisation(tmp_path: Path) -> None:
    rrdb = _rrdb()
    torch.save({"params_ema": rrdb.state_dict()}, tmp_path / "RealESRGAN_x4plus.pth")
    assert main(["convert", str(tmp_path / "RealESRGAN_x4plus.pth"), str(tmp_path / "out")]) == 0
    assert json.loads((tmp_path / "out" / "config.json").read_text())["provenance"]["origin"] == "rrdb-init"
    _restores_like(rrdb, tmp_path / "out")


def test_ncnn_param_input(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("ncnn_writer", Path(__file__).parents[1] / "convert" / "conftest.py")
    writer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(writer)
    rrdb = _rrdb()
    param, _ = writer.write_ncnn_rrdb(rrdb, tmp_path, fp16=False)
    assert main(["convert", str(param), str(tmp_path / "out")]) == 0
    _restores_like(rrdb, tmp_path / "out")


def test_ncnn_param_without_bin_is_explained(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "lonely.param").write_text("7767517\n0 0\n")
    assert main(["convert", str(tmp_path / "lonely.param"), str(tmp_path / "out")]) != 0
    assert "lonely.bin" in capsys.readouterr().err
