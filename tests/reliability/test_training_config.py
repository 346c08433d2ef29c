"""Training config numbers and names (issue 13, item 18 and probes): every bad value is refused at load time,
before anything is built, with a message that names the dotted key, the value and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmrealsr_plugin.errors import TrainingConfigError
from mmrealsr_plugin.training.config import load_config


@pytest.mark.parametrize(
    ("override", "key", "allowed"),
    [
        ("optim.lr_g=nan", "optim.lr_g", "finite"),
        ("optim.lr_g=inf", "optim.lr_g", "finite"),
        ("optim.lr_g=-1.0", "optim.lr_g", "> 0"),
        ("optim.lr_d=0", "optim.lr_d", "> 0"),
        ("optim.gamma=nan", "optim.gamma", "finite"),
        ("optim.betas=[0.9]", "optim.betas", "two values"),
        ("optim.betas=[0.9, 1.5]", "optim.betas[1]", "< 1"),
        ("optim.weight_decay=-1.0", "optim.weight_decay", ">= 0"),
        ("optim.milestones=[-5]", "optim.milestones[0]", ">= 1"),
        ("optim.ema_decay=1.0", "optim.ema_decay", "< 1"),
        ("run.total_iter=-5", "run.total_iter", ">= 1"),
        ("run.seed=-1", "run.seed", ">= 0"),
        ("run.threads=-1", "run.threads", ">= 0"),
        ("run.time_limit_minutes=nan", "run.time_limit_minutes", "finite"),
        ("run.time_limit_minutes=-1.0", "run.time_limit_minutes", ">= 0"),
        ("data.queue_size=-2", "data.queue_size", ">= 0"),
        ("data.val_max_images=-1", "data.val_max_images", ">= 0"),
        ("losses.l1=nan", "losses.l1", "finite"),
        ("losses.perceptual=-1.0", "losses.perceptual", ">= 0"),
        ("losses.rank_margin=inf", "losses.rank_margin", "finite"),
        ("losses.perceptual_layers={conv1_2=nan}", "losses.perceptual_layers.conv1_2", "finite"),
        ("losses.perceptual_layers={conv1_2=-1.0}", "losses.perceptual_layers.conv1_2", ">= 0"),
        ("discriminator.num_feat=0", "discriminator.num_feat", ">= 1"),
        ("hub.every=-1", "hub.every", ">= 0"),
        ('run.device="gpu"', "run.device", "cuda:N"),
        ('hub.repo="not a repo"', "hub.repo", "ORG/NAME"),
        ('hub.repo="org/name@main"', "hub.repo", "ORG/NAME"),
        ("model.estimator_feats=[0, 16]", "model.estimator_feats[0]", ">= 1"),
        ('run.name=""', "run.name", "folder name"),
        ('run.name="../../escape"', "run.name", "folder name"),
        ('run.name="a/b"', "run.name", "folder name"),
        ('run.name=".."', "run.name", "folder name"),
        ('run.name="a\\\\b"', "run.name", "folder name"),
    ],
)
def test_bad_numbers_and_names_are_refused_at_load_naming_the_key(override: str, key: str, allowed: str) -> None:
    with pytest.raises(TrainingConfigError) as caught:
        load_config("smoke", [override])
    message = str(caught.value)
    assert repr(key) in message and allowed in message, message


@pytest.mark.parametrize("key", ["usm_sigma", "usm_weight", "usm_threshold", "blur_kernel_diff_lower_bound"])
def test_non_finite_degradation_numbers_name_the_key(key: str) -> None:
    with pytest.raises(TrainingConfigError, match=f"{key}.*finite"):
        load_config("smoke", [f"degradation.{key}=nan"])


def test_nan_in_a_config_file_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[optim]\nlr_g = nan\n")
    with pytest.raises(TrainingConfigError, match="'optim.lr_g' must be a finite number, got nan"):
        load_config(path)


@pytest.mark.parametrize("value", ["0", "1.5e-4", "1"])
def test_valid_numbers_still_load(value: str) -> None:
    assert load_config("smoke", [f"losses.gan={value}", "run.name='ok name_1.2'"]).losses.gan == float(value)


def test_a_binary_config_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "photo.toml"
    path.write_bytes(bytes(range(256)))
    with pytest.raises(TrainingConfigError, match=f"{path}: not a valid TOML text file"):
        load_config(path)
