"""Stage ``severity``: the estimator alone, taught what its scores mean across photos (see :mod:`..severity`).

Every step draws ``[severity] groups`` clean patches of the training photos, renders each as a severity group
(background degradation, blur moved, noise or JPEG moved, clean, most severe) and ranks the estimator's logits
by the known levels. The rest of the generator is exported unchanged, so the stage's output is a whole model
whose restoration is the initial one (e.g. Real-ESRGAN x4plus with identity modulations).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from ..config import TrainConfig
from ..distributed import DistInfo
from ..ema import EMA
from ..models import build_generator
from ..photo_patches import PhotoPatches
from ..severity import SeverityBatch, sample_groups, severity_losses, total_loss
from .base import GeneratorHolder


class SeverityBatches:
    """Severity groups of random photo patches, drawn from a generator the stage owns (bit-exact resume)."""

    def __init__(self, config: TrainConfig, seed: int) -> None:
        self.settings = config.severity
        self.photos = PhotoPatches(config.data.train_dirs)
        self.generator = torch.Generator().manual_seed(seed)

    def next(self) -> SeverityBatch:
        bases = self.photos.sample(self.settings.groups, self.settings.patch_size, self.generator)
        return sample_groups(bases, self.settings.groups_config, self.generator)

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])


def highpass_init_(estimator: nn.Module, gain: float) -> None:
    """Make every branch's first convolution zero-mean per filter (it then sees no flat colour, only structure:
    noise, edges, 8x8 JPEG blocks) and scale it by ``gain`` so the small deviations of mild noise are not lost."""
    with torch.no_grad():
        for conv in estimator.conv_first:
            conv.weight.sub_(conv.weight.mean(dim=(2, 3), keepdim=True)).mul_(gain)
            conv.bias.zero_()


class SeverityStage(GeneratorHolder):
    name = "severity"
    validates_psnr: ClassVar[bool] = False

    def __init__(self, config: TrainConfig, dist: DistInfo) -> None:
        super().__init__(config, dist)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.run.seed)
            self.generator = build_generator(config).to(self.device, memory_format=torch.channels_last)
        if config.severity.highpass_init > 0:
            highpass_init_(self.generator.de_net, config.severity.highpass_init)
        self.generator.requires_grad_(False)
        self.generator.de_net.requires_grad_(True)
        self.ema = EMA(self.generator, config.optim.ema_decay) if config.optim.ema_decay > 0 else None
        self.step_module = self.distributed(_Logits(self.generator.de_net))
        self.opt_g, self.sched_g = self.adam(self.generator.de_net.parameters(), config.optim.lr_g)
        self.batches = SeverityBatches(config, seed=config.run.seed + 1000 * dist.rank)

    def step(self, batch: SeverityBatch) -> dict[str, float]:
        images = batch.images.to(self.device, memory_format=torch.channels_last)
        with self.autocast():
            logits = self.step_module(images).float()
        losses = severity_losses(logits.cpu(), batch, self.config.severity.losses)  # the levels live on the CPU
        total = total_loss(losses, self.config.severity.losses)
        self.optimize(self.opt_g, total)
        self.finish_step()
        return {k: float(v.detach()) for k, v in {**losses, "total": total}.items()}

    @property
    def trained(self) -> nn.Module:
        return self.generator.de_net


class _Logits(nn.Module):
    """The estimator's logits as a module's forward, so data-parallel training sees one call."""

    def __init__(self, estimator: nn.Module) -> None:
        super().__init__()
        self.estimator = estimator

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.estimator.logits(images)
