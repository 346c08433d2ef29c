"""The losses of both stages, each a plain function or a small module (weights are applied by the trainer)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .vgg import VGG19Features


def ranking_loss(lower: torch.Tensor, higher: torch.Tensor, margin: float) -> torch.Tensor:
    """mean(max(0, lower - higher + margin)): pushes the score of the more degraded image above the other by the margin."""
    return F.relu(lower - higher + margin).mean()


def anchor_loss(min_scores: torch.Tensor, max_scores: torch.Tensor) -> torch.Tensor:
    """Pins the clean anchor's scores to 0 and the maximally degraded anchor's to 1.

    Sum over scores (blur, noise) of mean(s_min^2) + mean((s_max - 1)^2); inputs are (B, 2).
    """
    return (min_scores.pow(2).mean(0) + (max_scores - 1).pow(2).mean(0)).sum()


def estimator_losses(scores: torch.Tensor, batch: int, margin: float) -> dict[str, torch.Tensor]:
    """Ranking (blur: x1 < x2, noise: x1 < x3) and anchor terms from scores of the stacked 5-tuple (5B, 2)."""
    x1, x2, x3, a_min, a_max = scores.split(batch)
    return {
        "rank_blur": ranking_loss(x1[:, 0], x2[:, 0], margin),
        "rank_noise": ranking_loss(x1[:, 1], x3[:, 1], margin),
        "anchor": anchor_loss(a_min, a_max),
    }


class PerceptualLoss(nn.Module):
    """Weighted sum over VGG19 layers of L1(features(output), features(target)); no style term."""

    def __init__(self, extractor: VGG19Features, layer_weights: dict[str, float]) -> None:
        super().__init__()
        self.extractor = extractor
        self.layer_weights = dict(layer_weights)

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        out_feats = self.extractor(output)
        with torch.no_grad():
            target_feats = self.extractor(target)
        return sum(
            (w * F.l1_loss(out_feats[k], target_feats[k]) for k, w in self.layer_weights.items()),
            output.new_zeros(()),
        )


def gan_loss(logits: torch.Tensor, real: bool) -> torch.Tensor:
    """Vanilla GAN loss: binary cross-entropy on logits against 1 (real) or 0 (fake)."""
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, target)
