"""The default-model recipes: the subset packer and the CPU recipe's estimator stage."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from PIL import Image

from mmrealsr_plugin.testing import random_model
from mmrealsr_plugin.training.recipes import default_model, pack_subset


def test_pack_subset_writes_one_bounded_crop_per_image_and_is_seeded(hr_folder: Path, tmp_path: Path) -> None:
    count, total, quality = pack_subset.pack(hr_folder, tmp_path / "a", side=32, max_mb=1.0, seed=0)
    files = sorted((tmp_path / "a").iterdir())
    assert count == len(files) > 0 and quality == pack_subset.QUALITIES[0]
    assert sum(f.stat().st_size for f in files) == total <= 1e6
    assert all(Image.open(f).size == (32, 32) for f in files)
    pack_subset.pack(hr_folder, tmp_path / "b", side=32, max_mb=1.0, seed=0)
    assert [f.read_bytes() for f in files] == [f.read_bytes() for f in sorted((tmp_path / "b").iterdir())]


def test_pack_subset_refuses_a_budget_it_cannot_meet(hr_folder: Path, tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="need"):
        pack_subset.pack(hr_folder, tmp_path / "c", side=32, max_mb=1e-4, seed=0)


def test_cpu_recipe_estimator_stage_logs_every_loss_and_changes_only_the_estimator(hr_folder: Path, tmp_path: Path) -> None:
    model = random_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = dataclasses.replace(default_model.RecipeConfig(), est_iters=2, est_batch=2, est_lr_patch=8)
    log = default_model.Log(tmp_path / "log.jsonl")
    default_model.train_estimator(model, cfg, hr_folder, log)
    record = (tmp_path / "log.jsonl").read_text().splitlines()[0]
    assert all(name in record for name in ("rank_blur", "anchor", "factor_blur", "factor_noise", "factor_jpeg"))
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("de_net.") for k in changed)
