"""Architecture hyper-parameters of an MM-RealSR generator, as a frozen dataclass."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from ...dataconfig import AT_LEAST_ONE, Range, check_ranges, from_dict, ranged, to_dict
from ...knobs import KnobMode

Scale = Literal[1, 2, 4]
ACTIVATION_MAPS = 48
"""Peak feature maps (of ``num_feat`` channels, input size) alive at once; see :meth:`MMRealSRConfig.activation_values`."""
DECLARED_ONLY = ("knobs", "blur_sigma_scale", "jpeg_blocking")
"""Config fields that are not part of the network's tensors: only a file's metadata can declare them."""


@dataclass(frozen=True)
class MMRealSRConfig:
    """Everything needed to build the network; the defaults are the official config.

    The estimator (UDEM) body is described per stage: ``estimator_blocks[s]`` residual blocks of
    width ``estimator_feats[s]``, followed by a conv to the next width whose stride is
    ``estimator_downscales[s]`` (1 or 2).
    """

    scale: Scale = 4
    """Upscaling factor of the network. x2 and x1 pixel-unshuffle the input before the trunk."""
    in_channels: int = ranged(3, AT_LEAST_ONE)
    """Image channels (RGB)."""
    out_channels: int = ranged(3, AT_LEAST_ONE)
    num_feat: int = ranged(64, AT_LEAST_ONE)
    """Trunk width."""
    num_block: int = ranged(23, AT_LEAST_ONE)
    """Number of RRDB blocks, each followed by an affine modulation."""
    num_grow_ch: int = ranged(32, AT_LEAST_ONE)
    """Growth channels of the dense blocks."""
    embed_dim: int = ranged(512, AT_LEAST_ONE)
    """Width of the shared score embedding (``dd_embed``); fixed at 512 in the official code."""
    num_degradation: int = ranged(2, AT_LEAST_ONE)
    """Number of scores: index 0 is blur, index 1 is noise."""
    estimator_feats: tuple[int, ...] = ranged((64, 64, 64, 128), AT_LEAST_ONE)
    """Width of each estimator stage; a stage of width 0 would fail only at the first forward pass."""
    estimator_blocks: tuple[int, ...] = ranged((2, 2, 2, 2), Range(0))
    estimator_downscales: tuple[int, ...] = ranged((1, 1, 2, 1), Range(1, 2))
    """1 (keep) or 2 (halve) per stage."""
    estimator_hidden: int = ranged(512, AT_LEAST_ONE)
    """Hidden width of each estimator head (``fc_degree``)."""
    knobs: KnobMode = "absolute"
    """How the knobs condition the network (:mod:`mmrealsr_plugin.knobs`): not part of the architecture, so the
    tensors cannot show it; a file's metadata declares it (official checkpoints: ``absolute``)."""
    blur_sigma_scale: float | None = None
    """The measured blur width (px) that scores 1 in the blur term averaged into the blur score
    (:mod:`mmrealsr_plugin.measures.blur`). None (official checkpoints): the network's blur score as it is."""
    jpeg_blocking: tuple[float, float] | None = None
    """Calibration of the JPEG blocking folded into the noise score (:mod:`mmrealsr_plugin.measures.blocking`): the
    blocking ratio scoring 0 and the one scoring 1. None (official checkpoints): the network's noise score as it is."""

    def __post_init__(self) -> None:
        if self.scale not in (1, 2, 4):
            raise ValueError(f"scale must be 1, 2 or 4, got {self.scale!r}")
        check_ranges(self)
        n = len(self.estimator_feats)
        if n == 0 or len(self.estimator_blocks) != n or len(self.estimator_downscales) != n:
            raise ValueError(
                "estimator_feats, estimator_blocks and estimator_downscales must be non-empty and of "
                f"equal length, got {self.estimator_feats}, {self.estimator_blocks}, {self.estimator_downscales}"
            )
        if self.blur_sigma_scale is not None and not self.blur_sigma_scale > 0:
            raise ValueError(f"blur_sigma_scale must be a positive width in pixels, got {self.blur_sigma_scale}")
        if self.jpeg_blocking is not None and not 0 < self.jpeg_blocking[0] < self.jpeg_blocking[1]:
            raise ValueError(f"jpeg_blocking must be two ratios 0 < clean < worst, got {self.jpeg_blocking}")

    @property
    def modulation_hidden(self) -> int:
        """Hidden width of each per-block modulation MLP: (embed_dim + 2*num_feat) // 2."""
        return (self.embed_dim + 2 * self.num_feat) // 2

    @property
    def unshuffle(self) -> int:
        """Pixel-unshuffle factor applied before the trunk (4 // scale)."""
        return 4 // self.scale

    def activation_values(self, tile: int) -> int:
        """Rough peak count of activation values while one ``tile`` x ``tile`` input runs (for memory estimates).

        The dense blocks hold several maps of ``num_feat`` channels at once and the upsampling tail works at 16x
        the pixels: about 48 maps of the tile's size.
        """
        return tile * tile * self.num_feat * ACTIVATION_MAPS

    def canonical(self) -> MMRealSRConfig:
        """The same network with estimator stages merged where no layer separates them.

        The official ``(64, 64, 64, 128) / (2, 2, 2, 2) / (1, 1, 2, 1)`` and key detection's
        ``(64, 128) / (6, 2) / (2, 1)`` build identical modules; compare configs through this.
        """
        feats: list[int] = []
        blocks: list[int] = []
        downs: list[int] = []
        for width, count, down in zip(self.estimator_feats, self.estimator_blocks, self.estimator_downscales):
            if feats and downs[-1] == 1 and feats[-1] == width:
                blocks[-1] += count
                downs[-1] = down
            else:
                feats.append(width)
                blocks.append(count)
                downs.append(down)
        return replace(self, estimator_feats=tuple(feats), estimator_blocks=tuple(blocks),
                       estimator_downscales=tuple(downs))

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MMRealSRConfig:
        """Build from a ``config.json``-style mapping with the one strict reader (:mod:`mmrealsr_plugin.dataconfig`):
        unknown keys, wrong types and out-of-range values are a :class:`~mmrealsr_plugin.errors.ConfigError`."""
        return from_dict(cls, data, label="MM-RealSR config")


OFFICIAL_CONFIG = MMRealSRConfig()
