"""Turn an RRDBNet trunk (e.g. Real-ESRGAN x4plus) into an MM-RealSR training initialisation.

The trunk is copied, every modulation starts as the identity (the last Linear of each
``am_list[i].fc`` is zeroed, so gamma = beta = 0 for any score), and the estimator starts from
kaiming-normal x 0.1 with zero biases, the official initialisation. Such a model restores exactly
like the source RRDBNet at every knob setting until the modulation is trained.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from ..archs.mmrealsr import MMRealSR, MMRealSRConfig
from ..errors import ConversionError
from .rrdbnet import rrdb_config

TRUNK_PREFIXES = ("conv_first.", "body.", "conv_body.", "conv_up1.", "conv_up2.", "conv_hr.", "conv_last.")


def identity_modulation_(model: MMRealSR) -> MMRealSR:
    """Zero the output Linear of every modulation MLP in place, so (1 + gamma) * f + beta == f."""
    with torch.no_grad():
        for modulation in model.am_list:
            last = modulation.fc[-1]
            last.weight.zero_()
            last.bias.zero_()
    return model


def _scaled_kaiming_(module: nn.Module, scale: float = 0.1) -> None:
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(layer.weight)
            layer.weight.data.mul_(scale)
            nn.init.zeros_(layer.bias)


def mmrealsr_from_rrdb(
    trunk_state: Mapping[str, torch.Tensor], config: MMRealSRConfig | None = None, seed: int = 0
) -> MMRealSR:
    """Build a full MM-RealSR from trunk weights with identity modulation and a fresh estimator.

    ``config`` defaults to the trunk's shapes with the official estimator; when given, its trunk
    fields must match the weights. ``seed`` makes the random estimator/embedding reproducible.
    """
    inferred = rrdb_config(trunk_state)
    if config is None:
        config = inferred
    else:
        fields = ("scale", "in_channels", "out_channels", "num_feat", "num_block", "num_grow_ch")
        mismatched = {f: (getattr(config, f), getattr(inferred, f)) for f in fields
                      if getattr(config, f) != getattr(inferred, f)}
        if mismatched:
            raise ConversionError(
                f"config does not fit the trunk weights: {{field: (config, weights)}} = {mismatched}"
            )
    extra = sorted(k for k in trunk_state if not k.startswith(TRUNK_PREFIXES))
    if extra:
        raise ConversionError(f"trunk state has non-trunk keys {extra[:5]}; pass only RRDBNet trunk tensors")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MMRealSR(config)
        _scaled_kaiming_(model.de_net)
        _scaled_kaiming_(model.dd_embed)
        _scaled_kaiming_(model.am_list)
    missing, unexpected = model.load_state_dict(dict(trunk_state), strict=False)
    trunk_missing = [k for k in missing if k.startswith(TRUNK_PREFIXES)]
    if trunk_missing or unexpected:
        raise ConversionError(f"trunk weights incomplete: missing {trunk_missing[:5]}, unexpected {unexpected[:5]}")
    return identity_modulation_(model).eval()
