"""The one tiling routine: the engine runs every backend's tiles through it.

An image is cut into overlapping tiles, each tile is upscaled by a caller-supplied function,
and the outputs are blended with weights that form an exact partition of unity: at every
output pixel the weights of the tiles covering it sum to one. The blend ramps (raised cosine)
sit in the middle half of each overlap, so the outermost pixels of a tile, which see the least
context, get zero weight. Accumulation is in float64 over a rolling band of rows and is cast to
float32 only when a row is final: a model whose output does not depend on position (1x1 convs,
nearest upsampling) gives bit-identical tiled and untiled results, and memory grows with the
tile size and the output image, not with an accumulator of the whole output.

Every tile's output is checked for NaN and infinity (:class:`NonFiniteOutputError`), whatever the backend,
so a numerical failure is never blended into the image and written as black.

Scores are not this module's business: callers estimate them once on the whole image and pass
a tile function that holds them fixed, so tiling never changes the restoration strength.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .errors import NonFiniteOutputError

TileFn = Callable[[np.ndarray], np.ndarray]
"""Maps a float32 tile (B, C, h, w) to its upscaled float32 output (B, C', h*scale, w*scale)."""

ProgressFn = Callable[[int, int], None]
"""Called as ``progress(done, total)`` after every tile; raising from it stops the run."""


DEFAULT_TILE = 384
"""Default tile size in input pixels. With the tail run in strips, one official-size tile of 384
needs well under 1 GB on the CPU."""
DEFAULT_OVERLAP = 64
"""Default overlap. A GAN trunk's output near a tile edge depends on context it cannot see:
measured on a real photo with Real-ESRGAN x4plus weights (bench/bench_tiling_seams.py), 32 px
gave a 99th-percentile error of 7/255 around a seam, 48 px 4/255, 64 px 3/255."""


@dataclass(frozen=True)
class TileConfig:
    """Tile size and overlap in input pixels. ``tile=0`` processes the image in one piece."""

    tile: int = DEFAULT_TILE
    overlap: int = DEFAULT_OVERLAP

    def __post_init__(self) -> None:
        if self.tile < 0 or (0 < self.tile < 16):
            raise ValueError(f"tile must be 0 (no tiling) or at least 16 pixels, got {self.tile}")
        if self.overlap < 0:
            raise ValueError(f"overlap must be >= 0, got {self.overlap}")
        if self.tile and 2 * self.overlap > self.tile:
            raise ValueError(
                f"overlap {self.overlap} is more than half of tile {self.tile}; use overlap <= {self.tile // 2}"
            )


    @classmethod
    def fitted(cls, tile: int, overlap: int) -> TileConfig:
        """The one rule every front-end gets: an overlap above half the tile is reduced to half the tile.

        Front-ends offer tile and overlap as independent settings (ComfyUI widgets, CLI flags), so
        some combinations (tile 16, overlap 64) cannot be tiled as asked; the largest overlap that can
        is used instead. Valid settings are unchanged; a negative overlap or a tile below 16 is still an error.
        """
        if tile > 0 and overlap > tile // 2:
            overlap = tile // 2
        return cls(tile, overlap)


AUTO_TILE_FRACTION = 0.7
"""Share of the free device memory an automatically sized tile may use (the rest absorbs allocator slack)."""
AUTO_TILE_MIN = 64
AUTO_TILE_STEP = 32


def auto_tile(height: int, width: int, free_bytes: int | None, cost: Callable[[int], int],
              fraction: float = AUTO_TILE_FRACTION) -> int:
    """The largest tile whose ``cost(tile)`` (bytes, e.g. :meth:`Runner.memory_bytes`) fits ``fraction`` of
    ``free_bytes``: 0 (the whole image in one piece) when a tile as large as the image fits, :data:`DEFAULT_TILE`
    when the free memory is unknown, and :data:`AUTO_TILE_MIN` when nothing fits (the engine's out-of-memory retry
    halves it further). Tiles are multiples of :data:`AUTO_TILE_STEP`.
    """
    if free_bytes is None:
        return DEFAULT_TILE
    budget = free_bytes * fraction
    side = max(height, width)
    if cost(side) <= budget:
        return 0
    best = AUTO_TILE_MIN
    for tile in range(AUTO_TILE_MIN, side, AUTO_TILE_STEP):
        if cost(tile) > budget:
            break
        best = tile
    return best


def tile_layout(length: int, tile: int, overlap: int, align: int = 1) -> tuple[list[int], int]:
    """Start offsets and the common size of the tiles covering ``[0, length)`` along one axis.

    The number of tiles is the fewest of at most ``tile`` pixels that overlap by ``overlap``; the
    tiles are then shrunk to share the length evenly, so a 288-pixel side with 256-pixel tiles runs
    two 160-pixel tiles (320 pixels of work), not two 256-pixel ones (512). Starts and size are
    multiples of ``align`` (the model's pixel-unshuffle factor); the last tile ends at ``length``.
    ``tile <= 0`` or ``tile >= length`` gives one tile of the whole length.
    """
    if length % align:
        raise ValueError(f"length {length} must be a multiple of align {align}; pad the image first")
    if tile <= 0 or tile >= length:
        return [0], length
    count = math.ceil((length - overlap) / (tile - overlap))
    size = math.ceil((length + (count - 1) * overlap) / count)
    size = min(-(-size // align) * align, tile // align * align, length)
    last = length - size
    starts = sorted({round(i * last / (count - 1)) // align * align for i in range(count)} | {last})
    return starts, size


RAMP_FRACTION = 0.5
"""Width of the blend ramp as a fraction of the overlap, centred in it."""


def _rise(x: np.ndarray, center: float, width: float) -> np.ndarray:
    if width <= 0:
        return (x >= center).astype(np.float64)
    t = np.clip((x - (center - width / 2)) / width, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * t)


def axis_weights(starts: list[int], size: int, length: int, scale: int, overlap: int) -> list[np.ndarray]:
    """Per-tile 1-D blend weights in output pixels for tiles of ``size``; at every position they sum to one."""
    ends = [min(s + size, length) for s in starts]
    ramp = overlap * scale * RAMP_FRACTION
    raw: list[np.ndarray] = []
    for i, (a, b) in enumerate(zip(starts, ends)):
        x = np.arange(a * scale, b * scale, dtype=np.float64) + 0.5
        w = np.ones_like(x)
        if i > 0:
            w *= _rise(x, (a + ends[i - 1]) * scale / 2, ramp)
        if i < len(starts) - 1:
            w *= 1.0 - _rise(x, (starts[i + 1] + b) * scale / 2, ramp)
        raw.append(w)
    total = np.zeros(length * scale, dtype=np.float64)
    for a, w in zip(starts, raw):
        total[a * scale : a * scale + w.size] += w
    return [w / total[a * scale : a * scale + w.size] for a, w in zip(starts, raw)]


def tiled_apply(
    fn: TileFn,
    image: np.ndarray,
    scale: int,
    config: TileConfig = TileConfig(),
    progress: ProgressFn | None = None,
    align: int = 1,
) -> np.ndarray:
    """Upscale ``image`` (B, C, H, W float32) by ``scale`` through ``fn``, tile by tile.

    Returns (B, C', H*scale, W*scale) float32 whose memory is channels-last, so that
    ``result.transpose(0, 2, 3, 1)`` (what image front-ends want) is contiguous without a copy.
    """
    if image.ndim != 4:
        raise ValueError(f"expected a (B, C, H, W) array, got shape {image.shape}")
    batch, _, height, width = image.shape
    ys, tile_h = tile_layout(height, config.tile, config.overlap, align)
    xs, tile_w = tile_layout(width, config.tile, config.overlap, align)
    wy = axis_weights(ys, tile_h, height, scale, config.overlap)
    wx = axis_weights(xs, tile_w, width, scale, config.overlap)
    total, done = len(ys) * len(xs), 0
    out: np.ndarray | None = None  # (B, H*scale, W*scale, C'), channels last
    band: np.ndarray | None = None  # float64 output rows [band_top, band_top + band.shape[1]), channels last
    band_top = 0
    for row, y in enumerate(ys):
        y_end = min(y + tile_h, height)
        for col, x in enumerate(xs):
            x_end = min(x + tile_w, width)
            result = fn(np.ascontiguousarray(image[:, :, y:y_end, x:x_end]))
            expected = (batch, (y_end - y) * scale, (x_end - x) * scale)
            if result.ndim != 4 or (result.shape[0], *result.shape[2:]) != expected:
                raise ValueError(f"tile function returned shape {result.shape}, expected (B, C, h, w) = {expected}")
            if not np.isfinite(result).all():
                raise NonFiniteOutputError(
                    f"the model's output is not finite (NaN or infinity) for the tile at input rows {y}-{y_end}, "
                    f"columns {x}-{x_end}"
                )
            if out is None:
                channels = result.shape[1]
                out = np.empty((batch, height * scale, width * scale, channels), dtype=np.float32)
                band = np.zeros((batch, 0, width * scale, channels), dtype=np.float64)
            assert band is not None
            need = y_end * scale - band_top
            if band.shape[1] < need:
                grow = np.zeros((batch, need - band.shape[1], *band.shape[2:]), dtype=np.float64)
                band = np.concatenate([band, grow], axis=1)
            weight = (wy[row][:, None] * wx[col][None, :])[..., None]
            top = y * scale - band_top
            band[:, top : top + expected[1], x * scale : x_end * scale] += result.transpose(0, 2, 3, 1) * weight
            done += 1
            if progress is not None:
                progress(done, total)
        assert out is not None and band is not None
        final_end = ys[row + 1] * scale if row + 1 < len(ys) else height * scale
        rows = final_end - band_top
        out[:, band_top:final_end] = band[:, :rows]
        band = band[:, rows:]
        band_top = final_end
    assert out is not None
    return out.transpose(0, 3, 1, 2)
