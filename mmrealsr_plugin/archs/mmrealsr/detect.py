"""Key-based detection: recognise an MM-RealSR state dict and read its hyper-parameters from shapes.

The tensors' shapes decide the architecture. A config stored in a file's metadata may only add what
weights cannot show (the estimator's strides); anything else it claims must agree with the shapes,
and every tensor must fit before a single parameter is allocated, so a small file cannot make the
loader build a huge network.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

import torch

from ...errors import ModelLoadError, NotMMRealSRModelError
from .blocks import RRDB, AffineModulation
from .config import DECLARED_ONLY, MMRealSRConfig
from .generator import MMRealSR

REQUIRED_KEYS = (
    "conv_first.weight", "conv_body.weight", "conv_up1.weight", "conv_up2.weight", "conv_hr.weight",
    "conv_last.weight", "body.0.rdb1.conv1.weight", "am_list.0.fc.0.weight", "de_net.conv_first.0.weight",
    "de_net.body.0.0.conv1.weight", "de_net.fc_degree.0.0.weight", "dd_embed.0.weight",
)
"""Keys every MM-RealSR generator has. ESRGAN/Real-ESRGAN RRDBNet files have only the trunk ones."""

_MMREALSR_ONLY = ("am_list.0.fc.0.weight", "de_net.conv_first.0.weight", "dd_embed.0.weight")
"""Keys only MM-RealSR has: an ESRGAN/Real-ESRGAN RRDBNet file lacks them all."""
_LINEAR_KEYS = ("am_list.0.fc.0.weight", "de_net.fc_degree.0.0.weight", "dd_embed.0.weight")
MAX_PROBLEMS_SHOWN = 5


def _shape(state: Mapping[str, torch.Tensor], key: str, ndim: int) -> tuple[int, ...]:
    """The shape of a tensor detection reads, refused unless it has ``ndim`` non-zero dimensions."""
    value = state[key]
    shape = tuple(value.shape) if isinstance(value, torch.Tensor) else None
    if shape is None or len(shape) != ndim or 0 in shape:
        kind = "a linear" if ndim == 2 else "a convolution"
        raise ModelLoadError(f"tensor {key} has shape {shape}; {kind} weight needs {ndim} non-zero dimensions")
    return shape


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
    width = _shape(state, "de_net.conv_first.0.weight", 4)[0]
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
            width, count = _shape(state, prefix + "weight", 4)[0], 0
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
            k in missing for k in _MMREALSR_ONLY
        ):
            hint = (
                " It looks like an ESRGAN/Real-ESRGAN RRDBNet checkpoint (trunk only, no modulation or "
                "estimator); convert it into an MM-RealSR initialisation with `mmrealsr convert` instead."
            )
        raise NotMMRealSRModelError(
            f"not an MM-RealSR generator: missing keys {missing}.{hint}"
        )
    shapes = {key: _shape(state, key, 2 if key in _LINEAR_KEYS else 4) for key in REQUIRED_KEYS}
    conv_last = shapes["conv_last.weight"]
    in_channels = shapes["de_net.conv_first.0.weight"][1]
    trunk_in = shapes["conv_first.weight"][1]
    ratio = trunk_in // in_channels
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
        out_channels=conv_last[0],
        num_feat=conv_last[1],
        num_block=_count(state, r"body\.(\d+)\.rdb1\.conv1\.weight$"),
        num_grow_ch=shapes["body.0.rdb1.conv1.weight"][0],
        embed_dim=shapes["dd_embed.0.weight"][0],
        num_degradation=shapes["dd_embed.0.weight"][1],
        estimator_feats=feats,
        estimator_blocks=blocks,
        estimator_downscales=downs,
        estimator_hidden=shapes["de_net.fc_degree.0.0.weight"][0],
    )


def _reconcile(detected: MMRealSRConfig, declared: Mapping[str, Any]) -> MMRealSRConfig:
    """The detected config, with the declared estimator strides and the fields tensors cannot show
    (:data:`~.config.DECLARED_ONLY`) when those are all that differ."""
    try:
        claimed = MMRealSRConfig.from_dict(declared)
    except (TypeError, ValueError) as exc:
        raise ModelLoadError(f"its stored architecture (metadata) is invalid: {exc}") from None
    ours, theirs = detected.canonical(), claimed.canonical()
    differ = [f.name for f in dataclasses.fields(MMRealSRConfig)
              if f.name not in ("estimator_downscales", *DECLARED_ONLY) and getattr(ours, f.name) != getattr(theirs, f.name)]
    if differ:
        said = ", ".join(f"{name}={getattr(theirs, name)}" for name in differ)
        found = ", ".join(f"{name}={getattr(ours, name)}" for name in differ)
        raise ModelLoadError(
            f"its stored architecture (metadata) says {said} but the tensors are those of {found}; the tensors "
            "decide: remove or correct the metadata (`mmrealsr convert` rewrites it from the tensors)"
        )
    return detected if ours == theirs else claimed


def _count_problems(config: MMRealSRConfig, state: Mapping[str, torch.Tensor]) -> list[str]:
    """The tensor count of the repeated parts, from one block built on the meta device.

    Checked before the whole network is built, so a file naming thousands of blocks with a few bytes
    each cannot make even the meta-device network big.
    """
    with torch.device("meta"):
        per_block = len(RRDB(1, 1).state_dict())
        per_modulation = len(AffineModulation(1, 1, 1).state_dict())
    for prefix, each in (("body.", per_block), ("am_list.", per_modulation)):
        count = sum(1 for key in state if key.startswith(prefix))
        if count != config.num_block * each:
            return [f"{count} tensors under {prefix}* where {config.num_block} blocks have {config.num_block * each}"]
    return []


def _shape_problems(network: MMRealSR, state: Mapping[str, torch.Tensor]) -> list[str]:
    expected = {k: tuple(v.shape) for k, v in network.state_dict().items()}
    problems = [f"missing {key}" for key in expected if key not in state]
    problems += [f"unexpected {key}" for key in state if key not in expected]
    problems += [f"{key} has shape {tuple(state[key].shape)}, expected {shape}"
                 for key, shape in expected.items() if key in state and tuple(state[key].shape) != shape]
    return problems


def fitted_network(state: Mapping[str, torch.Tensor], declared: Mapping[str, Any] | None = None) -> MMRealSR:
    """The network of ``state`` on the meta device (no memory), every one of its tensors checked to fit.

    The architecture is read from shapes; ``declared`` (a file's stored config) only adds the estimator's
    strides. Load the tensors with ``load_state_dict(state, strict=True, assign=True)``. Raises
    :class:`NotMMRealSRModelError` for other networks and :class:`ModelLoadError` for malformed tensors,
    metadata that contradicts them, or tensors that do not fit; messages do not name the file (callers
    prefix it).
    """
    config = detect_config(state)
    if declared is not None:
        config = _reconcile(config, declared)
    problems = _count_problems(config, state)
    network = None
    if not problems:
        with torch.device("meta"):
            network = MMRealSR(config)
        problems = _shape_problems(network, state)
    if problems or network is None:
        more = len(problems) - MAX_PROBLEMS_SHOWN
        shown = "; ".join(problems[:MAX_PROBLEMS_SHOWN]) + (f"; and {more} more" if more > 0 else "")
        raise ModelLoadError(f"the tensors do not fit one MM-RealSR architecture: {shown}")
    return network


def resolve_config(state: Mapping[str, torch.Tensor], declared: Mapping[str, Any] | None = None) -> MMRealSRConfig:
    """The checked architecture of ``state`` (see :func:`fitted_network`)."""
    return fitted_network(state, declared).config
