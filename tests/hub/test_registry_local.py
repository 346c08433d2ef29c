"""Registry names without a Hub mirror resolve to files the user put in the models folder; references parse."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from mmrealsr_plugin.errors import IntegrityError, ModelNotFoundError
from mmrealsr_plugin.hub import HubReference, parse_reference
from mmrealsr_plugin.sources import resolve_model
from mmrealsr_plugin.testing import random_model, save_random_model
from mmrealsr_plugin.integrity import sha256_of


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MMREALSR_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MMREALSR_MODELS_FILE", raising=False)
    return tmp_path / "home"


def test_official_model_missing_says_where_to_put_it(home: Path) -> None:
    with pytest.raises(ModelNotFoundError) as info:
        resolve_model("MMRealSRGAN")
    message = str(info.value)
    assert "releases/download/v1.0.0/MMRealSRGAN.pth" in message
    assert str(home / "models" / "MMRealSRGAN.pth") in message


def test_official_model_found_in_models_folder(home: Path) -> None:
    target = home / "models" / "MMRealSRNet.pth"
    target.parent.mkdir(parents=True)
    torch.save({"params_ema": random_model().state_dict()}, target)
    assert resolve_model("MMRealSRNet") == (target, "MMRealSRNet")


def test_pinned_sha_mismatch_keeps_the_users_file(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = home / "models" / "Mine.safetensors"
    target.parent.mkdir(parents=True)
    save_random_model(target)
    registry = tmp_path / "models.toml"
    registry.write_text('[models.Mine]\nrepo_id = "org/mine"\nsha256 = "' + "1" * 64 + '"\n')
    monkeypatch.setenv("MMREALSR_MODELS_FILE", str(registry))
    with pytest.raises(IntegrityError, match="left in place"):
        resolve_model("Mine")
    assert target.exists()
    registry.write_text(f'[models.Mine]\nrepo_id = "org/mine"\nsha256 = "{sha256_of(target)}"\n')
    assert resolve_model("Mine") == (target, "Mine")


@pytest.mark.parametrize(("text", "expected"), [
    ("hf://org/repo", HubReference("org/repo")),
    ("hf://org/repo@v1", HubReference("org/repo", revision="v1")),
    ("hf://org/repo/sub/x.safetensors@" + "a" * 40, HubReference("org/repo", "sub/x.safetensors", "a" * 40)),
    ("org/repo:weights/x.pth@dev", HubReference("org/repo", "weights/x.pth", "dev")),
    ("org/repo", HubReference("org/repo")),
])
def test_reference_forms(text: str, expected: HubReference) -> None:
    parsed = parse_reference(text)
    assert parsed == expected
    assert parse_reference(str(parsed)) == parsed


@pytest.mark.parametrize("text", ["hf://justone", "hf://org/repo/../x", "a/b/c:d", "org/repo@", "hf://org/re po"])
def test_bad_references_are_explained(text: str) -> None:
    with pytest.raises(ModelNotFoundError, match="ORG/REPO|bad"):
        parse_reference(text)


def test_pin_is_only_a_commit() -> None:
    assert parse_reference("org/repo@" + "0" * 40).is_pinned
    assert not parse_reference("org/repo@main").is_pinned
