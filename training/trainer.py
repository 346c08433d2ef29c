"""The MM-RealSR trainer: both official stages and an estimator-only mode, in one readable loop.

Single process::

    mmrealsr train training/configs/mmrealsr_net_x4.toml
    mmrealsr train training/configs/mmrealsr_net_x4.toml --resume --set run.total_iter=80000

Data parallel on 4 GPUs of one node, or 2 nodes x 8 GPUs::

    torchrun --standalone --nproc_per_node=4 -m mmrealsr_plugin train CONFIG
    torchrun --nnodes=2 --nproc_per_node=8 --node_rank=0 --master_addr=HOST --master_port=29500 \
        -m mmrealsr_plugin train CONFIG

Stage ``net`` (stage 1): L1 on all 5 outputs (x1, x2, x3 and both anchors, against the same GT)
+ blur/noise ranking + anchor losses; the estimator learns jointly and its scores carry gradient.
Stage ``gan`` (stage 2): L1 + perceptual + GAN with a U-Net discriminator; the estimator is frozen
(its ranking/anchor losses are only logged). Stage ``estimator``: only the estimator, ranking +
anchors. In all stages the anchors condition the trunk with the constants 0 (a_min) and 1 (a_max).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn import functional as F
from torch.nn.parallel import DistributedDataParallel as DDP

from mmrealsr_plugin.archs.mmrealsr import MMRealSR
from mmrealsr_plugin.atomic import atomic_path
from mmrealsr_plugin.errors import CheckpointError, DatasetError, TrainingConfigError, TrainingDivergedError
from mmrealsr_plugin.imageio import list_images
from mmrealsr_plugin.weights import save_safetensors
from .checkpoint import Checkpoint, damaged, latest_checkpoint, load_checkpoint, save_checkpoint
from .config import TrainConfig, config_from_dict
from .contrast import FactorPairs, factor_losses, single_factor_pairs, stacked
from .distributed import DistInfo, setup_distributed, teardown_distributed
from .ema import EMA
from .losses import PerceptualLoss, estimator_losses, gan_loss
from .models import build_discriminator, build_generator
from .preflight import check_paths, claim_run_folder
from .validation import estimator_sweep, paired_psnr
from .vgg import load_vgg19

RESUMABLE_CHANGES = {"run.total_iter", "run.time_limit_minutes", "run.log_every", "run.val_every", "run.checkpoint_every",
                     "run.keep_checkpoints", "run.progress", "run.threads", "hub.repo", "hub.every", "hub.private"}
"""Config keys that may differ between a checkpoint and the run that resumes it."""


class GeneratorStep(nn.Module):
    """Scores then restoration of the stacked 5-tuple, as one module so DDP sees a single forward.

    The anchors (last 2B images) condition the trunk with constant scores 0 and 1, not their estimates.
    """

    def __init__(self, model: MMRealSR, frozen_estimator: bool) -> None:
        super().__init__()
        self.model = model
        self.frozen_estimator = frozen_estimator

    def forward(
        self, lq: torch.Tensor, batch: int, extra: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Restore ``lq`` (5B images); return the SR and the scores of ``lq`` followed by those of ``extra``
        (images only scored, e.g. the single-factor contrast pairs)."""
        scored = lq if extra is None else torch.cat([lq, extra])
        with torch.no_grad() if self.frozen_estimator else contextlib.nullcontext():
            scores = self.model.estimate(scored)
        if self.frozen_estimator:
            scores = scores.detach()
        anchors = torch.cat([scores.new_zeros(batch, scores.shape[1]), scores.new_ones(batch, scores.shape[1])])
        condition = torch.cat([scores[: 3 * batch], anchors])
        return self.model(lq, condition), scores


