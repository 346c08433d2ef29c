"""Stages ``net`` (stage 1) and ``gan`` (stage 2): the whole generator, restoring the five degraded versions.

``net``: L1 on all 5 outputs (x1, x2, x3 and both anchors, against the same GT) + blur/noise ranking + anchor
losses; the estimator learns jointly and its scores carry gradient. ``gan``: L1 + perceptual + GAN with a U-Net
discriminator; the estimator is frozen (its ranking/anchor losses are only logged). In both the anchors condition
the trunk with the constants 0 (a_min) and 1 (a_max). A perceptual loss may be added to either.
"""

from __future__ import annotations

import contextlib
from typing import Any, ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from mmrealsr_plugin.archs.mmrealsr import MMRealSR

from ..contrast import stacked
from ..losses import PerceptualLoss, gan_loss
from ..models import build_discriminator
from ..vgg import load_vgg19
from .base import MMRealSRStage, Tensors


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


class GeneratorStage(MMRealSRStage):
    """Stage 1 (``net``)."""

    name = "net"
    optimizes_estimator: ClassVar[bool] = True
    """Add the estimator's ranking/anchor objective to the generator's loss (stage 2 only logs it)."""

    def build_losses(self) -> None:
        self.step_module = self.distributed(GeneratorStep(self.generator, self.freezes_estimator))
        self.discriminator: nn.Module | None = None
        self.perceptual: PerceptualLoss | None = None
        losses = self.config.losses
        if losses.perceptual > 0:
            layers = tuple(losses.perceptual_layers)
            self.perceptual = PerceptualLoss(load_vgg19(layers, losses.vgg_weights), losses.perceptual_layers)
            self.perceptual.to(self.device)

    def step(self, batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> dict[str, float]:
        """``batch`` = (lq5 (5, B, 3, h, w), GT sharpened (B, 3, H, W), GT plain (B, 3, H, W))."""
        cfg = self.config.losses
        lq5, gt_usm, gt_plain = batch
        count = lq5.shape[1]
        layout = torch.channels_last
        lq = lq5.flatten(0, 1).to(self.device, memory_format=layout)
        gt_usm, gt_plain = gt_usm.to(self.device, memory_format=layout), gt_plain.to(self.device, memory_format=layout)
        pairs = self.factor_pairs(lq5)
        with self.autocast():
            sr, scores = self.step_module(lq, count, stacked(pairs) if pairs else None)
        sr, scores = sr.float(), scores.float()
        logs: dict[str, torch.Tensor] = dict(self.estimator_parts(scores, count, pairs))
        logs["l1"] = F.l1_loss(sr, (gt_usm if cfg.l1_gt_usm else gt_plain).repeat(5, 1, 1, 1))
        total = cfg.l1 * logs["l1"]
        if self.optimizes_estimator:
            total = total + self.estimator_objective(logs)
        if self.perceptual is not None:
            with self.autocast():
                target = (gt_usm if cfg.perceptual_gt_usm else gt_plain).repeat(5, 1, 1, 1)
                logs["perceptual"] = self.perceptual(sr, target).float()
            total = total + cfg.perceptual * logs["perceptual"]
        if self.discriminator is not None:
            self.discriminator.requires_grad_(False)
            with self.autocast():
                logs["g_gan"] = gan_loss(self.discriminator(sr).float(), real=True)
            total = total + cfg.gan * logs["g_gan"]
        self.optimize(self.opt_g, total)
        if self.discriminator is not None:
            logs.update(self.discriminator_step((gt_usm if cfg.gan_gt_usm else gt_plain).repeat(5, 1, 1, 1), sr))
        self.finish_step()
        logs["total"] = total
        return {k: float(v.detach()) for k, v in logs.items()}

    def discriminator_step(self, real: torch.Tensor, sr: torch.Tensor) -> dict[str, torch.Tensor]:
        raise NotImplementedError("stage 'net' has no discriminator")


class GanStage(GeneratorStage):
    """Stage 2 (``gan``): the estimator frozen, a U-Net discriminator when ``losses.gan`` > 0."""

    name = "gan"
    freezes_estimator = True
    optimizes_estimator = False

    def build_losses(self) -> None:
        super().build_losses()
        if self.config.losses.gan > 0:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.config.run.seed + 1)
                self.discriminator = build_discriminator(self.config).to(self.device, memory_format=torch.channels_last)
            self.d_step = self.distributed(self.discriminator)
            self.opt_d, self.sched_d = self.adam(self.discriminator.parameters(), self.config.optim.lr_d)

    def discriminator_step(self, real: torch.Tensor, sr: torch.Tensor) -> dict[str, torch.Tensor]:
        assert self.discriminator is not None
        self.discriminator.requires_grad_(True)
        with self.autocast():
            logits = self.d_step(torch.cat([real, sr.detach()])).float()
        real_logits, fake_logits = logits.split(real.shape[0])
        logs = {"d_real": gan_loss(real_logits, real=True), "d_fake": gan_loss(fake_logits, real=False)}
        self.optimize(self.opt_d, logs["d_real"] + logs["d_fake"])
        self.sched_d.step()
        return logs

    def state_dict(self) -> tuple[Tensors, dict[str, Any]]:
        tensors, state = super().state_dict()
        if self.discriminator is not None:
            tensors["discriminator"] = self.discriminator.state_dict()
            state.update(opt_d=self.opt_d.state_dict(), sched_d=self.sched_d.state_dict())
        return tensors, state

    def load_state_dict(self, tensors: Tensors, state: dict[str, Any]) -> None:
        super().load_state_dict(tensors, state)
        if self.discriminator is not None:
            self.discriminator.load_state_dict(tensors["discriminator"], strict=True)
            self.opt_d.load_state_dict(state["opt_d"])
            self.sched_d.load_state_dict(state["sched_d"])
