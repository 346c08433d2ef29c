"""The degradation estimator (UDEM): one independent CNN branch per score."""

from __future__ import annotations

import torch
from torch import nn

from .blocks import ResidualBlock, _conv3x3
from .config import MMRealSRConfig


def _branch_body(config: MMRealSRConfig) -> nn.Sequential:
    feats, blocks, downs = config.estimator_feats, config.estimator_blocks, config.estimator_downscales
    layers: list[nn.Module] = []
    for stage, (width, count, down) in enumerate(zip(feats, blocks, downs)):
        layers.extend(ResidualBlock(width) for _ in range(count))
        next_width = feats[min(stage + 1, len(feats) - 1)]
        if down == 2:
            layers.append(_conv3x3(width, next_width, stride=2))
        elif next_width != width:
            layers.append(_conv3x3(width, next_width))
    return nn.Sequential(*layers)


class DegradationEstimator(nn.Module):
    """Predicts one score in (0, 1) per degradation (0 = blur, 1 = noise) from an RGB image.

    Global average pooling makes the scores depend on the whole image; callers that tile an
    image must estimate once on the whole image and hold the scores fixed.
    """

    def __init__(self, config: MMRealSRConfig) -> None:
        super().__init__()
        n = config.num_degradation
        last = config.estimator_feats[-1]
        self.conv_first = nn.ModuleList(
            _conv3x3(config.in_channels, config.estimator_feats[0]) for _ in range(n)
        )
        self.body = nn.ModuleList(_branch_body(config) for _ in range(n))
        self.fc_degree = nn.ModuleList(
            nn.Sequential(
                nn.Linear(last, config.estimator_hidden), nn.ReLU(inplace=True),
                nn.Linear(config.estimator_hidden, 1), nn.Sigmoid(),
            )
            for _ in range(n)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return scores of shape (B, num_degradation): column 0 blur, column 1 noise."""
        return torch.sigmoid(self.logits(x))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """The scores before the final sigmoid (B, num_degradation).

        Metric learning acts here: a hinge on a sigmoid that the anchors saturate passes no gradient.
        """
        logits = []
        for conv, body, head in zip(self.conv_first, self.body, self.fc_degree):
            feat = body(conv(x)).mean(dim=(2, 3))
            logits.append(head[:-1](feat))
        return torch.cat(logits, dim=1)
