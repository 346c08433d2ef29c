"""Building blocks shared by the generator and the estimator."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def _conv3x3(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, 3, stride, 1)


class ResidualDenseBlock(nn.Module):
    """Five densely connected convs; each sees the block input and every earlier output."""

    def __init__(self, num_feat: int, num_grow_ch: int) -> None:
        super().__init__()
        self.conv1 = _conv3x3(num_feat, num_grow_ch)
        self.conv2 = _conv3x3(num_feat + num_grow_ch, num_grow_ch)
        self.conv3 = _conv3x3(num_feat + 2 * num_grow_ch, num_grow_ch)
        self.conv4 = _conv3x3(num_feat + 3 * num_grow_ch, num_grow_ch)
        self.conv5 = _conv3x3(num_feat + 4 * num_grow_ch, num_feat)
        self.act = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.act(self.conv1(x))
        x2 = self.act(self.conv2(torch.cat((x, x1), 1)))
        x3 = self.act(self.conv3(torch.cat((x, x1, x2), 1)))
        x4 = self.act(self.conv4(torch.cat((x, x1, x2, x3), 1)))
        x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))
        return x5 * 0.2 + x


class RRDB(nn.Module):
    """Residual-in-residual dense block (ESRGAN)."""

    def __init__(self, num_feat: int, num_grow_ch: int) -> None:
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class ResidualBlock(nn.Module):
    """conv-ReLU-conv with an identity skip, no normalisation."""

    def __init__(self, num_feat: int) -> None:
        super().__init__()
        self.conv1 = _conv3x3(num_feat, num_feat)
        self.conv2 = _conv3x3(num_feat, num_feat)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.relu(self.conv1(x)))


class AffineModulation(nn.Module):
    """Maps the score embedding to per-channel (gamma, beta) and returns (1 + gamma) * f + beta."""

    def __init__(self, embed_dim: int, hidden: int, num_feat: int) -> None:
        super().__init__()
        self.num_feat = num_feat
        self.fc = nn.Sequential(
            nn.Linear(embed_dim, hidden), nn.ReLU(inplace=True),
            nn.Linear(hidden, hidden), nn.ReLU(inplace=True),
            nn.Linear(hidden, 2 * num_feat),
        )

    def forward(self, feat: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        params = self.fc(embedding).view(-1, 2 * self.num_feat, 1, 1)
        gamma, beta = params[:, : self.num_feat], params[:, self.num_feat :]
        return feat * (1 + gamma) + beta


class UpsamplingTail:
    """The x4 tail of ESRGAN-style RRDB networks (nearest x2, conv, nearest x2, conv, conv, conv).

    A mixin for ``nn.Module`` subclasses, so the layers keep their top-level state-dict names
    (``conv_up1``, ``conv_up2``, ``conv_hr``, ``conv_last``) in MM-RealSR and in a plain RRDBNet.
    """

    conv_up1: nn.Conv2d
    conv_up2: nn.Conv2d
    conv_hr: nn.Conv2d
    conv_last: nn.Conv2d
    lrelu: nn.LeakyReLU

    def _init_tail(self, num_feat: int, out_channels: int) -> None:
        self.conv_up1 = _conv3x3(num_feat, num_feat)
        self.conv_up2 = _conv3x3(num_feat, num_feat)
        self.conv_hr = _conv3x3(num_feat, num_feat)
        self.conv_last = _conv3x3(num_feat, out_channels)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)

    def upsample(self, feat: torch.Tensor) -> torch.Tensor:
        """Trunk features (B, num_feat, h, w) -> the image (B, out_channels, 4h, 4w), unclamped."""
        feat = self.lrelu(self.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")))
        feat = self.lrelu(self.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")))
        return self.conv_last(self.lrelu(self.conv_hr(feat)))
