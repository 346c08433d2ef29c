"""The trainer end to end on the smoke config: both stages, over-fitting, bit-exact resume, crash safety, DDP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from mmrealsr_plugin import load_model, restore
from mmrealsr_plugin.cli import main
from mmrealsr_plugin.training.checkpoint import LATEST, WRITE_DELAY_ENV
from mmrealsr_plugin.training.config import load_config
from mmrealsr_plugin.training.trainer import Trainer
from mmrealsr_plugin.training.vgg import VGG19Features
from mmrealsr_plugin.weights import read_state_dict, save_safetensors

pytestmark = pytest.mark.timeout(240)


def _records(run_dir: Path, event: str) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r.get("event") == event]


def _vgg_file(tmp_path: Path) -> Path:
    net = VGG19Features(("conv1_2", "conv2_2"))
    return save_safetensors({f"features.{k}": v for k, v in net.features.state_dict().items()}, tmp_path / "vgg.safetensors")


def _cli(args: list[str]) -> None:
    assert main(["train", "smoke", *args]) == 0


def test_smoke_runs_both_stages_and_exports_a_loadable_model(tmp_path: Path, smoke_overrides: list[str]) -> None:
    sets = [a for o in smoke_overrides for a in ("--set", o)]
    _cli(sets)
    run1 = tmp_path / "runs" / "smoke"
    stage1 = run1 / "final" / "smoke.safetensors"
    assert [r["iter"] for r in _records(run1, "train")] == [1, 2, 3, 4]
    val = _records(run1, "val")[0]
    assert np.isfinite(val["psnr"]) and -1 <= val["blur_spearman"] <= 1
    assert (run1 / "checkpoints" / LATEST).read_text().strip() == "iter_00000004"

    gan = ['run.name="smoke_gan"', 'run.stage="gan"', f'init.generator="{stage1}"', "data.sharpen_gt=false",
           "losses.perceptual=1.0", f'losses.vgg_weights="{_vgg_file(tmp_path)}"', "losses.gan=0.1"]
    _cli(sets + [a for o in gan for a in ("--set", o)])
    run2 = tmp_path / "runs" / "smoke_gan"
    logged = _records(run2, "train")[-1]
    assert {"l1", "perceptual", "g_gan", "d_real", "d_fake", "rank_blur", "anchor"} <= set(logged)
    ckpt = run2 / "checkpoints" / "iter_00000004"
    assert (ckpt / "discriminator.safetensors").is_file()
    # Stage 2 freezes the estimator: its weights are exactly the stage-1 export's.
    before, after = read_state_dict(stage1).tensors, read_state_dict(run2 / "final" / "smoke_gan.safetensors").tensors
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("de_net."))
    assert not all(torch.equal(before[k], after[k]) for k in before if k.startswith("body."))

    model = load_model(str(run2 / "final" / "smoke_gan.safetensors"))
    result = restore(model, np.random.default_rng(0).random((12, 10, 3), dtype=np.float32), blur=0.3, noise=0.7)
    assert result.image.shape == (48, 40, 3)


def test_loss_falls_when_overfitting_one_batch(tmp_path: Path, smoke_overrides: list[str]) -> None:
    config = load_config("smoke", smoke_overrides + ["optim.lr_g=2e-3", "optim.ema_decay=0.0"])
    trainer = Trainer(config)
    batch = trainer.stage.batches.next()
    losses = [trainer.stage.step(batch)["total"] for _ in range(40)]
    trainer.close()
    assert np.mean(losses[-5:]) < 0.6 * np.mean(losses[:5]), losses


def _run_dir_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    folder = run_dir / "checkpoints" / (run_dir / "checkpoints" / LATEST).read_text().strip()
    tensors = {}
    for name in ("generator", "generator_ema", "discriminator"):
        if (folder / f"{name}.safetensors").is_file():
            tensors.update({f"{name}/{k}": v for k, v in read_state_dict(folder / f"{name}.safetensors").tensors.items()})
    return tensors


@pytest.mark.parametrize("stage", ["net", "gan"])
def test_resume_continues_bit_for_bit(tmp_path: Path, smoke_overrides: list[str], stage: str) -> None:
    extra = [f'run.stage="{stage}"', "run.val_every=0"]
    if stage == "gan":
        extra += ["data.sharpen_gt=false", "losses.perceptual=1.0", f'losses.vgg_weights="{_vgg_file(tmp_path)}"',
                  "losses.gan=0.1"]
    sets = [a for o in smoke_overrides + extra for a in ("--set", o)]
    _cli(sets + ["--set", 'run.name="whole"', "--set", "run.total_iter=4"])
    _cli(sets + ["--set", 'run.name="split"', "--set", "run.total_iter=2"])
    _cli(sets + ["--set", 'run.name="split"', "--set", "run.total_iter=4", "--resume"])
    whole, split = _run_dir_weights(tmp_path / "runs" / "whole"), _run_dir_weights(tmp_path / "runs" / "split")
    assert whole.keys() == split.keys()
    assert all(torch.equal(whole[k], split[k]) for k in whole), [k for k in whole if not torch.equal(whole[k], split[k])]
    assert [r["iter"] for r in _records(tmp_path / "runs" / "split", "resume")] == [2]


def test_resume_refuses_a_changed_config(tmp_path: Path, smoke_overrides: list[str]) -> None:
    sets = [a for o in smoke_overrides for a in ("--set", o)]
    _cli(sets + ["--set", "run.total_iter=2", "--set", "run.val_every=0"])
    assert main(["train", "smoke", *sets, "--set", "optim.lr_g=1.0", "--resume"]) != 0


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "mmrealsr_plugin", "train", "smoke", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_sigkill_during_a_checkpoint_write_resumes_from_the_last_good_one(
    tmp_path: Path, smoke_overrides: list[str]
) -> None:
    sets = [a for o in smoke_overrides + ["run.val_every=0"] for a in ("--set", o)]
    _cli(sets + ["--set", "run.total_iter=2"])
    ckpts = tmp_path / "runs" / "smoke" / "checkpoints"
    assert (ckpts / LATEST).read_text().strip() == "iter_00000002"

    env = {**os.environ, WRITE_DELAY_ENV: "60"}
    proc = _spawn(sets + ["--set", "run.total_iter=4", "--resume"], env)
    deadline = time.monotonic() + 120
    partial: list[Path] = []
    while time.monotonic() < deadline and not partial:
        partial = [p for p in ckpts.glob(".iter_00000004.tmp-*") if (p / "config.json").is_file()]
        time.sleep(0.1)
    assert partial, proc.communicate(timeout=5)[0] if proc.poll() is not None else "no checkpoint write started"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)

    assert (ckpts / LATEST).read_text().strip() == "iter_00000002"
    assert not (ckpts / "iter_00000004").exists()
    _cli(sets + ["--set", "run.total_iter=4", "--resume"])
    assert (ckpts / LATEST).read_text().strip() == "iter_00000004"
    assert not list(ckpts.glob(".iter_*.tmp-*")), "the half-written folder was not cleaned up"
    assert [r["iter"] for r in _records(tmp_path / "runs" / "smoke", "resume")] == [2, 2]


def test_two_process_gloo_run_keeps_identical_replicas(tmp_path: Path, smoke_overrides: list[str]) -> None:
    sets = [a for o in smoke_overrides + ["run.threads=1", "run.val_every=0"] for a in ("--set", o)]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "mmrealsr_plugin", "train", "smoke", *sets]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=200, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    run_dir = tmp_path / "runs" / "smoke"
    replicas = _records(run_dir, "replicas")
    assert replicas and replicas[-1]["identical"] and len(replicas[-1]["digests"]) == 2
    assert _records(run_dir, "start")[0]["world_size"] == 2
    assert (run_dir / "final" / "smoke.safetensors").is_file()


def test_factor_pairs_add_ranking_terms_to_the_estimator_stages(smoke_overrides: list[str]) -> None:
    for stage in ("estimator", "net"):
        config = load_config("smoke", smoke_overrides + [f'run.stage="{stage}"', "losses.factor_rank=0.01"])
        trainer = Trainer(config)
        logged = trainer.stage.step(trainer.stage.batches.next())
        trainer.close()
        assert {"factor_blur", "factor_noise", "factor_jpeg"} <= set(logged), stage
        assert all(np.isfinite(v) for v in logged.values())


def test_a_time_limit_stops_early_with_the_usual_checkpoint_and_export(tmp_path: Path, smoke_overrides: list[str]) -> None:
    config = load_config("smoke", smoke_overrides + ["run.total_iter=1000", "run.time_limit_minutes=0.0001",
                                                     "run.val_every=0", "run.checkpoint_every=0"])
    trainer = Trainer(config)
    exported = trainer.fit()
    trainer.close()
    assert exported is not None and exported.is_file()
    assert 1 <= trainer.iteration < 1000
    run_dir = tmp_path / "runs" / "smoke"
    assert _records(run_dir, "time_limit")[0]["iter"] == trainer.iteration
    assert (run_dir / "checkpoints" / LATEST).read_text().strip() == f"iter_{trainer.iteration:08d}"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_both_stages_train_on_the_gpu_in_bf16_with_synthesis_on_the_gpu(tmp_path: Path, smoke_overrides: list[str]) -> None:
    cuda = ['run.device="cuda"', 'run.precision="bf16"', 'data.synthesis_device="train"', "run.val_every=0"]
    config = load_config("smoke", smoke_overrides + cuda + ["losses.factor_rank=0.01"])
    trainer = Trainer(config)
    assert trainer.stage.autocast_dtype == torch.bfloat16
    logs = [trainer.stage.step(trainer.stage.batches.next()) for _ in range(3)]
    assert all(np.isfinite(v) for log in logs for v in log.values())
    stage1 = trainer.export(tmp_path / "stage1.safetensors")
    trainer.close()
    gan = ['run.name="smoke_gan"', 'run.stage="gan"', f'init.generator="{stage1}"', "data.sharpen_gt=false",
           "losses.gan=0.1"]
    trainer = Trainer(load_config("smoke", smoke_overrides + cuda + gan))
    logs = [trainer.stage.step(trainer.stage.batches.next()) for _ in range(3)]
    trainer.close()
    assert all(np.isfinite(v) for log in logs for v in log.values())
    assert {"g_gan", "d_real", "d_fake"} <= set(logs[-1])