def _flatten_state(state: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in state.items():
        if isinstance(value, dict):
            flat.update(_flatten_state(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


class Trainer:
    """Owns the models, optimizers, data source and run folder of one training process."""

    def __init__(self, config: TrainConfig, dist_info: DistInfo | None = None) -> None:
        self.config = config
        self.dist = dist_info or setup_distributed(config.run.device)
        self.device = self.dist.device
        run = config.run
        if run.threads and self.device.type == "cpu":
            torch.set_num_threads(run.threads)
        if self.device.type == "cpu":
            # Gradients and Adam moments of the 0.1-scaled dense blocks decay into denormal floats, which
            # x86 CPUs process far slower: official-size CPU iterations went 28, 57, 73, 87 s before this, ~30 s flat after.
            torch.set_flush_denormal(True)
        self.stage = run.stage
        self.iteration = 0
        self.saved_iteration = 0
        """The iteration of the newest checkpoint this run wrote or resumed from."""
        self.out_dir = config.output_dir
        self.ckpt_dir = self.out_dir / "checkpoints"
        self._seed_everything(run.seed + self.dist.rank)

        # Models: the same seed on every rank builds identical replicas (DDP also broadcasts rank 0's).
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(run.seed)
            # channels-last: the convolution layout oneDNN and cuDNN (bf16 tensor cores) run fastest
            self.generator = build_generator(config).to(self.device, memory_format=torch.channels_last)
        frozen = self.stage == "gan"
        if frozen:
            self.generator.de_net.requires_grad_(False)
        _freeze(self.generator, config.optim.freeze)
        self.ema = EMA(self.generator, config.optim.ema_decay) if config.optim.ema_decay > 0 else None
        trainable = self.generator.de_net if self.stage == "estimator" else self.generator
        self.opt_g = torch.optim.Adam(
            [p for p in trainable.parameters() if p.requires_grad], lr=config.optim.lr_g,
            betas=tuple(config.optim.betas), weight_decay=config.optim.weight_decay,  # type: ignore[arg-type]
        )
        self.sched_g = torch.optim.lr_scheduler.MultiStepLR(self.opt_g, list(config.optim.milestones), config.optim.gamma)
        step_module: nn.Module = self.generator.de_net if self.stage == "estimator" else GeneratorStep(self.generator, frozen)
        self.step_module = DDP(step_module, device_ids=self._ddp_ids()) if self.dist.enabled else step_module

        self.discriminator: nn.Module | None = None
        if self.stage == "gan" and config.losses.gan > 0:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(run.seed + 1)
                self.discriminator = build_discriminator(config).to(self.device, memory_format=torch.channels_last)
            self.d_step = DDP(self.discriminator, device_ids=self._ddp_ids()) if self.dist.enabled else self.discriminator
            self.opt_d = torch.optim.Adam(
                self.discriminator.parameters(), lr=config.optim.lr_d, betas=tuple(config.optim.betas),  # type: ignore[arg-type]
                weight_decay=config.optim.weight_decay,
            )
            self.sched_d = torch.optim.lr_scheduler.MultiStepLR(self.opt_d, list(config.optim.milestones), config.optim.gamma)
        self.perceptual = None
        if self.stage != "estimator" and config.losses.perceptual > 0:
            layers = tuple(config.losses.perceptual_layers)
            self.perceptual = PerceptualLoss(load_vgg19(layers, config.losses.vgg_weights), config.losses.perceptual_layers)
            self.perceptual.to(self.device)

        from .data_source import TrainingBatches

        synthesis = self.device if config.data.synthesis_device == "train" else torch.device("cpu")
        self.batches = TrainingBatches(config, seed=run.seed + 1000 * self.dist.rank, device=synthesis)
        self.autocast_dtype = torch.bfloat16 if run.precision == "bf16" and self.device.type == "cuda" else None
        self._metrics_file = None
        self._tensorboard = None

    # ----------------------------------------------------------------------------------------------- set-up
    def _ddp_ids(self) -> list[int] | None:
        return [self.device.index] if self.device.type == "cuda" else None

    @staticmethod
    def _seed_everything(seed: int) -> None:
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    # ------------------------------------------------------------------------------------------------- step
    def train_step(self, lq5: torch.Tensor, gt_usm: torch.Tensor, gt_plain: torch.Tensor) -> dict[str, float]:
        """One optimisation step on a batch: lq5 (5, B, 3, h, w), GTs (B, 3, H, W). Returns loss values."""
        cfg = self.config.losses
        batch = lq5.shape[1]
        layout = torch.channels_last
        lq = lq5.flatten(0, 1).to(self.device, memory_format=layout)
        gt_usm, gt_plain = gt_usm.to(self.device, memory_format=layout), gt_plain.to(self.device, memory_format=layout)
        logs: dict[str, torch.Tensor] = {}

        pairs = self._factor_pairs(lq5) if cfg.factor_rank > 0 else []
        extra = stacked(pairs) if pairs else None
        if self.stage == "estimator":
            with self._autocast():
                scores = self.step_module(lq if extra is None else torch.cat([lq, extra])).float()
            parts = self._estimator_parts(scores, batch, pairs)
            total = self._estimator_objective(parts)
            logs.update(parts)
            self._optimize(self.opt_g, total)
        else:
            with self._autocast():
                sr, scores = self.step_module(lq, batch, extra)
            sr, scores = sr.float(), scores.float()
            parts = self._estimator_parts(scores, batch, pairs)
            logs.update(parts)
            l1_target = (gt_usm if cfg.l1_gt_usm else gt_plain).repeat(5, 1, 1, 1)
            logs["l1"] = F.l1_loss(sr, l1_target)
            total = cfg.l1 * logs["l1"]
            if self.stage == "net":  # stage 2 logs the estimator losses but does not optimise them
                total = total + self._estimator_objective(parts)
            if self.perceptual is not None:
                target = (gt_usm if cfg.perceptual_gt_usm else gt_plain).repeat(5, 1, 1, 1)
                with self._autocast():
                    logs["perceptual"] = self.perceptual(sr, target).float()
                total = total + cfg.perceptual * logs["perceptual"]
            if self.discriminator is not None:
                self.discriminator.requires_grad_(False)
                with self._autocast():
                    logs["g_gan"] = gan_loss(self.discriminator(sr).float(), real=True)
                total = total + cfg.gan * logs["g_gan"]
            self._optimize(self.opt_g, total)
            if self.discriminator is not None:
                self.discriminator.requires_grad_(True)
                real = (gt_usm if cfg.gan_gt_usm else gt_plain).repeat(5, 1, 1, 1)
                with self._autocast():
                    logits = self.d_step(torch.cat([real, sr.detach()])).float()
                real_logits, fake_logits = logits.split(real.shape[0])
                logs["d_real"] = gan_loss(real_logits, real=True)
                logs["d_fake"] = gan_loss(fake_logits, real=False)
                self._optimize(self.opt_d, logs["d_real"] + logs["d_fake"])
                self.sched_d.step()
        self.sched_g.step()
        if self.ema is not None:
            self.ema.update(self.generator)
        logs["total"] = total
        return {k: float(v.detach()) for k, v in logs.items()}

    def _factor_pairs(self, lq5: torch.Tensor) -> list[FactorPairs]:
        """Single-factor contrast pairs built on the x1 and a_min images, drawn from the batch generator
        (so a resumed run draws the same pairs)."""
        base = torch.cat([lq5[0], lq5[3]]).to(self.device)
        return single_factor_pairs(base, self.batches.generator)

    def _estimator_parts(self, scores: torch.Tensor, batch: int, pairs: list[FactorPairs]) -> dict[str, torch.Tensor]:
        """Official ranking/anchor terms on the 5-tuple, then one ranking term per contrast factor."""
        parts = estimator_losses(scores[: 5 * batch], batch, self.config.losses.rank_margin)
        parts.update(factor_losses(scores[5 * batch:], pairs, self.config.losses.rank_margin))
        return parts

    def _estimator_objective(self, parts: dict[str, torch.Tensor]) -> torch.Tensor:
        """The weighted estimator loss: ranking + anchors (the paper) + contrast pairs (``factor_rank``)."""
        cfg = self.config.losses
        factors = [v for k, v in parts.items() if k.startswith("factor_")]
        total = cfg.rank * (parts["rank_blur"] + parts["rank_noise"]) + cfg.anchor * parts["anchor"]
        return total + cfg.factor_rank * sum(factors) if factors else total

    @staticmethod
    def _optimize(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    # ------------------------------------------------------------------------------------- checkpointing
    @property
    def export_model(self) -> MMRealSR:
        """The weights meant for inference: the EMA when enabled."""
        return self.ema.shadow if self.ema is not None else self.generator  # type: ignore[return-value]

    def _rng_state(self) -> dict[str, Any]:
        np_state = np.random.get_state()
        state: dict[str, Any] = {
            "torch": torch.get_rng_state(),
            "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                      "has_gauss": int(np_state[3]), "cached": float(np_state[4])},
            "python": random.getstate(),
        }
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def _set_rng_state(self, state: dict[str, Any]) -> None:
        torch.set_rng_state(state["torch"])
        numpy = state["numpy"]
        np.random.set_state(("MT19937", numpy["keys"].numpy().astype(np.uint32), numpy["pos"], numpy["has_gauss"],
                             numpy["cached"]))
        random.setstate(_as_tuple(state["python"]))
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])

    def _gather(self, local: Any) -> list[Any]:
        """Every rank's ``local`` on every rank (a one-item list when not distributed)."""
        if not self.dist.enabled:
            return [local]
        gathered: list[Any] = [None] * self.dist.world_size
        dist.all_gather_object(gathered, local)
        return gathered

    def save(self) -> Path | None:
        """Write a checkpoint; collective under torchrun (every rank's RNG and pool), only rank 0 writes."""
        per_rank = self._gather({"rng": self._rng_state(), "data": self.batches.state_dict()})
        self.saved_iteration = self.iteration
        if not self.dist.is_main:
            return None
        tensors = {"generator": self.generator.state_dict()}
        if self.ema is not None:
            tensors["generator_ema"] = self.ema.state_dict()
        if self.discriminator is not None:
            tensors["discriminator"] = self.discriminator.state_dict()
        state: dict[str, Any] = {
            "iteration": self.iteration, "world_size": self.dist.world_size,
            "opt_g": self.opt_g.state_dict(), "sched_g": self.sched_g.state_dict(),
            "ranks": per_rank,
        }
        if self.discriminator is not None:
            state["opt_d"], state["sched_d"] = self.opt_d.state_dict(), self.sched_d.state_dict()
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
            stored = _flatten_state(config_from_dict(ckpt.config).to_dict())
        except TrainingConfigError as exc:
            raise damaged(folder, "its config.json is not a valid training config", exc) from None
        current = _flatten_state(self.config.to_dict())
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
            self._load_states(ckpt)
        except (KeyError, IndexError, TypeError, ValueError, RuntimeError) as exc:
            raise damaged(folder, "its contents do not fit this run's models", f"{type(exc).__name__}: {exc}") from None
        self.iteration = self.saved_iteration = ckpt.iteration
        return True

    def _load_states(self, ckpt: Checkpoint) -> None:
        self.generator.load_state_dict(ckpt.tensors["generator"], strict=True)
        if self.ema is not None:
            self.ema.load_state_dict(ckpt.tensors["generator_ema"])
        if self.discriminator is not None:
            self.discriminator.load_state_dict(ckpt.tensors["discriminator"], strict=True)
            self.opt_d.load_state_dict(ckpt.state["opt_d"])
            self.sched_d.load_state_dict(ckpt.state["sched_d"])
        self.opt_g.load_state_dict(ckpt.state["opt_g"])
        self.sched_g.load_state_dict(ckpt.state["sched_g"])
        mine = ckpt.state["ranks"][self.dist.rank]
        self.batches.load_state_dict(mine["data"])
        self._set_rng_state(mine["rng"])

    def export(self, path: Path | None = None) -> Path:
        """Write the inference weights (official key layout, config in the metadata) as safetensors."""
        path = path or self.out_dir / "final" / f"{self.config.run.name}.safetensors"
        try:
            return save_safetensors(
                self.export_model.state_dict(), path, config=self.config.model.to_dict(),
                metadata={"mmrealsr_training_iteration": str(self.iteration),
                          "mmrealsr_training_config": json.dumps(self.config.to_dict(), sort_keys=True)},
            )
        except Exception as exc:  # safetensors reports a full disk as its own SafetensorError
            raise CheckpointError(
                f"cannot write the weights of iteration {self.iteration} to {path} ({exc}); nothing was lost: the "
                f"checkpoints in {self.ckpt_dir} hold them. Free space and rerun with --resume to export again"
            ) from exc

    # ----------------------------------------------------------------------------------- logging, val
    def log(self, record: dict[str, Any]) -> None:
        """Append one JSON line to metrics.jsonl (and TensorBoard scalars when it is installed)."""
        if not self.dist.is_main:
            return
        if self._metrics_file is None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self._metrics_file = (self.out_dir / "metrics.jsonl").open("a", encoding="utf-8")
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tensorboard = SummaryWriter(str(self.out_dir / "tensorboard"))
            except ImportError:
                self._tensorboard = None
        self._metrics_file.write(json.dumps(record, sort_keys=True) + "\n")
        self._metrics_file.flush()
        if self._tensorboard is not None and "iter" in record:
            for key, value in record.items():
                if isinstance(value, (int, float)) and key != "iter":
                    self._tensorboard.add_scalar(f"{record.get('event', 'train')}/{key}", value, record["iter"])

    def validate(self) -> dict[str, float]:
        data = self.config.data
        model = self.export_model
        was_training = model.training
        model.eval()
        result: dict[str, float] = {}
        if data.val_dir and self.stage != "estimator":
            result["psnr"] = paired_psnr(model, data.val_dir, self.device, data.val_max_images)
        if data.val_sweep_dir:
            sweep = estimator_sweep(model, list_images(data.val_sweep_dir, limit=data.val_max_images), self.device)
            result.update(sweep.to_dict())
        model.train(was_training)
        return result

    def replica_digests(self) -> list[str]:
        """sha256 of the generator weights on every rank (one entry when not distributed)."""
        digest = hashlib.sha256()
        for key, value in self.generator.state_dict().items():
            digest.update(key.encode())
            digest.update(value.detach().cpu().contiguous().numpy().tobytes())
        mine = digest.hexdigest()
        if not self.dist.enabled:
            return [mine]
        gathered: list[Any] = [None] * self.dist.world_size
        dist.all_gather_object(gathered, mine)
        return [str(d) for d in gathered]

    # -------------------------------------------------------------------------------------------- loop
    def fit(self, on_checkpoint: Any = None) -> Path | None:
        """Train to ``run.total_iter``; returns the exported weights path on the main process."""
        run = self.config.run
        self.log({"event": "start", "iter": self.iteration, "config": self.config.to_dict(),
                  "world_size": self.dist.world_size, "device": str(self.device)})
        progress = None
        if run.progress and self.dist.is_main:
            from tqdm import tqdm

            progress = tqdm(total=run.total_iter, initial=self.iteration, desc=f"{run.name} [{self.stage}]",
                            unit="it", dynamic_ncols=True)
        started = time.perf_counter()
        while self.iteration < run.total_iter and not self._out_of_time(started):
            losses = self.train_step(*self._next_batch())
            self._check_finite(losses)
            self.iteration += 1
            if progress is not None:
                progress.update(1)
                progress.set_postfix(loss=f"{losses['total']:.4f}")
            if self.iteration % run.log_every == 0 or self.iteration == run.total_iter:
                elapsed = time.perf_counter() - started
                self.log({"event": "train", "iter": self.iteration, "lr": self.sched_g.get_last_lr()[0],
                          "seconds": round(elapsed, 3), **losses})
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

    def _next_batch(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The next batch; an unreadable training image first saves what was trained since the last checkpoint.

        The models are between two steps then, so the checkpoint is as good as a scheduled one. Under torchrun
        the peers are inside a collective, so the failing rank only reports (its peers are stopped by torchrun).
        """
        try:
            return self.batches.next()
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
        flag = torch.tensor([float(time.perf_counter() - started > 60 * limit)], device=self.device)
        if self.dist.enabled:
            dist.broadcast(flag, src=0)
        if flag.item() and self.dist.is_main:
            self.log({"event": "time_limit", "iter": self.iteration, "minutes": limit})
        return bool(flag.item())

    def close(self) -> None:
        if self._metrics_file is not None:
            self._metrics_file.close()
        if self._tensorboard is not None:
            self._tensorboard.close()


def _freeze(model: nn.Module, prefixes: tuple[str, ...]) -> None:
    """Stop gradients for parameters under each state-dict prefix; a prefix matching nothing is an error."""
    for prefix in prefixes:
        matched = [p for name, p in model.named_parameters() if name == prefix or name.startswith(prefix + ".")]
        if not matched:
            top = sorted({name.split(".")[0] for name, _ in model.named_parameters()})
            raise TrainingConfigError(f"optim.freeze: {prefix!r} names no generator parameter; top-level modules: {top}")
        for parameter in matched:
            parameter.requires_grad_(False)


def _as_tuple(value: Any) -> Any:
    """random.setstate needs tuples where torch.load may give lists."""
    if isinstance(value, (list, tuple)):
        return tuple(_as_tuple(v) for v in value)
    return value


def train(config: TrainConfig, resume: bool = False, on_checkpoint: Any = None) -> Path | None:
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
                if resume and trainer.resume() and dist_info.is_main:
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
