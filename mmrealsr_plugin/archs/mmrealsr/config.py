"""Architecture hyper-parameters of an MM-RealSR generator, as a frozen dataclass."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

Scale = Literal[1, 2, 4]


@dataclass(frozen=True)
class MMRealSRConfig:
    """Everything needed to build the network; the defaults are the official config.

    The estimator (UDEM) body is described per stage: ``estimator_blocks[s]`` residual blocks of
    width ``estimator_feats[s]``, followed by a conv to the next width whose stride is
    ``estimator_downscales[s]`` (1 or 2).
    """

    scale: Scale = 4
    """Upscaling factor of the network. x2 and x1 pixel-unshuffle the input before the trunk."""
    in_channels: int = 3
    """Image channels (RGB)."""
    out_channels: int = 3
    num_feat: int = 64
    """Trunk width."""
    num_block: int = 23
    """Number of RRDB blocks, each followed by an affine modulation."""
    num_grow_ch: int = 32
    """Growth channels of the dense blocks."""
    embed_dim: int = 512
    """Width of the shared score embedding (``dd_embed``); fixed at 512 in the official code."""
    num_degradation: int = 2
    """Number of scores: index 0 is blur, index 1 is noise."""
    estimator_feats: tuple[int, ...] = (64, 64, 64, 128)
    estimator_blocks: tuple[int, ...] = (2, 2, 2, 2)
    estimator_downscales: tuple[int, ...] = (1, 1, 2, 1)
    estimator_hidden: int = 512
    """Hidden width of each estimator head (``fc_degree``)."""

    def __post_init__(self) -> None:
        if self.scale not in (1, 2, 4):
            raise ValueError(f"scale must be 1, 2 or 4, got {self.scale!r}")
        n = len(self.estimator_feats)
        if n == 0 or len(self.estimator_blocks) != n or len(self.estimator_downscales) != n:
            raise ValueError(
                "estimator_feats, estimator_blocks and estimator_downscales must be non-empty and of "
                f"equal length, got {self.estimator_feats}, {self.estimator_blocks}, {self.estimator_downscales}"
            )
        if any(d not in (1, 2) for d in self.estimator_downscales):
            raise ValueError(f"estimator_downscales may only hold 1 or 2, got {self.estimator_downscales}")
        if any(b < 0 for b in self.estimator_blocks):
            raise ValueError(f"estimator_blocks must be >= 0, got {self.estimator_blocks}")
        for name in ("in_channels", "out_channels", "num_feat", "num_block", "num_grow_ch", "embed_dim",
                     "num_degradation", "estimator_hidden"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")

    @property
    def modulation_hidden(self) -> int:
        """Hidden width of each per-block modulation MLP: (embed_dim + 2*num_feat) // 2."""
        return (self.embed_dim + 2 * self.num_feat) // 2

    @property
    def unshuffle(self) -> int:
        """Pixel-unshuffle factor applied before the trunk (4 // scale)."""
        return 4 // self.scale

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
        data = asdict(self)
        for key in ("estimator_feats", "estimator_blocks", "estimator_downscales"):
            data[key] = list(data[key])
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MMRealSRConfig:
        """Build from a ``config.json``-style mapping; unknown keys and wrong types are errors, not ignored."""
        if not isinstance(data, Mapping):
            raise ValueError(f"an MM-RealSR config must be a mapping of field names to values, got {type(data).__name__}")
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(map(str, set(data) - known))
        if unknown:
            raise ValueError(f"unknown MM-RealSR config keys {unknown}; known keys are {sorted(known)}")
        values = dict(data)
        for key, value in values.items():
            if key in _SEQUENCE_FIELDS:
                if not isinstance(value, (list, tuple)) or not all(_is_int(v) for v in value):
                    raise ValueError(f"{key} must be a list of whole numbers, got {value!r}")
                values[key] = tuple(value)
            elif not _is_int(value):
                raise ValueError(f"{key} must be a whole number, got {value!r}")
        return cls(**values)


_SEQUENCE_FIELDS = ("estimator_feats", "estimator_blocks", "estimator_downscales")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


OFFICIAL_CONFIG = MMRealSRConfig()
