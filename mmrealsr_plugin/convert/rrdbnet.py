"""The plain ESRGAN/Real-ESRGAN RRDBNet trunk: key names, shape-based config, and a reference forward.

MM-RealSR's generator is this trunk plus per-block affine modulation; with the modulation at
identity it must compute exactly what this module computes, which is how conversions are checked.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn
from torch.nn import functional as F

from ..archs.mmrealsr import MMRealSRConfig
from ..archs.mmrealsr.blocks import RRDB, UpsamplingTail, _conv3x3
from ..errors import ConversionError

HEAD_KEY = "conv_first"
TAIL_KEYS = ("conv_body", "conv_up1", "conv_up2", "conv_hr", "conv_last")
CONVS_PER_BLOCK = 15
"""Three dense blocks of five convs each."""


def rrdb_trunk_keys(num_block: int) -> list[str]:
    """Conv module names in forward order: conv_first, body.{i}.rdb{r}.conv{k}, conv_body ... conv_last."""
    body = [f"body.{i}.rdb{r}.conv{k}" for i in range(num_block) for r in (1, 2, 3) for k in range(1, 6)]
    return [HEAD_KEY, *body, *TAIL_KEYS]


def rrdb_config(trunk: Mapping[str, torch.Tensor]) -> MMRealSRConfig:
    """Trunk hyper-parameters read from tensor shapes, as an MM-RealSR config (estimator at defaults)."""
    for key in ("conv_first.weight", "body.0.rdb1.conv1.weight", "conv_last.weight"):
        if key not in trunk:
            raise ConversionError(f"not an RRDBNet trunk: key {key!r} is missing")
    num_block = 0
    while f"body.{num_block}.rdb1.conv1.weight" in trunk:
        num_block += 1
    out_channels, num_feat = (int(v) for v in trunk["conv_last.weight"].shape[:2])
    trunk_in = int(trunk["conv_first.weight"].shape[1])
    scales = {out_channels: 4, 4 * out_channels: 2, 16 * out_channels: 1}
    if trunk_in not in scales:
        raise ConversionError(
            f"conv_first takes {trunk_in} channels for {out_channels} output channels; expected 1x, 4x or 16x as "
            "many (scale 4, 2 or 1)"
        )
    return MMRealSRConfig(
        scale=scales[trunk_in],  # type: ignore[arg-type]
        in_channels=out_channels,
        out_channels=out_channels,
        num_feat=num_feat,
        num_block=num_block,
        num_grow_ch=int(trunk["body.0.rdb1.conv1.weight"].shape[0]),
    )


class RRDBNet(UpsamplingTail, nn.Module):
    """Plain RRDBNet (no modulation, no estimator) with the same state-dict keys as MM-RealSR's trunk."""

    def __init__(self, config: MMRealSRConfig) -> None:
        super().__init__()
        self.config = config
        feat = config.num_feat
        self.conv_first = _conv3x3(config.in_channels * config.unshuffle**2, feat)
        self.body = nn.Sequential(*(RRDB(feat, config.num_grow_ch) for _ in range(config.num_block)))
        self.conv_body = _conv3x3(feat, feat)
        self._init_tail(feat, config.out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.config.unshuffle > 1:
            x = F.pixel_unshuffle(x, self.config.unshuffle)
        feat0 = self.conv_first(x)
        return self.upsample(feat0 + self.conv_body(self.body(feat0)))

    @classmethod
    def from_trunk(cls, trunk: Mapping[str, torch.Tensor]) -> RRDBNet:
        """Build and load strictly from a trunk state dict (e.g. from :func:`read_ncnn_rrdb`)."""
        model = cls(rrdb_config(trunk))
        model.load_state_dict(dict(trunk), strict=True)
        return model.eval()
