"""Training runs under hostile conditions (issue 13, items 4, 16, 17 and probes): nothing trained is lost,
every failure is one clear message naming the key or file and the fix, never a traceback.

Runs use the smoke config on a few random photos written here, so nothing outside the test's folder is needed.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mmrealsr_plugin.cli import main
from mmrealsr_plugin.errors import CheckpointError, DatasetError
from mmrealsr_plugin.training import checkpoint as ckpt
from mmrealsr_plugin.training.config import load_config
from mmrealsr_plugin.training.preflight import claim_run_folder
from mmrealsr_plugin.training.trainer import Trainer, train

pytestmark = pytest.mark.timeout(300)


def _write_photos(folder: Path, count: int, size: int, seed: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for index in range(count):
        pixels = np.clip(rng.normal(0.5, 0.2, (size, size, 3)) * 255, 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"img_{index}.png")
        paths.append(folder / f"img_{index}.png")
    return paths


@pytest.fixture
def data(tmp_path: Path) -> dict[str, Path]:
    """HR training photos and a Set5-like paired folder (HR/ and LR_x4/)."""
    train_dir = tmp_path / "train_hr"
    _write_photos(train_dir, 4, 48, 0)
    val = tmp_path / "val"
    for path in _write_photos(val / "HR", 1, 32, 1):
        (val / "LR_x4").mkdir(parents=True, exist_ok=True)
        Image.open(path).resize((8, 8)).save(val / "LR_x4" / path.name)
    return {"train": train_dir, "val": val, "runs": tmp_path / "runs"}


def _sets(data: dict[str, Path], *extra: str) -> list[str]:
    items = [f'run.output_root="{data["runs"]}"', f'data.train_dirs=["{data["train"]}"]',
             f'data.val_dir="{data["val"]}"', f'data.val_sweep_dir="{data["val"] / "HR"}"', *extra]
    return [arg for item in items for arg in ("--set", item)]


def _train(data: dict[str, Path], capsys: pytest.CaptureFixture[str], *extra: str, resume: bool = False) -> tuple[int, str]:
    code = main(["train", "smoke", *_sets(data, *extra), *(["--resume"] if resume else [])])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def _snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with its sha256."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------------------------------- item 4
def test_a_second_run_without_resume_destroys_nothing(data, capsys) -> None:
    assert _train(data, capsys)[0] == 0
    run_dir = data["runs"] / "smoke"
    before = _snapshot(run_dir)
    assert {"final/smoke.safetensors", "metrics.jsonl", "checkpoints/iter_00000004/generator.safetensors"} <= set(before)
    for extra in ((), ("run.seed=7",), ("run.total_iter=8",)):
        code, err = _train(data, capsys, *extra)
        assert code != 0
        assert "already holds a training run" in err and "--resume" in err and "run.name" in err, err
        assert "iter_00000004" in err and "final/smoke.safetensors" in err
        assert _snapshot(run_dir) == before, f"{extra}: the earlier run was changed"
    assert _train(data, capsys, "run.total_iter=6", resume=True)[0] == 0
    assert (run_dir / "checkpoints" / "iter_00000006").is_dir()


def test_resume_refuses_to_train_over_final_weights_it_cannot_continue(data, capsys) -> None:
    assert _train(data, capsys)[0] == 0
    run_dir = data["runs"] / "smoke"
    shutil.rmtree(run_dir / "checkpoints")
    before = _snapshot(run_dir)
    code, err = _train(data, capsys, resume=True)
    assert code != 0 and "no checkpoint to resume from" in err and "init.generator" in err, err
    assert _snapshot(run_dir) == before


def test_two_processes_never_train_one_run_at_once(data, capsys) -> None:
    run_dir = data["runs"] / "smoke"
    with claim_run_folder(run_dir, resume=True):
        code, err = _train(data, capsys, resume=True)
    assert code != 0 and "another process is training the run" in err, err
    assert not (run_dir / "metrics.jsonl").exists()


# ------------------------------------------------------------------------------------------------ item 16
@pytest.mark.parametrize(
    ("override", "key", "problem"),
    [
        ('data.val_dir="{tmp}/nope"', "data.val_dir", "does not exist"),
        ('data.val_dir="{tmp}/train_hr"', "data.val_dir", "has no HR/ folder"),
        ('data.val_sweep_dir="{tmp}/nope"', "data.val_sweep_dir", "does not exist"),
        ('data.train_dirs=["{tmp}/nope"]', "data.train_dirs[0]", "does not exist"),
        ('data.train_dirs=["{tmp}/empty"]', "data.train_dirs[0]", "holds no images"),
        ('init.generator="{tmp}/nope.safetensors"', "init.generator", "does not exist"),
        ('init.realesrgan_ncnn_param="{tmp}/x.param"', "init.realesrgan_ncnn_param", "does not exist"),
        ('run.output_root="{tmp}/train_hr/img_0.png"', "run.output_root", "is not a folder"),
    ],
)
def test_every_config_path_is_checked_before_anything_starts(data, capsys, tmp_path, override, key, problem) -> None:
    (tmp_path / "empty").mkdir()
    extra = [override.format(tmp=tmp_path)]
    if key.startswith("init.realesrgan"):
        extra.append(f'init.realesrgan_ncnn_bin="{tmp_path}/x.bin"')
    code, err = _train(data, capsys, *extra)
    assert code != 0
    assert key in err and problem in err and str(tmp_path) in err, err
    assert "set it to" in err or "point it at" in err or f"set {key.split('[')[0]}" in err, err
    assert not (data["runs"] / "smoke").exists(), "a run folder was created before the paths were checked"


def test_all_path_problems_are_listed_at_once_and_unused_paths_are_not_checked(data, capsys, tmp_path) -> None:
    code, err = _train(data, capsys, f'data.val_dir="{tmp_path}/a"', f'data.val_sweep_dir="{tmp_path}/b"',
                       f'init.generator="{tmp_path}/c.pth"', 'run.stage="gan"', "data.sharpen_gt=false",
                       "losses.perceptual=1.0")
    keys = ("data.val_dir", "data.val_sweep_dir", "init.generator", "losses.vgg_weights is empty")
    assert code != 0 and all(k in err for k in keys), err
    # Validation never runs with val_every = 0, so its folders do not matter; nor do VGG weights without the loss.
    code, _ = _train(data, capsys, "run.val_every=0", f'data.val_dir="{tmp_path}/a"', 'losses.vgg_weights="/nope"')
    assert code == 0


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        (["init.generator={bad}"], "init.generator"),
        (['run.stage="gan"', "data.sharpen_gt=false", "losses.perceptual=1.0", "losses.vgg_weights={bad}"],
         "losses.vgg_weights"),
        (["init.realesrgan_ncnn_param={bad}", "init.realesrgan_ncnn_bin={bad}"], "init.realesrgan_ncnn_param"),
    ],
)
def test_unreadable_weights_files_name_their_key_and_create_no_run_folder(data, capsys, tmp_path, extra, key) -> None:
    bad = tmp_path / "weights.bin"
    bad.write_bytes(b"\x89 not weights at all")
    code, err = _train(data, capsys, *(item.format(bad=f'"{bad}"') for item in extra))
    assert code != 0 and key in err and str(bad) in err, err
    assert not (data["runs"] / "smoke").exists()


def test_a_cuda_device_that_is_not_there_names_run_device(data, capsys) -> None:
    code, err = _train(data, capsys, 'run.device="cuda:99"')
    assert code != 0 and "'run.device' = 'cuda:99'" in err and 'run.device = "cpu"' in err, err
    assert not (data["runs"] / "smoke").exists()


@pytest.mark.parametrize("damage", ["unreadable", "unpaired"])
def test_unusable_validation_images_are_found_at_start(data, capsys, damage) -> None:
    low = data["val"] / "LR_x4" / "img_0.png"
    if damage == "unreadable":
        low.write_bytes(b"not an image")
    else:
        (data["val"] / "HR" / "img_0.png").rename(data["val"] / "HR" / "other.png")
    code, err = _train(data, capsys)
    assert code != 0 and "data.val_dir" in err and "img_0.png" in err, err
    assert not (data["runs"] / "smoke").exists()


def test_a_validation_failure_comes_after_the_checkpoint_of_that_iteration(data) -> None:
    config = load_config("smoke", _sets(data, "run.val_every=2", "run.checkpoint_every=2")[1::2])

    def remove_validation_data(trainer: Trainer, saved: Path) -> None:
        shutil.rmtree(data["val"])  # vanishes after the start-up check, e.g. an unmounted disk

    with pytest.raises(FileNotFoundError, match="val"):
        train(config, on_checkpoint=remove_validation_data)
    run_dir = data["runs"] / "smoke"
    trained = max(r["iter"] for r in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines())
                  if r["event"] == "train")
    assert ckpt.latest_checkpoint(run_dir / "checkpoints") == run_dir / "checkpoints" / f"iter_{trained:08d}"


# ------------------------------------------------------------------------------------------------ item 17
class SimulatedKill(BaseException):
    """The process dies here: nothing after it runs, not even clean-up code."""


FILE_SYSTEM_STEPS = [(os, "rename"), (os, "replace"), (os, "link"), (os, "unlink"), (os, "rmdir"), (os, "fsync"),
                     (os, "mkdir")]


def _checkpoint(iteration: int) -> ckpt.Checkpoint:
    generator = {"w": torch.full((4, 4), float(iteration))}
    return ckpt.Checkpoint(iteration, {"iteration": iteration}, {"generator": generator, "generator_ema": generator},
                           {"iteration": iteration, "world_size": 1, "opt_g": {}, "sched_g": {}, "ranks": []})


def _save_killed_at(monkeypatch: pytest.MonkeyPatch, root: Path, iteration: int, keep: int, step: int) -> bool:
    """Save, dying before the ``step``-th file-system call; True if the save finished first."""
    calls = {"n": 0}
    for module, name in FILE_SYSTEM_STEPS:
        real = getattr(module, name)

        def dying(*args, _real=real, **kwargs):
            calls["n"] += 1
            if calls["n"] >= step:
                raise SimulatedKill()
            return _real(*args, **kwargs)

        monkeypatch.setattr(module, name, dying)
    try:
        ckpt.save_checkpoint(root, _checkpoint(iteration), keep, {})
        return True
    except SimulatedKill:
        return False
    finally:
        monkeypatch.undo()


@pytest.mark.parametrize(("new_iteration", "keep"), [(4, 2), (4, 1), (2, 1), (2, 2)],
                         ids=["next", "next-keep1", "resave-keep1", "resave-keep2"])
def test_a_kill_at_any_step_of_a_checkpoint_save_leaves_the_newest_complete_one_reachable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, new_iteration: int, keep: int
) -> None:
    """Resave: a run resumed from iter_2 saves iter_2 again (its final save); the old code deleted it first."""
    finished, step = False, 0
    while not finished:
        step += 1
        root = tmp_path / f"kill_{step}" / "checkpoints"
        ckpt.save_checkpoint(root, _checkpoint(2), keep, {})
        finished = _save_killed_at(monkeypatch, root, new_iteration, keep, step)
        folder = ckpt.latest_checkpoint(root)
        assert folder is not None, f"killed at step {step}: no checkpoint to resume from"
        loaded = ckpt.load_checkpoint(folder)
        visible_new = root / f"iter_{new_iteration:08d}" / ckpt.COMPLETE_MARKER
        expected = new_iteration if finished or visible_new.is_file() else 2
        assert loaded.iteration == expected, f"killed at step {step}: resumed from {folder.name}"
        assert torch.equal(loaded.tensors["generator"]["w"], torch.full((4, 4), float(loaded.iteration)))
        # The next save after the crash works and tidies up.
        ckpt.save_checkpoint(root, _checkpoint(10), keep, {})
        assert ckpt.latest_checkpoint(root) == root / "iter_00000010"
        assert not [p.name for p in root.iterdir() if p.name.startswith(".")]
    assert step > 5, "the save made fewer file-system calls than expected: the kill points were not exercised"


def test_resuming_a_finished_run_rewrites_no_checkpoint(data, capsys) -> None:
    """The old trigger of the dangling ``latest``: the final save of a resumed run re-saved (deleted, then
    renamed) the very checkpoint it had resumed from."""
    extra = ("run.total_iter=3", "run.val_every=0", "run.checkpoint_every=0")
    assert _train(data, capsys, *extra)[0] == 0
    folder = data["runs"] / "smoke" / "checkpoints" / "iter_00000003"
    inode, before = folder.stat().st_ino, _snapshot(folder)
    assert _train(data, capsys, *extra, resume=True)[0] == 0
    assert folder.stat().st_ino == inode and _snapshot(folder) == before


@pytest.mark.parametrize(
    ("damage", "named"),
    [
        ("truncate:state.pt", "state.pt"),
        ("random:state.pt", "state.pt"),
        ("delete:state.pt", "state.pt"),
        ("truncate:generator.safetensors", "generator.safetensors"),
        ("delete:generator_ema.safetensors", "generator_ema"),
        ("text:config.json", "config.json"),
        ("foreign:state.pt", "state.pt"),
    ],
)
def test_a_damaged_checkpoint_is_a_clear_error_that_changes_nothing(data, capsys, damage: str, named: str) -> None:
    assert _train(data, capsys, "run.total_iter=2", "run.val_every=0")[0] == 0
    folder = data["runs"] / "smoke" / "checkpoints" / "iter_00000002"
    how, name = damage.split(":")
    target = folder / name
    if how == "truncate":
        target.write_bytes(target.read_bytes()[:60])
    elif how == "random":
        target.write_bytes(np.random.default_rng(0).bytes(2000))
    elif how == "delete":
        target.unlink()
    elif how == "text":
        target.write_text("{not json")
    else:
        torch.save({"unrelated": torch.zeros(1)}, target)
    before = _snapshot(folder.parent)
    code, err = _train(data, capsys, "run.total_iter=4", "run.val_every=0", resume=True)
    assert code != 0 and "is damaged" in err and named in err and str(folder) in err, err
    assert _snapshot(folder.parent) == before


def test_a_full_disk_while_checkpointing_keeps_the_previous_checkpoint(data, capsys) -> None:
    """The file-size limit makes the real writes fail (EFBIG) the way a full disk does (ENOSPC)."""
    assert _train(data, capsys, "run.total_iter=2", "run.val_every=0")[0] == 0
    checkpoints = data["runs"] / "smoke" / "checkpoints"
    before = _snapshot(checkpoints / "iter_00000002")
    limit = (checkpoints / "iter_00000002" / "state.pt").stat().st_size // 2

    def small_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    sets = _sets(data, "run.total_iter=4", "run.val_every=0")
    done = subprocess.run([sys.executable, "-m", "mmrealsr_plugin", "train", "smoke", *sets, "--resume"],
                          capture_output=True, text=True, timeout=240, preexec_fn=small_files)
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr[-3000:]
    assert "cannot write the checkpoint of iteration 4" in done.stderr and "iter_00000002, is intact" in done.stderr
    assert sorted(p.name for p in checkpoints.iterdir()) == ["iter_00000002", "latest"], "a partial folder was left"
    assert _snapshot(checkpoints / "iter_00000002") == before
    assert _train(data, capsys, "run.total_iter=4", "run.val_every=0", resume=True)[0] == 0


def test_a_failed_checkpoint_write_says_which_one_survives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "checkpoints"
    ckpt.save_checkpoint(root, _checkpoint(2), 2, {})

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(CheckpointError, match="iteration 4.*No space left.*iter_00000002, is intact"):
        ckpt.save_checkpoint(root, _checkpoint(4), 2, {})
    assert sorted(p.name for p in root.iterdir()) == ["iter_00000002", "latest"]


# ----------------------------------------------------------------------------------------------- probes
def test_a_diverged_run_stops_before_saving_nan_weights(data, capsys) -> None:
    code, err = _train(data, capsys, "optim.lr_g=1e30", "run.total_iter=6", "run.val_every=0",
                       "run.checkpoint_every=0")
    assert code != 0 and "training diverged at iteration" in err and "optim.lr_g" in err, err
    run_dir = data["runs"] / "smoke"
    assert not (run_dir / "final").exists() and not (run_dir / "checkpoints").exists()


def test_an_unreadable_training_image_mid_run_saves_what_was_trained(data) -> None:
    config = load_config("smoke", _sets(data, "run.total_iter=20", "run.val_every=0", "run.checkpoint_every=0")[1::2])
    trainer = Trainer(config)
    real_next, calls = trainer.stage.batches.next, {"n": 0}

    def next_batch():
        calls["n"] += 1
        if calls["n"] == 4:  # the disk goes bad under the run: every training file is now truncated
            for path in data["train"].iterdir():
                path.write_bytes(path.read_bytes()[:200])
        return real_next()

    trainer.stage.batches.next = next_batch
    with pytest.raises(DatasetError, match=r"cannot read training image .*img_\d\.png.*3 iterations trained so far"):
        trainer.fit()
    trainer.close()
    saved = ckpt.latest_checkpoint(data["runs"] / "smoke" / "checkpoints")
    assert saved is not None and ckpt.load_checkpoint(saved).iteration == 3


def test_an_unreachable_hub_loses_no_training(data, tmp_path: Path) -> None:
    """Periodic pushes that fail are logged and training goes on; a failed final push names the saved weights."""
    with socket.socket() as probe:  # a port nothing listens on: connections are refused at once
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    env.update({"HF_ENDPOINT": f"http://127.0.0.1:{port}", "HF_TOKEN": "hf_test", "HF_HOME": str(tmp_path / "hf"),
                "HF_HUB_DISABLE_TELEMETRY": "1"})
    sets = _sets(data, "run.val_every=0", 'hub.repo="org/smoke"', "hub.every=2")
    done = subprocess.run([sys.executable, "-m", "mmrealsr_plugin", "train", "smoke", *sets], env=env,
                          capture_output=True, text=True, timeout=240)
    run_dir = data["runs"] / "smoke"
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr[-3000:]
    assert "Nothing is lost: the weights are in" in done.stderr and "mmrealsr hub push" in done.stderr
    assert (run_dir / "final" / "smoke.safetensors").is_file()
    failed = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()
              if '"hub_push_failed"' in line]
    assert [record["iter"] for record in failed] == [2, 4]
