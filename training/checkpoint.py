"""Crash-safe checkpoints: each one is a complete folder that appears by rename, then ``latest`` points at it.

Layout of ``<run>/checkpoints/``::

    iter_00001000/  generator.safetensors, generator_ema.safetensors, [discriminator.safetensors,]
                    state.pt (optimizers, schedulers, per-process RNG and pair pool), config.json
    latest          one line: the folder name of the newest complete checkpoint

A folder is written under a hidden temporary name and renamed only when every file is on disk;
``latest`` is replaced atomically afterwards. A process killed at any moment therefore leaves
``latest`` naming a complete checkpoint (or no ``latest`` at all), never a half-written one.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..atomic import atomic_path
from ..errors import CheckpointError
from ..weights import read_state_dict, save_safetensors

LATEST = "latest"
WRITE_DELAY_ENV = "MMREALSR_TRAIN_CHECKPOINT_DELAY"
"""Test hook: seconds to sleep between writing a checkpoint's files and publishing it (crash tests)."""


@dataclass
class Checkpoint:
    """What a checkpoint holds, in memory."""

    iteration: int
    config: dict[str, Any]
    tensors: dict[str, dict[str, torch.Tensor]]
    """Named state dicts stored as safetensors (generator, generator_ema, discriminator)."""
    state: dict[str, Any]
    """Everything else (optimizer/scheduler states, RNG states, pools): torch.save, read back with weights_only."""


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_checkpoint(root: Path, checkpoint: Checkpoint, keep: int, model_config: dict[str, Any]) -> Path:
    """Write ``checkpoint`` under ``root`` and publish it as ``latest``; prune to the ``keep`` newest."""
    root.mkdir(parents=True, exist_ok=True)
    name = f"iter_{checkpoint.iteration:08d}"
    final = root / name
    tmp = root / f".{name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    for key, tensors in checkpoint.tensors.items():
        config = model_config if key.startswith("generator") else None
        save_safetensors(tensors, tmp / f"{key}.safetensors", config=config)
    with atomic_path(tmp / "state.pt") as part:
        torch.save(checkpoint.state, part)
    with atomic_path(tmp / "config.json") as part:
        part.write_text(json.dumps({"iteration": checkpoint.iteration, "config": checkpoint.config}, indent=2))
    delay = float(os.environ.get(WRITE_DELAY_ENV) or 0)
    if delay > 0:
        time.sleep(delay)
    _fsync_dir(tmp)
    if final.exists():
        shutil.rmtree(final)
    os.rename(tmp, final)
    _fsync_dir(root)
    with atomic_path(root / LATEST) as part:
        part.write_text(name + "\n")
    _prune(root, keep, name)
    return final


def _prune(root: Path, keep: int, newest: str) -> None:
    folders = sorted(p for p in root.glob("iter_*") if p.is_dir())
    for old in folders[:-keep]:
        if old.name != newest:
            shutil.rmtree(old, ignore_errors=True)
    for stale in root.glob(".iter_*.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)


def latest_checkpoint(root: Path) -> Path | None:
    pointer = root / LATEST
    if not pointer.is_file():
        return None
    folder = root / pointer.read_text().strip()
    if not folder.is_dir():
        raise CheckpointError(f"{pointer} names {folder.name!r}, which does not exist; the checkpoint folder was "
                              "changed by hand. Point it at an existing iter_* folder or start a new run")
    return folder


def load_checkpoint(folder: Path) -> Checkpoint:
    meta_path = folder / "config.json"
    if not meta_path.is_file():
        raise CheckpointError(f"{folder} is not a complete checkpoint (no config.json)")
    meta = json.loads(meta_path.read_text())
    tensors = {p.stem: read_state_dict(p).tensors for p in sorted(folder.glob("*.safetensors"))}
    state = torch.load(folder / "state.pt", map_location="cpu", weights_only=True)
    return Checkpoint(int(meta["iteration"]), meta["config"], tensors, state)
