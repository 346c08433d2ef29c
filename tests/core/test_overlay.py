"""Weights overlays: a model stored as its difference from another is rebuilt byte for byte, and the retired
packaged default (mmrealsr-x4-v1) loads by name from its overlay on the current default."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mmrealsr_plugin import load_model
from mmrealsr_plugin.errors import IntegrityError, ModelLoadError
from mmrealsr_plugin.integrity import sha256_of
from mmrealsr_plugin.overlay import assemble_overlay, write_overlay
from mmrealsr_plugin.registry import load_registry
from mmrealsr_plugin.sources import locate, resolve_model
from mmrealsr_plugin.testing import random_model
from mmrealsr_plugin.weights import read_state_dict, save_safetensors


def _pair(tmp_path: Path) -> tuple[Path, Path]:
    base = random_model(seed=0)
    whole = {k: v.clone() for k, v in base.state_dict().items()}
    for name in [k for k in whole if k.startswith(("de_net.", "am_list."))]:
        whole[name] = whole[name] + 0.5  # what a retrained estimator and modulation change
    base.conv_last.bias.data.zero_()
    whole["conv_last.bias"] = -torch.zeros_like(whole["conv_last.bias"])  # equal numbers, other bytes
    base_path = save_safetensors(base.state_dict(), tmp_path / "base.safetensors", dtype=torch.float16)
    whole_path = save_safetensors(whole, tmp_path / "whole.safetensors", dtype=torch.float16,
                                  metadata={"b": "2", "a": "1", "c": "3"})
    return base_path, whole_path


def test_overlay_holds_only_what_differs_and_rebuilds_the_same_bytes(tmp_path: Path) -> None:
    base, whole = _pair(tmp_path)
    overlay = write_overlay(whole, base, tmp_path / "overlay.safetensors")
    stored = read_state_dict(overlay).tensors
    assert stored and all(k.startswith(("de_net.", "am_list.", "conv_last.bias")) for k in stored)
    assert "conv_last.bias" in stored
    assert overlay.stat().st_size < whole.stat().st_size
    rebuilt = assemble_overlay(base, overlay, tmp_path / "rebuilt.safetensors")
    assert rebuilt.read_bytes() == whole.read_bytes()


def test_an_overlay_on_the_wrong_base_or_a_plain_file_is_refused(tmp_path: Path) -> None:
    base, whole = _pair(tmp_path)
    overlay = write_overlay(whole, base, tmp_path / "overlay.safetensors")
    with pytest.raises(ModelLoadError, match="not a weights overlay"):
        assemble_overlay(base, whole, tmp_path / "x.safetensors")
    other = save_safetensors({"conv_first.weight": torch.zeros(1)}, tmp_path / "other.safetensors")
    with pytest.raises(ModelLoadError, match="missing or has another shape"):
        assemble_overlay(other, overlay, tmp_path / "y.safetensors")
    assert not (tmp_path / "y.safetensors").exists()  # nothing half-written


def _overlay_entries() -> list[str]:
    return [name for name, entry in load_registry().entries.items() if entry.base is not None]


@pytest.mark.parametrize("name", _overlay_entries())
def test_a_retired_default_loads_by_name_and_a_damaged_copy_is_rebuilt(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MMREALSR_HOME", str(tmp_path))
    entry = load_registry().entries[name]
    assert locate(entry).path is None  # not assembled yet: listing models never writes
    path, resolved = resolve_model(name)
    assert resolved == name and path == entry.assembled_path() and sha256_of(path) == entry.sha256
    assert load_model(name, device="cpu").descriptor.config.num_block == 23
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError):
        resolve_model(name)
    assert not path.exists()  # the bad copy is gone: the next use assembles it again
    assert sha256_of(resolve_model(name)[0]) == entry.sha256
