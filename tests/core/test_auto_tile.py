"""Tiles sized from the free device memory (issue 15 item 6): the choice from given figures, and the engine's use."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmrealsr_plugin import engine, write_image
from mmrealsr_plugin.archs.mmrealsr import OFFICIAL_CONFIG
from mmrealsr_plugin.cli import EXIT_OK, EXIT_USAGE, main
from mmrealsr_plugin.tiling import AUTO_TILE_FRACTION, AUTO_TILE_MIN, DEFAULT_TILE, auto_tile


def test_the_largest_tile_within_the_budget_is_chosen() -> None:
    cost = lambda side: side * side * 1000  # noqa: E731
    tile = auto_tile(2000, 1500, 10**9, cost)
    assert tile % 32 == 0 and cost(tile) <= AUTO_TILE_FRACTION * 10**9 < cost(tile + 32)
    assert auto_tile(500, 300, 10**9, cost) == 0, "an image that fits whole runs in one piece"
    assert auto_tile(2000, 1500, None, cost) == DEFAULT_TILE, "unknown free memory keeps the default"
    assert auto_tile(2000, 1500, 1000, cost) == AUTO_TILE_MIN, "nothing fits: the smallest, then the OOM retry"


@pytest.mark.parametrize("gib", [4, 8, 24, 80])
def test_official_model_tiles_grow_with_the_free_gpu_memory(gib: int) -> None:
    """What a CUDA card with ``gib`` free would get for a 4096x4096 photo in float16 (2 bytes a value)."""
    per_value = 2
    cost = lambda side: per_value * OFFICIAL_CONFIG.activation_values(side)  # noqa: E731
    tile = auto_tile(4096, 4096, gib * 1024**3, cost)
    smaller = auto_tile(4096, 4096, gib * 1024**3 // 2, cost)
    assert AUTO_TILE_MIN <= smaller <= tile and cost(tile) <= AUTO_TILE_FRACTION * gib * 1024**3


def test_restore_with_auto_tile_uses_the_runner_free_memory(tiny_model_path: Path) -> None:
    model = engine.load_model(tiny_model_path, device="cpu")
    image = np.random.default_rng(0).random((96, 80, 3), dtype=np.float32)
    whole = engine.restore(model, image, blur=0.5, noise=0.5, tile="auto")
    assert whole.tile == 0, "the CPU of this machine has room for a 96x80 image in one piece"
    budget = model.runner.memory_bytes(48) / AUTO_TILE_FRACTION
    model.runner.free_bytes = lambda: int(budget)  # a device with room for 48 px tiles, not more
    expected = auto_tile(96, 80, int(budget), model.runner.memory_bytes)
    tiled = engine.restore(model, image, blur=0.5, noise=0.5, tile="auto", overlap=8)
    assert tiled.tile == expected == AUTO_TILE_MIN
    same = engine.restore(model, image, blur=0.5, noise=0.5, tile=expected, overlap=8)
    np.testing.assert_array_equal(tiled.image, same.image)


def test_cli_takes_tile_auto_and_refuses_other_words(tmp_path: Path, tiny_model_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    source = write_image(tmp_path / "a.png", np.random.default_rng(0).random((20, 24, 3), dtype=np.float32))
    args = ["restore", str(source), "-o", str(tmp_path / "o"), "--model", str(tiny_model_path), "--device", "cpu"]
    assert main([*args, "--tile", "auto"]) == EXIT_OK
    with pytest.raises(SystemExit) as exc:
        main([*args, "--tile", "big"])
    assert exc.value.code == EXIT_USAGE and "'auto'" in capsys.readouterr().err
