"""Tiling: exact partition of unity, bit-identical on position-independent models, bounded accumulator."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmrealsr_plugin.tiling import TileConfig, axis_weights, tile_layout, tiled_apply


@pytest.mark.parametrize("length,tile,overlap", [(100, 32, 8), (500, 256, 32), (257, 256, 32), (64, 64, 16),
                                                 (1000, 96, 48), (33, 16, 0)])
@pytest.mark.parametrize("scale", [1, 4])
def test_blend_weights_sum_to_one(length: int, tile: int, overlap: int, scale: int) -> None:
    starts, size = tile_layout(length, tile, overlap)
    assert starts[0] == 0 and starts[-1] + size == length and size <= max(tile, 0) or starts == [0]
    total = np.zeros(length * scale)
    for start, weight in zip(starts, axis_weights(starts, size, length, scale, overlap)):
        assert weight.min() >= 0
        total[start * scale : start * scale + weight.size] += weight
    np.testing.assert_allclose(total, 1.0, rtol=0, atol=1e-12)


@pytest.mark.parametrize("length,tile,overlap,align", [(1000, 128, 32, 1), (288, 256, 32, 1), (2048, 256, 32, 1),
                                                      (300, 64, 16, 4), (98, 40, 8, 2)])
def test_tiles_overlap_enough_and_share_the_work_evenly(length: int, tile: int, overlap: int, align: int) -> None:
    starts, size = tile_layout(length, tile, overlap, align)
    assert size <= tile and size % align == 0 and all(s % align == 0 for s in starts)
    assert starts[0] == 0 and starts[-1] + size == length
    assert all(b - a <= size - overlap + align - 1 for a, b in zip(starts, starts[1:]))
    fewest = -(-(length - overlap) // (tile - overlap))
    assert len(starts) == fewest
    assert len(starts) * size <= length + (len(starts) - 1) * overlap + len(starts) * align


class PointwiseModel(torch.nn.Module):
    """1x1 channel mixing written as elementwise multiply-adds, ReLU, nearest upsampling.

    torch's conv kernels pick different vectorisation for different sizes (1e-7 differences), so
    channel mixing is spelled out with elementwise ops, each correctly rounded wherever it runs.
    """

    def __init__(self, scale: int) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.w1 = torch.randn(8, 3, generator=generator)
        self.w2 = torch.randn(3, 8, generator=generator)
        self.scale = scale

    @staticmethod
    def _mix(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        outputs = []
        for row in weight:
            acc = x[:, 0] * row[0]
            for c in range(1, weight.shape[1]):
                acc = acc + x[:, c] * row[c]
            outputs.append(acc)
        return torch.stack(outputs, dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self._mix(torch.relu(self._mix(x, self.w1)), self.w2)
        return torch.nn.functional.interpolate(y, scale_factor=self.scale, mode="nearest")


def _pointwise_model(scale: int) -> torch.nn.Module:
    return PointwiseModel(scale)


@pytest.mark.parametrize("shape,config", [((1, 3, 70, 53), TileConfig(32, 8)), ((2, 3, 40, 90), TileConfig(16, 8)),
                                          ((1, 3, 50, 50), TileConfig(48, 0))])
def test_position_independent_model_is_bit_identical(shape: tuple[int, ...], config: TileConfig) -> None:
    model = _pointwise_model(4)
    image = np.random.default_rng(0).random(shape, dtype=np.float32)

    def run(tile: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.from_numpy(tile)).numpy()

    whole = run(image)
    tiled = tiled_apply(run, image, 4, config)
    assert tiled.dtype == np.float32
    assert np.array_equal(tiled, whole)


def test_progress_is_reported_per_tile_and_can_cancel() -> None:
    image = np.zeros((1, 3, 64, 64), dtype=np.float32)
    calls: list[tuple[int, int]] = []

    def run(tile: np.ndarray) -> np.ndarray:
        return np.repeat(np.repeat(tile, 2, axis=2), 2, axis=3)

    tiled_apply(run, image, 2, TileConfig(16, 4), progress=lambda d, t: calls.append((d, t)))
    assert calls[-1][0] == calls[-1][1] == len(calls) > 1

    class Stop(Exception):
        pass

    def cancel(done: int, total: int) -> None:
        if done == 2:
            raise Stop

    with pytest.raises(Stop):
        tiled_apply(run, image, 2, TileConfig(16, 4), progress=cancel)


def test_invalid_tile_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="overlap 40 is more than half of tile 64"):
        TileConfig(64, 40)
    with pytest.raises(ValueError, match="at least 16"):
        TileConfig(8, 0)
