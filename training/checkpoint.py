"""Crash-safe checkpoints: each one is a complete folder that appears by rename, then ``latest`` points at it.

Layout of ``<run>/checkpoints/``::

    iter_00001000/  generator.safetensors, generator_ema.safetensors, [discriminator.safetensors,]
                    state.pt (optimizers, schedulers, per-process RNG and pair pool), config.json
    latest          one line: the folder name of the newest complete checkpoint

A folder is written under a hidden temporary name and renamed only when every file is on disk;
``latest`` is replaced atomically afterwards. Re-saving an iteration that already has a folder (a run resumed
from it) first points ``latest`` at the new complete folder, then rebuilds the visible one from hard links.
Resuming takes the newest complete checkpoint: the folder ``latest`` names, or a newer ``iter_*`` folder (a
process killed between the rename and the pointer update). A process killed at any moment therefore leaves
every complete checkpoint reachable, and never a half-written one.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mmrealsr_plugin.atomic import atomic_path
from mmrealsr_plugin.errors import CheckpointError, MMRealSRError
from mmrealsr_plugin.weights import read_state_dict, save_safetensors

LATEST = "latest"
COMPLETE_MARKER = "config.json"
"""Written last into a checkpoint folder."""
CHECKPOINT_NAME = re.compile(r"\.?iter_(\d{8})(?:\.tmp-\d+)?")
"""A checkpoint folder's name: ``iter_N``, or the hidden one ``latest`` names while a re-save replaces ``iter_N``."""
STATE_KEYS = ("iteration", "world_size", "opt_g", "sched_g", "ranks")
"""What state.pt always holds (the trainer's ``save``)."""
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


def _write_files(folder: Path, checkpoint: Checkpoint, model_config: dict[str, Any]) -> None:
    for key, tensors in checkpoint.tensors.items():
        config = model_config if key.startswith("generator") else None
        save_safetensors(tensors, folder / f"{key}.safetensors", config=config)
    with atomic_path(folder / "state.pt") as part:
        torch.save(checkpoint.state, part)
    with atomic_path(folder / COMPLETE_MARKER) as part:  # last: its presence marks the folder complete
        part.write_text(json.dumps({"iteration": checkpoint.iteration, "config": checkpoint.config}, indent=2))
    delay = float(os.environ.get(WRITE_DELAY_ENV) or 0)
    if delay > 0:
        time.sleep(delay)
    _fsync_dir(folder)


def _point(root: Path, name: str) -> None:
    with atomic_path(root / LATEST) as part:
        part.write_text(name + "\n")


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:  # a file system without hard links
        shutil.copy2(source, target)


def _replace(root: Path, new: Path, final: Path) -> None:
    """Put the complete folder ``new`` in place of the existing ``final``; ``latest`` names ``new`` meanwhile."""
    _point(root, new.name)
    shutil.rmtree(final)
    staging = root / f".{final.name}.link-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(new, staging, copy_function=_link_or_copy)
    _fsync_dir(staging)
    os.rename(staging, final)
    _fsync_dir(root)
    _point(root, final.name)
    shutil.rmtree(new)


def save_checkpoint(root: Path, checkpoint: Checkpoint, keep: int, model_config: dict[str, Any]) -> Path:
    """Write ``checkpoint`` under ``root`` and publish it as ``latest``; prune to the ``keep`` newest.

    A write that fails (a full disk) removes its partial folder and leaves the earlier checkpoints as they were.
    """
    root.mkdir(parents=True, exist_ok=True)
    name = f"iter_{checkpoint.iteration:08d}"
    final = root / name
    tmp = root / f".{name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
        _write_files(tmp, checkpoint, model_config)
    except Exception as exc:  # torch.save reports a full disk as a RuntimeError
        shutil.rmtree(tmp, ignore_errors=True)
        previous = _newest_complete(root)
        kept = f"the newest complete checkpoint, {previous.name}, is intact" if previous else "no earlier checkpoint exists"
        free = shutil.disk_usage(root).free / 2**20
        raise CheckpointError(
            f"cannot write the checkpoint of iteration {checkpoint.iteration} into {root} ({exc}; {free:.1f} MiB "
            f"free there). The partial folder was removed and {kept}; free space (or fix the folder's permissions) "
            "and continue with --resume"
        ) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if final.exists():
        _replace(root, tmp, final)
    else:
        os.rename(tmp, final)
        _fsync_dir(root)
        _point(root, name)
    _prune(root, keep, name)
    return final


