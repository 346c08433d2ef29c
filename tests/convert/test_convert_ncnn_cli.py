"""``mmrealsr convert-ncnn`` writes a loadable MM-RealSR initialisation with identity modulation."""

from __future__ import annotations

import argparse

import pytest
import torch

from mmrealsr_plugin.archs.mmrealsr import MMRealSR, detect_config
from mmrealsr_plugin.cli import convert_ncnn_cmd
from mmrealsr_plugin.errors import ConversionError
from mmrealsr_plugin.weights import config_from_metadata, read_state_dict


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    convert_ncnn_cmd.register(parser.add_subparsers())
    args = parser.parse_args(["convert-ncnn", *argv])
    return args.func(args)


def test_cli_writes_identity_modulated_model(small_rrdb, ncnn_writer, tmp_path, capsys):
    param, _ = ncnn_writer(small_rrdb, tmp_path, fp16=False)
    out = tmp_path / "init.safetensors"
    assert _run([str(param), str(out)]) == 0
    assert "2 blocks" in capsys.readouterr().out
    loaded = read_state_dict(out)
    config = detect_config(loaded.tensors)
    assert config_from_metadata(loaded.metadata)["num_block"] == config.num_block == 2
    model = MMRealSR(config)
    model.load_state_dict(loaded.tensors, strict=True)
    x = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(model(x, torch.zeros(1, 2)), small_rrdb(x))
        assert torch.equal(model(x, torch.ones(1, 2)), small_rrdb(x))


def test_cli_fp16_and_bad_suffix(small_rrdb, ncnn_writer, tmp_path):
    param, weights = ncnn_writer(small_rrdb, tmp_path, name="other")
    out = tmp_path / "half.safetensors"
    assert _run([str(param), str(out), "--bin", str(weights), "--fp16"]) == 0
    assert read_state_dict(out).tensors["conv_first.weight"].dtype == torch.float16
    with pytest.raises(ValueError, match="must end in .safetensors"):
        _run([str(param), str(tmp_path / "x.pth")])


def test_cli_reports_broken_input(small_rrdb, ncnn_writer, tmp_path):
    param, weights = ncnn_writer(small_rrdb, tmp_path)
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ConversionError, match="truncated"):
        _run([str(param), str(tmp_path / "y.safetensors")])
    assert not (tmp_path / "y.safetensors").exists()


def test_cli_never_replaces_an_existing_file_without_force(small_rrdb, ncnn_writer, tmp_path):
    param, _ = ncnn_writer(small_rrdb, tmp_path)
    out = tmp_path / "mine.safetensors"
    out.write_bytes(b"someone's earlier work")
    with pytest.raises(FileExistsError, match="--force"):
        _run([str(param), str(out)])
    assert out.read_bytes() == b"someone's earlier work"
    assert _run([str(param), str(out), "--force"]) == 0
    assert read_state_dict(out).tensors
