"""Key-based detection: recognise an MM-RealSR state dict and read its hyper-parameters from shapes."""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

from ...errors import NotMMRealSRModelError
from .config import MMRealSRConfig

REQUIRED_KEYS = (
    "conv_first.weight", "conv_body.weight", "conv_up1.weight", "conv_up2.weight", "conv_hr.weight",
    "conv_last.weight", "body.0.rdb1.conv1.weight", "am_list.0.fc.0.weight", "de_net.conv_first.0.weight",
    "de_net.body.0.0.conv1.weight", "de_net.fc_degree.0.0.weight", "dd_embed.0.weight",
)
"""Keys every MM-RealSR generator has. ESRGAN/Real-ESRGAN RRDBNet files have only the trunk ones."""

_ESRGAN_ONLY = ("am_list.0.fc.0.weight", "de_net.conv_first.0.weight", "dd_embed.0.weight")


def _count(keys: Mapping[str, torch.Tensor], pattern: str) -> int:
    regex = re.compile(pattern)
    return len({m.group(1) for k in keys if (m := regex.match(k))})


def _estimator_stages(state: Mapping[str, torch.Tensor]) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """Walk ``de_net.body.0.*``: runs of residual blocks are stages; a bare conv ends a stage.

    Strides are not stored in weights; a bare conv is taken as the official stride-2 downscale.
    """
    feats: list[int] = []
    blocks: list[int] = []
    downs: list[int] = []
    width = int(state["de_net.conv_first.0.weight"].shape[0])
    count = 0
    index = 0
    while True:
        prefix = f"de_net.body.0.{index}."
        if prefix + "conv1.weight" in state:
            count += 1
        elif prefix + "weight" in state:
            feats.append(width)
            blocks.append(count)
            downs.append(2)
            width, count = int(state[prefix + "weight"].shape[0]), 0
        else:
            break
        index += 1
    feats.append(width)
    blocks.append(count)
    downs.append(1)
    return tuple(feats), tuple(blocks), tuple(downs)


def detect_config(state: Mapping[str, torch.Tensor]) -> MMRealSRConfig:
    """Infer the architecture from tensor shapes, or raise :class:`NotMMRealSRModelError`."""
    missing = [k for k in REQUIRED_KEYS if k not in state]
    if missing:
        hint = ""
        if all(k in state for k in ("conv_first.weight", "body.0.rdb1.conv1.weight", "conv_last.weight")) and all(
            k in missing for k in _ESRGAN_ONLY
        ):
            hint = (
                " It looks like an ESRGAN/Real-ESRGAN RRDBNet checkpoint (trunk only, no modulation or "
                "estimator); convert it into an MM-RealSR initialisation with `mmrealsr convert` instead."
            )
        raise NotMMRealSRModelError(
            f"not an MM-RealSR generator: missing keys {missing}.{hint}"
        )
    conv_last = state["conv_last.weight"]
    in_channels = int(state["de_net.conv_first.0.weight"].shape[1])
    trunk_in = int(state["conv_first.weight"].shape[1])
    ratio = trunk_in // in_channels if in_channels else 0
    scales = {1: 4, 4: 2, 16: 1}
    if trunk_in % in_channels or ratio not in scales:
        raise NotMMRealSRModelError(
            f"conv_first takes {trunk_in} channels but the estimator takes {in_channels}; expected 1x, 4x or 16x "
            "as many (scale 4, 2 or 1). Official-code x2/x1 files cannot run (their estimator was built for the "
            "unshuffled input) and are not supported."
        )
    feats, blocks, downs = _estimator_stages(state)
    return MMRealSRConfig(
        scale=scales[ratio],  # type: ignore[arg-type]
        in_channels=in_channels,
        out_channels=int(conv_last.shape[0]),
        num_feat=int(conv_last.shape[1]),
        num_block=_count(state, r"body\.(\d+)\.rdb1\.conv1\.weight$"),
        num_grow_ch=int(state["body.0.rdb1.conv1.weight"].shape[0]),
        embed_dim=int(state["dd_embed.0.weight"].shape[0]),
        num_degradation=int(state["dd_embed.0.weight"].shape[1]),
        estimator_feats=feats,
        estimator_blocks=blocks,
        estimator_downscales=downs,
        estimator_hidden=int(state["de_net.fc_degree.0.0.weight"].shape[0]),
    )
