"""Training configs: every bundled config validates, official numbers, strict keys and types, --set overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmrealsr_plugin.archs.mmrealsr import OFFICIAL_CONFIG
from mmrealsr_plugin.errors import TrainingConfigError
from mmrealsr_plugin.training.config import BUNDLED_CONFIGS, load_config

BUNDLED = sorted(p.stem for p in BUNDLED_CONFIGS.glob("*.toml"))


def test_all_expected_configs_ship() -> None:
    assert set(BUNDLED) >= {
        "mmrealsr_net_x4", "mmrealsr_gan_x4", "mmrealsr_net_x4_modulation_best", "mmrealsr_gan_x4_modulation_best",
        "finetune_from_realesrgan", "estimator_only", "smoke",
    }


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_config_validates(name: str) -> None:
    load_config(name)


def test_stage_one_reproduces_the_official_options() -> None:
    c = load_config("mmrealsr_net_x4")
    assert (c.run.stage, c.run.total_iter, c.run.seed) == ("net", 70_000, 0)
    assert (c.optim.lr_g, c.optim.betas, c.optim.weight_decay) == (2e-4, (0.9, 0.99), 0.0)
    assert (c.optim.milestones, c.optim.gamma, c.optim.ema_decay) == ((1_000_000,), 0.5, 0.999)
    assert (c.data.batch_size, c.data.gt_size, c.data.queue_size, c.data.crop_size, c.data.sharpen_gt) == (6, 192, 90, 400, True)
    assert (c.losses.l1, c.losses.rank, c.losses.rank_margin, c.losses.anchor) == (1.0, 0.01, 0.05, 1e-4)
    assert (c.losses.perceptual, c.losses.gan) == (0.0, 0.0)
    assert c.model == OFFICIAL_CONFIG
    assert load_config("mmrealsr_net_x4_modulation_best").run.total_iter == 40_000


def test_stage_two_reproduces_the_official_options() -> None:
    c = load_config("mmrealsr_gan_x4")
    assert (c.run.stage, c.run.total_iter) == ("gan", 590_000)
    assert (c.optim.lr_g, c.optim.lr_d, c.optim.milestones) == (1e-4, 1e-4, (400_000,))
    assert (c.data.batch_size, c.data.gt_size, c.data.queue_size, c.data.sharpen_gt) == (4, 256, 80, False)
    assert (c.losses.l1_gt_usm, c.losses.perceptual_gt_usm, c.losses.gan_gt_usm) == (True, True, False)
    assert (c.losses.perceptual, c.losses.gan, c.discriminator.num_feat) == (1.0, 0.1, 64)
    assert c.losses.perceptual_layers == {"conv1_2": 0.1, "conv2_2": 0.1, "conv3_4": 1.0, "conv4_4": 1.0, "conv5_4": 1.0}
    assert c.init.generator.endswith("mmrealsr_net_x4.safetensors")
    assert load_config("mmrealsr_gan_x4_modulation_best").run.total_iter == 100_000


def test_finetune_config_starts_from_realesrgan_with_identity_modulation() -> None:
    c = load_config("finetune_from_realesrgan")
    assert c.init.realesrgan_ncnn_param.endswith(".param") and c.init.identity_modulation


def test_overrides_are_typed_toml_values() -> None:
    c = load_config("smoke", ["run.total_iter=7", "optim.betas=[0.5, 0.9]", "run.device=cpu", 'run.name="x y"'])
    assert (c.run.total_iter, c.optim.betas, c.run.device, c.run.name) == (7, (0.5, 0.9), "cpu", "x y")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("run.total_itr=5", "run.total_itr"),
        ("optim.lr_g=fast", "optim.lr_g"),
        ("run.total_iter=1.5", "run.total_iter"),
        ("run.stage=gan2", "run.stage"),
        ("data.queue_size=3", "queue_size"),
        ("degradation.sinc_prob=2.0", "sinc_prob"),
        ("degradation.no_such_knob=1", "no_such_knob"),
        ("model.num_fet=8", "model.num_fet"),
        ("losses.perceptual_layers={conv9_9=1.0}", "conv9_9"),
        ("total_iter=5", "dotted"),
    ],
)
def test_bad_values_name_the_key(override: str, message: str) -> None:
    with pytest.raises(TrainingConfigError, match=message):
        load_config("smoke", [override])


def test_unknown_table_in_a_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[run]\nname = "x"\n[optimiser]\nlr = 1\n')
    with pytest.raises(TrainingConfigError, match="optimiser"):
        load_config(path)


def test_missing_config_lists_the_bundled_names() -> None:
    with pytest.raises(TrainingConfigError, match="smoke"):
        load_config("no_such_config")


def test_degradation_tables_are_not_offered_as_runs() -> None:
    """`mmrealsr train degradation` used to start a 70k-iteration default run from a [degradation]-only file."""
    with pytest.raises(TrainingConfigError) as caught:
        load_config("degradation")
    bundled = str(caught.value).split("one of ")[-1]
    assert "smoke" in bundled and "degradation" not in bundled and "official" not in bundled
