"""The MM-RealSR trainer: one readable loop around a stage (``run.stage``: net, gan, estimator; see :mod:`.stages`).

Single process::

    mmrealsr train training/configs/mmrealsr_net_x4.toml
    mmrealsr train training/configs/mmrealsr_net_x4.toml --resume --set run.total_iter=80000

Data parallel on 4 GPUs of one node, or 2 nodes x 8 GPUs::

    torchrun --standalone --nproc_per_node=4 -m mmrealsr_plugin train CONFIG
    torchrun --nnodes=2 --nproc_per_node=8 --node_rank=0 --master_addr=HOST --master_port=29500 \
        -m mmrealsr_plugin train CONFIG

The trainer owns the run: processes, iteration count, time limit, log, checkpoint cadence, validation, resume,
export and the Hub hook. The stage owns the learning: networks, optimizers, EMA, losses, data, ``step(batch)``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from mmrealsr_plugin.atomic import atomic_path
from mmrealsr_plugin.errors import CheckpointError, DatasetError, TrainingConfigError, TrainingDivergedError
from mmrealsr_plugin.imageio import list_images
from mmrealsr_plugin.weights import save_safetensors

from .checkpoint import Checkpoint, damaged, latest_checkpoint, load_checkpoint, save_checkpoint
from .config import TrainConfig, config_from_dict
from .distributed import DistInfo, setup_distributed, teardown_distributed
from .preflight import check_paths, claim_run_folder
from .reproducibility import rng_state, seed_everything, set_rng_state
from .runlog import RunLog
from .stages import STAGES, Stage
from .validation import estimator_sweep, paired_psnr

RESUMABLE_CHANGES = {"run.total_iter", "run.time_limit_minutes", "run.log_every", "run.val_every", "run.checkpoint_every",
                     "run.keep_checkpoints", "run.progress", "run.threads", "hub.repo", "hub.every", "hub.private"}
"""Config keys that may differ between a checkpoint and the run that resumes it."""

CheckpointHook = Callable[["Trainer", Path], None]
"""Called on the main process after each scheduled checkpoint and that iteration's validation (the Hub push)."""


