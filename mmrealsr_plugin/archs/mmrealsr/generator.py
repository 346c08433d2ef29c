"""The MM-RealSR generator: an RRDB trunk modulated by the degradation scores."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .blocks import RRDB, AffineModulation, UpsamplingTail, _conv3x3
from .config import MMRealSRConfig
from .estimator import DegradationEstimator


TAIL_ROWS = 32
"""Low-resolution rows per strip of the upsampling tail at inference."""
TAIL_HALO = 2
"""Extra rows of context on each side of a tail strip (the tail's receptive field is < 1 row)."""


class MMRealSR(UpsamplingTail, nn.Module):
    """Generator with its estimator; state-dict keys match the official checkpoints.

    ``forward(x, scores)`` restores ``x`` with explicit scores of shape (B, 2) = [blur, noise];
    ``estimate(x)`` predicts those scores. Keeping the two apart is what lets a caller estimate
    once on a whole image and then hold the scores fixed over tiles, or set them by hand.
    Unlike the official code, x2 and x1 models run: the estimator always sees the raw RGB input.
    """

    def __init__(self, config: MMRealSRConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or MMRealSRConfig()
        trunk_in = config.in_channels * config.unshuffle**2
        feat = config.num_feat
        self.conv_first = _conv3x3(trunk_in, feat)
        self.body = nn.ModuleList(RRDB(feat, config.num_grow_ch) for _ in range(config.num_block))
        self.am_list = nn.ModuleList(
            AffineModulation(config.embed_dim, config.modulation_hidden, feat) for _ in range(config.num_block)
        )
        self.conv_body = _conv3x3(feat, feat)
        self._init_tail(feat, config.out_channels)
        self.de_net = DegradationEstimator(config)
        self.dd_embed = nn.Sequential(nn.Linear(config.num_degradation, config.embed_dim), nn.ReLU(inplace=True))

    @property
    def scale(self) -> int:
        return self.config.scale

    def estimate(self, x: torch.Tensor) -> torch.Tensor:
        """Scores (B, 2) = [blur, noise] in (0, 1) for images ``x`` (B, 3, H, W) in [0, 1]."""
        return self.de_net(x)

    def forward(self, x: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        """Upscale ``x`` (B, 3, H, W) conditioned on ``scores`` (B, 2); the output is not clamped.

        The same as ``run_tail(run_blocks(head(x), embed(scores)), head(x))``: those four steps are public so a
        training recipe can run part of the network (e.g. the last blocks from cached trunk features) with the
        generator's own arithmetic.
        """
        if scores.dim() != 2 or scores.shape[0] != x.shape[0] or scores.shape[1] != self.config.num_degradation:
            raise ValueError(
                f"scores must have shape ({x.shape[0]}, {self.config.num_degradation}), got {tuple(scores.shape)}"
            )
        embedding = self.embed(scores.to(x.dtype))
        feat0 = self.head(x)
        return self.run_tail(self.run_blocks(feat0, embedding), feat0)

    def embed(self, scores: torch.Tensor) -> torch.Tensor:
        """The score embedding (B, embed_dim) every block's modulation reads."""
        return self.dd_embed(scores)

    def head(self, x: torch.Tensor) -> torch.Tensor:
        """Image (B, 3, H, W) -> the trunk's first features ``feat0`` (pixel-unshuffled first for x2 and x1)."""
        if self.config.unshuffle > 1:
            x = F.pixel_unshuffle(x, self.config.unshuffle)
        return self.conv_first(x)

    def run_blocks(self, feat: torch.Tensor, embedding: torch.Tensor, start: int = 0,
                   stop: int | None = None) -> torch.Tensor:
        """RRDB blocks ``start`` to ``stop`` (exclusive; None: to the end), each followed by its modulation."""
        for block, modulation in zip(self.body[start:stop], self.am_list[start:stop]):
            feat = modulation(block(feat), embedding)
        return feat

    def run_tail(self, feat: torch.Tensor, feat0: torch.Tensor) -> torch.Tensor:
        """The blocks' output and ``feat0`` -> the image: ``conv_body`` residual, then the x4 upsampling tail.

        At inference the tail runs in strips (its 4x-resolution activations dominate memory); with gradients on
        it runs in one pass.
        """
        feat = feat0 + self.conv_body(feat)
        if torch.is_grad_enabled() or feat.shape[2] <= TAIL_ROWS + 2 * TAIL_HALO:
            return self.upsample(feat)
        return self._upsample_in_strips(feat)

    def _upsample_in_strips(self, feat: torch.Tensor) -> torch.Tensor:
        """The tail in horizontal strips, for inference.

        The tail's receptive field is under one low-resolution row, so strips with a two-row halo
        give the same values as one pass (to float rounding) at a fraction of the peak memory.
        """
        height = feat.shape[2]
        strips = []
        for top in range(0, height, TAIL_ROWS):
            bottom = min(top + TAIL_ROWS, height)
            lo, hi = max(0, top - TAIL_HALO), min(height, bottom + TAIL_HALO)
            out = self.upsample(feat[:, :, lo:hi])
            strips.append(out[:, :, 4 * (top - lo) : 4 * (bottom - lo)])
        return torch.cat(strips, dim=2)
