"""ncnn RRDBNet reader: exact round trips of generated pairs, and clear errors on malformed files."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from mmrealsr_plugin.convert import RRDBNet, mmrealsr_from_rrdb, read_ncnn_param, read_ncnn_rrdb, rrdb_trunk_keys
from mmrealsr_plugin.errors import ConversionError


def _fp16(tensor: torch.Tensor) -> torch.Tensor:
    return torch.from_numpy(tensor.numpy().astype(np.float16).astype(np.float32))


@pytest.mark.parametrize("fp16", [True, False])
def test_round_trip_is_exact(small_rrdb, ncnn_writer, tmp_path, fp16):
    param, weights = ncnn_writer(small_rrdb, tmp_path, fp16=fp16)
    state = read_ncnn_rrdb(param, weights)
    source = small_rrdb.state_dict()
    assert list(state) == [f"{k}.{p}" for k in rrdb_trunk_keys(2) for p in ("weight", "bias")]
    for key, tensor in state.items():
        expected = _fp16(source[key]) if fp16 and key.endswith(".weight") else source[key]
        assert tensor.dtype == torch.float32 and tensor.shape == source[key].shape, key
        assert torch.equal(tensor, expected), key


def test_bin_defaults_to_param_stem_and_config_is_inferred(small_rrdb, ncnn_writer, tmp_path):
    param, _ = ncnn_writer(small_rrdb, tmp_path)
    model = RRDBNet.from_trunk(read_ncnn_rrdb(param))
    assert (model.config.num_block, model.config.num_feat, model.config.num_grow_ch, model.config.scale) == (2, 8, 4, 4)


def test_identity_modulation_reproduces_the_rrdbnet(small_rrdb, ncnn_writer, tmp_path):
    param, weights = ncnn_writer(small_rrdb, tmp_path, fp16=False)
    model = mmrealsr_from_rrdb(read_ncnn_rrdb(param, weights))
    x = torch.rand(1, 3, 12, 10, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        low = model(x, torch.tensor([[0.0, 0.0]]))
        high = model(x, torch.tensor([[1.0, 0.8]]))
        reference = small_rrdb(x)
    assert low.shape == (1, 3, 48, 40)
    assert torch.equal(low, high)
    assert torch.equal(low, reference)
    assert model.estimate(x).std() > 0  # estimator is initialised, not zero


def test_param_reader_parses_arrays(small_rrdb, ncnn_writer, tmp_path):
    param, _ = ncnn_writer(small_rrdb, tmp_path)
    layers = read_ncnn_param(param)
    conv = next(layer for layer in layers if layer.type == "Convolution" and 9 in layer.params)
    assert conv.float_array(10) == [0.2] and conv.int_param(9, 0) == 2


def _corrupt_param(param, old: str, new: str, count: int = 1) -> None:
    text = param.read_text()
    assert old in text
    param.write_text(text.replace(old, new, count))


def test_truncated_bin_names_file_and_offset(small_rrdb, ncnn_writer, tmp_path):
    param, weights = ncnn_writer(small_rrdb, tmp_path)
    data = weights.read_bytes()
    weights.write_bytes(data[:-6])
    with pytest.raises(ConversionError, match=re.escape(str(weights)) + r": truncated at byte offset \d+.*conv_last"):
        read_ncnn_rrdb(param, weights)


def test_trailing_bytes_are_an_error(small_rrdb, ncnn_writer, tmp_path):
    param, weights = ncnn_writer(small_rrdb, tmp_path)
    weights.write_bytes(weights.read_bytes() + b"\0" * 8)
    with pytest.raises(ConversionError, match="8 unread bytes"):
        read_ncnn_rrdb(param, weights)


def test_unknown_storage_tag_reports_offset_and_tag(small_rrdb, ncnn_writer, tmp_path):
    param, weights = ncnn_writer(small_rrdb, tmp_path)
    data = bytearray(weights.read_bytes())
    data[0:4] = (0x000D4B38).to_bytes(4, "little")
    weights.write_bytes(bytes(data))
    with pytest.raises(ConversionError, match=r"byte offset 0: storage tag .* 0x000D4B38 \(int8-quantised\)"):
        read_ncnn_rrdb(param, weights)


def test_bad_magic(small_rrdb, ncnn_writer, tmp_path):
    param, weights = ncnn_writer(small_rrdb, tmp_path)
    _corrupt_param(param, "7767517", "7767516")
    with pytest.raises(ConversionError, match="line 1: expected the ncnn param magic 7767517, found '7767516'"):
        read_ncnn_rrdb(param, weights)


def test_wrong_conv_count(small_rrdb, ncnn_writer, tmp_path):
    param, weights = ncnn_writer(small_rrdb, tmp_path)
    lines = param.read_text().splitlines()
    last_conv = max(i for i, line in enumerate(lines) if line.startswith("Convolution"))
    del lines[last_conv]
    lines[1] = f"{len(lines) - 2} 999"
    param.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConversionError, match="found 35 Convolution layers; an RRDBNet has 1 \\+ 15\\*num_block \\+ 5"):
        read_ncnn_rrdb(param, weights)


def test_wrong_weight_size_names_layer_and_shapes(small_rrdb, ncnn_writer, tmp_path):
    param, weights = ncnn_writer(small_rrdb, tmp_path)
    _corrupt_param(param, "0=4 1=3 4=1 5=1 6=288", "0=4 1=3 4=1 5=1 6=324")  # body.0.rdb1.conv1 with 9 inputs
    with pytest.raises(ConversionError, match=r"maps to body\.0\.rdb1\.conv1: expected \(out, in\) = \(4, 8\).*\(4, 9\)"):
        read_ncnn_rrdb(param, weights)


def test_missing_activation_is_detected(small_rrdb, ncnn_writer, tmp_path):
    param, weights = ncnn_writer(small_rrdb, tmp_path)
    _corrupt_param(param, "6=288 9=2 -23310=1,2.000000e-01", "6=288")
    with pytest.raises(ConversionError, match="body.0.rdb1.conv1 which needs LeakyReLU"):
        read_ncnn_rrdb(param, weights)


def test_foreign_layer_types_are_rejected(small_rrdb, ncnn_writer, tmp_path):
    param, weights = ncnn_writer(small_rrdb, tmp_path)
    _corrupt_param(param, "BinaryOp", "PixelShuffle")
    with pytest.raises(ConversionError, match=r"layer types \['PixelShuffle'\]"):
        read_ncnn_rrdb(param, weights)


def test_missing_files(tmp_path):
    with pytest.raises(ConversionError, match="does not exist"):
        read_ncnn_rrdb(tmp_path / "none.param")
