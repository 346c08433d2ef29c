"""What a training stage is, and the part the three MM-RealSR stages share.

A stage owns its networks, optimizers, EMA, losses and data source. The trainer (:mod:`..trainer`) only calls
``stage.step(stage.batches.next())`` in its loop, validates and exports ``stage.export_model``, and stores
``stage.state_dict()`` in checkpoints. A new stage is one subclass of :class:`Stage` registered in
:data:`mmrealsr_plugin.training.stages.STAGES` plus, when it needs settings of its own, one config section (a
dataclass field of ``TrainConfig``) and its name among ``run.stage``'s choices.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Protocol

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from mmrealsr_plugin.archs.mmrealsr import MMRealSR
from mmrealsr_plugin.errors import TrainingConfigError

from ..config import TrainConfig
from ..contrast import FactorPairs, factor_losses, single_factor_pairs
from ..data_source import TrainingBatches
from ..distributed import DistInfo
from ..ema import EMA
from ..losses import estimator_losses
from ..models import build_generator

Tensors = dict[str, dict[str, torch.Tensor]]
"""Named state dicts a checkpoint stores as safetensors files."""


class BatchSource(Protocol):
    """A stage's data: batches drawn from generators it owns, so its state continues a run bit for bit."""

    def next(self) -> Any: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class Stage(ABC):
    """One way of training: networks, optimizers, losses and data behind ``step(batch) -> metrics``."""

    name: ClassVar[str]
    """The ``run.stage`` value that selects it."""
    validates_psnr: ClassVar[bool] = True
    """Whether the restoration PSNR is worth validating (a stage that trains only the estimator says no)."""
    batches: BatchSource

    def __init__(self, config: TrainConfig, dist: DistInfo) -> None:
        self.config, self.dist, self.device = config, dist, dist.device
        self.autocast_dtype = torch.bfloat16 if config.run.precision == "bf16" and self.device.type == "cuda" else None

    @abstractmethod
    def step(self, batch: Any) -> dict[str, float]:
        """One optimisation step; returns the loss values (``total`` among them) as floats."""

    @property
    @abstractmethod
    def export_model(self) -> MMRealSR:
        """The network meant for inference (the EMA when there is one): validated, checkpointed, exported."""

    @property
    @abstractmethod
    def trained(self) -> nn.Module:
        """The network being optimised (every process must hold the same one: the trainer compares digests)."""

    @abstractmethod
    def lr(self) -> float:
        """The current learning rate, for the log."""

    @abstractmethod
    def state_dict(self) -> tuple[Tensors, dict[str, Any]]:
        """(named state dicts stored as safetensors, everything else stored with ``torch.save``)."""

    @abstractmethod
    def load_state_dict(self, tensors: Tensors, state: dict[str, Any]) -> None:
        """Continue from what :meth:`state_dict` returned (raises KeyError, ValueError ... when it does not fit)."""

    # ------------------------------------------------------------------------------------- helpers for stages
    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    def distributed(self, module: nn.Module) -> nn.Module:
        """``module`` wrapped for data parallel training under torchrun (as is in one process)."""
        if not self.dist.enabled:
            return module
        return DDP(module, device_ids=[self.device.index] if self.device.type == "cuda" else None)

    @staticmethod
    def optimize(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def adam(self, parameters: Any, lr: float) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
        """Adam with ``[optim]``'s betas and weight decay, and its schedule (multi-step or one-cycle)."""
        optim = self.config.optim
        optimizer = torch.optim.Adam(parameters, lr=lr, betas=tuple(optim.betas),  # type: ignore[arg-type]
                                     weight_decay=optim.weight_decay)
        if optim.schedule == "onecycle":
            total = self.config.run.total_iter
            return optimizer, torch.optim.lr_scheduler.OneCycleLR(
                optimizer, lr, total_steps=total + 1, pct_start=optim.warmup, cycle_momentum=False)
        return optimizer, torch.optim.lr_scheduler.MultiStepLR(optimizer, list(optim.milestones), optim.gamma)


class GeneratorHolder(Stage):
    """A stage that trains (part of) one generator: its EMA, one optimizer and schedule, and their checkpoint
    layout (``generator``, ``generator_ema``, ``opt_g``, ``sched_g``), shared by every stage."""

    generator: MMRealSR
    ema: EMA | None
    opt_g: torch.optim.Optimizer
    sched_g: torch.optim.lr_scheduler.LRScheduler

    @property
    def trained(self) -> nn.Module:
        return self.generator

    @property
    def export_model(self) -> MMRealSR:
        return self.ema.shadow if self.ema is not None else self.generator  # type: ignore[return-value]

    def lr(self) -> float:
        return float(self.sched_g.get_last_lr()[0])

    def finish_step(self) -> None:
        """After the optimizer steps: the generator's schedule and its EMA."""
        self.sched_g.step()
        if self.ema is not None:
            self.ema.update(self.generator)

    def state_dict(self) -> tuple[Tensors, dict[str, Any]]:
        tensors = {"generator": self.generator.state_dict()}
        if self.ema is not None:
            tensors["generator_ema"] = self.ema.state_dict()
        return tensors, {"opt_g": self.opt_g.state_dict(), "sched_g": self.sched_g.state_dict()}

    def load_state_dict(self, tensors: Tensors, state: dict[str, Any]) -> None:
        self.generator.load_state_dict(tensors["generator"], strict=True)
        if self.ema is not None:
            self.ema.load_state_dict(tensors["generator_ema"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.sched_g.load_state_dict(state["sched_g"])


class MMRealSRStage(GeneratorHolder):
    """The generator (with its estimator), its EMA and optimizer, the five-way degraded batches, and the estimator's
    metric-learning losses: what the ``net``, ``gan`` and ``estimator`` stages share."""

    freezes_estimator: ClassVar[bool] = False
    """Keep ``de_net`` fixed (stage 2 trains on its scores without changing them)."""

    def __init__(self, config: TrainConfig, dist: DistInfo) -> None:
        super().__init__(config, dist)
        run = config.run
        # The same seed on every rank builds identical replicas (DDP also broadcasts rank 0's); channels-last is
        # the convolution layout oneDNN and cuDNN (bf16 tensor cores) run fastest.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(run.seed)
            self.generator = build_generator(config).to(self.device, memory_format=torch.channels_last)
        if self.freezes_estimator:
            self.generator.de_net.requires_grad_(False)
        _freeze(self.generator, config.optim.freeze)
        self.ema = EMA(self.generator, config.optim.ema_decay) if config.optim.ema_decay > 0 else None
        parameters = [p for p in self.optimized().parameters() if p.requires_grad]
        self.opt_g, self.sched_g = self.adam(parameters, config.optim.lr_g)
        self.build_losses()
        synthesis = self.device if config.data.synthesis_device == "train" else torch.device("cpu")
        self.batches = TrainingBatches(config, seed=run.seed + 1000 * dist.rank, device=synthesis)

    def optimized(self) -> nn.Module:
        """The part of the generator the optimizer updates (its parameters that require gradients)."""
        return self.generator

    def build_losses(self) -> None:
        """Make the step module and the networks the losses need (after the generator's optimizer, before the data:
        the order the random draws follow)."""

    def factor_pairs(self, lq5: torch.Tensor) -> list[FactorPairs]:
        """Single-factor contrast pairs built on the x1 and a_min images, drawn from the batch generator
        (so a resumed run draws the same pairs); none when ``losses.factor_rank`` is 0."""
        if self.config.losses.factor_rank <= 0:
            return []
        return single_factor_pairs(torch.cat([lq5[0], lq5[3]]).to(self.device), self.batches.generator)

    def estimator_parts(self, scores: torch.Tensor, batch: int, pairs: list[FactorPairs]) -> dict[str, torch.Tensor]:
        """Official ranking/anchor terms on the 5-tuple, then one ranking term per contrast factor."""
        margin = self.config.losses.rank_margin
        parts = estimator_losses(scores[: 5 * batch], batch, margin)
        parts.update(factor_losses(scores[5 * batch:], pairs, margin))
        return parts

    def estimator_objective(self, parts: dict[str, torch.Tensor]) -> torch.Tensor:
        """The weighted estimator loss: ranking + anchors (the paper) + contrast pairs (``factor_rank``)."""
        cfg = self.config.losses
        factors = [v for k, v in parts.items() if k.startswith("factor_")]
        total = cfg.rank * (parts["rank_blur"] + parts["rank_noise"]) + cfg.anchor * parts["anchor"]
        return total + cfg.factor_rank * sum(factors) if factors else total


def _freeze(model: nn.Module, prefixes: tuple[str, ...]) -> None:
    """Stop gradients for parameters under each state-dict prefix; a prefix matching nothing is an error."""
    for prefix in prefixes:
        matched = [p for name, p in model.named_parameters() if name == prefix or name.startswith(prefix + ".")]
        if not matched:
            top = sorted({name.split(".")[0] for name, _ in model.named_parameters()})
            raise TrainingConfigError(f"optim.freeze: {prefix!r} names no generator parameter; top-level modules: {top}")
        for parameter in matched:
            parameter.requires_grad_(False)