def _prune(root: Path, keep: int, newest: str) -> None:
    folders = sorted(p for p in root.glob("iter_*") if p.is_dir())
    for old in folders[:-keep]:
        if old.name != newest:
            shutil.rmtree(old, ignore_errors=True)
    for stale in [*root.glob(".iter_*.tmp-*"), *root.glob(".iter_*.link-*")]:  # left by a killed save
        shutil.rmtree(stale, ignore_errors=True)
    for stale in root.glob(f".{LATEST}.*.part"):  # atomic_path's temporary file, left by a kill
        stale.unlink(missing_ok=True)


def _iteration(folder: Path) -> int:
    return int(CHECKPOINT_NAME.fullmatch(folder.name).group(1))  # type: ignore[union-attr]


def _newest_complete(root: Path) -> Path | None:
    """The complete checkpoint with the highest iteration: ``latest``'s folder or a newer visible ``iter_*``.

    At equal iterations ``latest``'s folder wins: a re-save may be deleting the visible one.
    """
    candidates = [p for p in root.glob("iter_*") if CHECKPOINT_NAME.fullmatch(p.name)]
    pointer, named = root / LATEST, None
    if pointer.is_file():
        text = pointer.read_text(errors="replace").strip()
        if CHECKPOINT_NAME.fullmatch(text):
            named = root / text
            candidates.append(named)
    complete = [p for p in candidates if (p / COMPLETE_MARKER).is_file()]
    return max(complete, key=lambda p: (_iteration(p), p == named), default=None)


def latest_checkpoint(root: Path) -> Path | None:
    """The checkpoint to resume from (see the module docstring), or None when the run has none yet."""
    folder = _newest_complete(root)
    if folder is None and any(root.glob("iter_*")):
        raise CheckpointError(f"{root} holds iter_* folders but none is a complete checkpoint (no {COMPLETE_MARKER}); "
                              "they were changed by hand. Restore them, or start a new run (--set run.name=NEW_NAME)")
    return folder


def damaged(folder: Path, what: str, exc: BaseException | str) -> CheckpointError:
    """The error for an unusable checkpoint folder: what is wrong, and the older checkpoint to fall back on."""
    others = sorted(p.name for p in folder.parent.glob("iter_*") if p != folder and (p / COMPLETE_MARKER).is_file())
    instead = (f"move {folder} away to resume from {others[-1]}" if others
               else "start a new run (--set run.name=NEW_NAME)")
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]  # torch's texts run to paragraphs
    return CheckpointError(f"checkpoint {folder} is damaged: {what} ({reason}). Nothing was changed; {instead}")


def load_checkpoint(folder: Path) -> Checkpoint:
    """Read a checkpoint folder; any missing, truncated or foreign file is a CheckpointError naming it."""
    meta_path = folder / COMPLETE_MARKER
    try:
        meta = json.loads(meta_path.read_text())
        iteration, config = int(meta["iteration"]), meta["config"]
        if not isinstance(config, dict):
            raise TypeError(f"'config' is a {type(config).__name__}, not a table")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise damaged(folder, f"{meta_path.name} cannot be read", exc) from None
    tensors = {}
    for path in sorted(folder.glob("*.safetensors")):
        try:
            tensors[path.stem] = read_state_dict(path).tensors
        except MMRealSRError as exc:
            raise damaged(folder, f"{path.name} cannot be read", exc) from None
    if "generator" not in tensors:
        raise damaged(folder, "generator.safetensors is missing", "it holds the weights being trained")
    state_path = folder / "state.pt"
    try:
        state = torch.load(state_path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, pickle.UnpicklingError, EOFError, ValueError) as exc:
        raise damaged(folder, f"{state_path.name} cannot be read", exc) from None
    missing = [key for key in STATE_KEYS if not isinstance(state, dict) or key not in state]
    if missing:
        raise damaged(folder, f"{state_path.name} lacks {missing}", "not written by this trainer")
    return Checkpoint(iteration, config, tensors, state)