class Trainer:
    """One training process: its stage, its run folder, and the loop."""

    def __init__(self, config: TrainConfig, dist_info: DistInfo | None = None) -> None:
        self.config = config
        self.dist = dist_info or setup_distributed(config.run.device)
        run = config.run
        if run.threads and self.dist.device.type == "cpu":
            torch.set_num_threads(run.threads)
        if self.dist.device.type == "cpu":
            # Gradients and Adam moments of the 0.1-scaled dense blocks decay into denormal floats, which
            # x86 CPUs process far slower: official-size CPU iterations went 28, 57, 73, 87 s before this, ~30 s flat after.
            torch.set_flush_denormal(True)
        self.iteration = self.saved_iteration = 0
        """The current iteration, and that of the newest checkpoint this run wrote or resumed from."""
        self.out_dir = config.output_dir
        self.ckpt_dir = self.out_dir / "checkpoints"
        seed_everything(run.seed + self.dist.rank)
        self.stage: Stage = STAGES[run.stage](config, self.dist)
        self.log = RunLog(self.out_dir, enabled=self.dist.is_main)

    # -------------------------------------------------------------------------------------------- loop
    def fit(self, on_checkpoint: CheckpointHook | None = None) -> Path | None:
        """Train to ``run.total_iter`` (or the time limit); returns the exported weights path on the main process."""
        run = self.config.run
        self.log({"event": "start", "iter": self.iteration, "config": self.config.to_dict(),
                  "world_size": self.dist.world_size, "device": str(self.dist.device)})
        progress = None
        if run.progress and self.dist.is_main:
            from tqdm import tqdm

            progress = tqdm(total=run.total_iter, initial=self.iteration, desc=f"{run.name} [{run.stage}]",
                            unit="it", dynamic_ncols=True)
        started = time.perf_counter()
        while self.iteration < run.total_iter and not self._out_of_time(started):
            losses = self.stage.step(self._next_batch())
            self._check_finite(losses)
            self.iteration += 1
            if progress is not None:
                progress.update(1)
                progress.set_postfix(loss=f"{losses['total']:.4f}")
            if self.iteration % run.log_every == 0 or self.iteration == run.total_iter:
                self.log({"event": "train", "iter": self.iteration, "lr": self.stage.lr(),
                          "seconds": round(time.perf_counter() - started, 3), **losses})
            # The checkpoint comes before validation (nothing trained is lost if validation fails), the hook
            # after it (a Hub push's model card shows this iteration's metrics).
            saved = self.save() if run.checkpoint_every and self.iteration % run.checkpoint_every == 0 else None
            if run.val_every and self.iteration % run.val_every == 0 and self.dist.is_main:
                self.log({"event": "val", "iter": self.iteration, **self.validate()})
            if saved is not None and on_checkpoint is not None:
                on_checkpoint(self, saved)
        if progress is not None:
            progress.close()
        digests = self.replica_digests()
        self.log({"event": "replicas", "iter": self.iteration, "identical": len(set(digests)) == 1,
                  "digests": digests})
        if self.iteration != self.saved_iteration:  # the same on every rank
            self.save()
        if not self.dist.is_main:
            return None
        path = self.export()
        self.log({"event": "export", "iter": self.iteration, "path": str(path)})
        return path

    def _next_batch(self) -> Any:
        """The next batch; an unreadable training image first saves what was trained since the last checkpoint.

        The models are between two steps then, so the checkpoint is as good as a scheduled one. Under torchrun
        the peers are inside a collective, so the failing rank only reports (its peers are stopped by torchrun).
        """
        try:
            return self.stage.batches.next()
        except DatasetError as exc:
            if self.dist.enabled or self.iteration == self.saved_iteration:
                raise
            saved = self.save()
            raise DatasetError(f"{exc}. The {self.iteration} iterations trained so far are saved in {saved}; continue "
                               "with --resume once the file is fixed or removed") from None

    def _check_finite(self, losses: dict[str, float]) -> None:
        """Stop before a diverged step reaches a checkpoint or the exported weights (they would be NaN)."""
        bad = {k: v for k, v in losses.items() if not math.isfinite(v)}
        if bad:
            raise TrainingDivergedError(
                f"training diverged at iteration {self.iteration + 1}: non-finite losses {bad}. This step's weights "
                f"were not saved; the checkpoints in {self.ckpt_dir} are from before it. Lower optim.lr_g (or "
                "optim.lr_d) or the loss weights and start a new run (--set run.name=NEW_NAME); init.generator may "
                "point at a checkpoint's generator_ema.safetensors to start from it"
            )

    def _out_of_time(self, started: float) -> bool:
        """True once ``run.time_limit_minutes`` has passed; every rank agrees (rank 0's clock decides)."""
        limit = self.config.run.time_limit_minutes
        if not limit:
            return False
        flag = torch.tensor([float(time.perf_counter() - started > 60 * limit)], device=self.dist.device)
        if self.dist.enabled:
            dist.broadcast(flag, src=0)
        if flag.item():
            self.log({"event": "time_limit", "iter": self.iteration, "minutes": limit})
        return bool(flag.item())

    # ------------------------------------------------------------------------------- validation, export
    def validate(self) -> dict[str, float]:
        data = self.config.data
        model = self.stage.export_model
        was_training = model.training
        model.eval()
        result: dict[str, float] = {}
        if data.val_dir and self.stage.validates_psnr:
            result["psnr"] = paired_psnr(model, data.val_dir, self.dist.device, data.val_max_images)
        if data.val_sweep_dir:
            paths = list_images(data.val_sweep_dir, limit=data.val_max_images)
            result.update(estimator_sweep(model, paths, self.dist.device).to_dict())
        model.train(was_training)
        return result

    def export(self, path: Path | None = None) -> Path:
        """Write the inference weights (official key layout, config in the metadata) as safetensors."""
        path = path or self.out_dir / "final" / f"{self.config.run.name}.safetensors"
        try:
            return save_safetensors(
                self.stage.export_model.state_dict(), path, config=self.config.model.to_dict(),
                metadata={"mmrealsr_training_iteration": str(self.iteration),
                          "mmrealsr_training_config": json.dumps(self.config.to_dict(), sort_keys=True)},
            )
        except Exception as exc:  # safetensors reports a full disk as its own SafetensorError
            raise CheckpointError(
                f"cannot write the weights of iteration {self.iteration} to {path} ({exc}); nothing was lost: the "
                f"checkpoints in {self.ckpt_dir} hold them. Free space and rerun with --resume to export again"
            ) from exc

    def replica_digests(self) -> list[str]:
        """sha256 of the trained network on every rank (one entry when not distributed)."""
        digest = hashlib.sha256()
        for key, value in self.stage.trained.state_dict().items():
            digest.update(key.encode())
            digest.update(value.detach().cpu().contiguous().numpy().tobytes())
        return [str(d) for d in self._gather(digest.hexdigest())]

    def _gather(self, local: Any) -> list[Any]:
        """Every rank's ``local`` on every rank (a one-item list when not distributed)."""
        if not self.dist.enabled:
            return [local]
        gathered: list[Any] = [None] * self.dist.world_size
        dist.all_gather_object(gathered, local)
        return gathered

    # ------------------------------------------------------------------------------------ checkpoints
    def save(self) -> Path | None:
        """Write a checkpoint; collective under torchrun (every rank's RNG and data), only rank 0 writes."""
        per_rank = self._gather({"rng": rng_state(), "data": self.stage.batches.state_dict()})
        self.saved_iteration = self.iteration
        if not self.dist.is_main:
            return None
        tensors, stage_state = self.stage.state_dict()
        state = {"iteration": self.iteration, "world_size": self.dist.world_size, **stage_state, "ranks": per_rank}
        checkpoint = Checkpoint(self.iteration, self.config.to_dict(), tensors, state)
        return save_checkpoint(self.ckpt_dir, checkpoint, self.config.run.keep_checkpoints,
                               self.config.model.to_dict())

    def resume(self) -> bool:
        """Load the latest complete checkpoint of this run; False when there is none yet."""
        folder = latest_checkpoint(self.ckpt_dir)
        if folder is None:
            return False
        ckpt = load_checkpoint(folder)
        try:
            stored = _flatten(config_from_dict(ckpt.config).to_dict())
        except TrainingConfigError as exc:
            raise damaged(folder, "its config.json is not a valid training config", exc) from None
        current = _flatten(self.config.to_dict())
        changed = sorted(k for k in stored.keys() | current.keys()
                         if stored.get(k) != current.get(k) and k not in RESUMABLE_CHANGES)
        if changed:
            raise CheckpointError(
                f"{folder}: the config differs from the checkpoint's in {changed}; only {sorted(RESUMABLE_CHANGES)} "
                "may change on --resume. Use the same config (the checkpoint's is in config.json) or a new run.name"
            )
        if ckpt.state["world_size"] != self.dist.world_size:
            raise CheckpointError(
                f"{folder} was written by {ckpt.state['world_size']} process(es) but this run has "
                f"{self.dist.world_size}; the per-process data streams cannot be split differently. Resume with the "
                "same torchrun size, or start a new run with init.generator set to the exported weights"
            )
        try:
            self.stage.load_state_dict(ckpt.tensors, ckpt.state)
            mine = ckpt.state["ranks"][self.dist.rank]
            self.stage.batches.load_state_dict(mine["data"])
            set_rng_state(mine["rng"])
        except (KeyError, IndexError, TypeError, ValueError, RuntimeError) as exc:
            raise damaged(folder, "its contents do not fit this run's models", f"{type(exc).__name__}: {exc}") from None
        self.iteration = self.saved_iteration = ckpt.iteration
        return True

    def close(self) -> None:
        self.log.close()


def _flatten(state: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in state.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def train(config: TrainConfig, resume: bool = False, on_checkpoint: CheckpointHook | None = None) -> Path | None:
    """Run (or continue) a training run; returns the exported EMA weights on the main process.

    Every path of the config is checked first; the models are built (every weights file read) before the main
    process claims the run folder, refusing one that holds an earlier run unless ``resume``.
    """
    check_paths(config)
    dist_info = setup_distributed(config.run.device)
    finished = False
    try:
        trainer = Trainer(config, dist_info)  # reads every weights file; writes nothing
        try:
            with claim_run_folder(config.output_dir, resume) if dist_info.is_main else contextlib.nullcontext():
                if resume and trainer.resume():
                    trainer.log({"event": "resume", "iter": trainer.iteration})
                if dist_info.is_main:
                    with atomic_path(trainer.out_dir / "config.json") as part:
                        part.write_text(json.dumps(config.to_dict(), indent=2))
                exported = trainer.fit(on_checkpoint)
        finally:
            trainer.close()
        finished = True
        return exported
    finally:
        teardown_distributed(wait_for_peers=finished)
