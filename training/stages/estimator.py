"""Stage ``estimator``: metric learning of the degradation estimator alone (ranking + anchors, plus the
single-factor contrast pairs when ``losses.factor_rank`` > 0); the rest of the generator is exported unchanged."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from ..contrast import stacked
from .base import MMRealSRStage


class EstimatorStage(MMRealSRStage):
    name = "estimator"
    validates_psnr: ClassVar[bool] = False

    def optimized(self) -> nn.Module:
        return self.generator.de_net

    def build_losses(self) -> None:
        self.step_module = self.distributed(self.generator.de_net)

    def step(self, batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> dict[str, float]:
        """``batch`` = (lq5 (5, B, 3, h, w), GT sharpened, GT plain); only the LQs are scored."""
        lq5 = batch[0]
        count = lq5.shape[1]
        lq = lq5.flatten(0, 1).to(self.device, memory_format=torch.channels_last)
        pairs = self.factor_pairs(lq5)
        scored = torch.cat([lq, stacked(pairs)]) if pairs else lq
        with self.autocast():
            scores = self.step_module(scored).float()
        parts = self.estimator_parts(scores, count, pairs)
        total = self.estimator_objective(parts)
        self.optimize(self.opt_g, total)
        self.finish_step()
        return {k: float(v.detach()) for k, v in {**parts, "total": total}.items()}
