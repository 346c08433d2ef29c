"""Building blocks shared by the generator and the estimator."""

from __future__ import annotations

import torch
from torch import nn


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
