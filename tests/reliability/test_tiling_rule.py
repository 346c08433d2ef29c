"""One overlap rule for every front-end: an overlap above half the tile is reduced to half the tile."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmrealsr_plugin import TileConfig, load_model, read_image, restore
from mmrealsr_plugin.cli import EXIT_OK, main
from mmrealsr_plugin.grid import modulation_grid


def test_overlap_above_half_the_tile_is_reduced_to_half(tiny_model_path: Path) -> None:
    """Issue 13 item 15: ComfyUI's widgets allow tile 16 with the default overlap 64; that raised ValueError."""
    model = load_model(tiny_model_path, device="cpu")
    pixels = np.random.default_rng(0).random((40, 52, 3), dtype=np.float32)
    asked = restore(model, pixels, noise=0.3, blur=0.6, tile=16, overlap=64).image
    fitted = restore(model, pixels, noise=0.3, blur=0.6, tile=16, overlap=8).image
    assert np.array_equal(asked, fitted)
    grid = modulation_grid(model, pixels, (0.0,), (1.0,), cell_size=64, tile=16, overlap=64)
    assert grid.ndim == 3


def test_valid_settings_are_unchanged_and_bad_ones_still_refused() -> None:
    assert TileConfig.fitted(384, 64) == TileConfig(384, 64)
    assert TileConfig.fitted(64, 32) == TileConfig(64, 32)
    assert TileConfig.fitted(0, 500) == TileConfig(0, 500)
    assert TileConfig.fitted(16, 64) == TileConfig(16, 8)
    with pytest.raises(ValueError, match="at least 16"):
        TileConfig.fitted(8, 0)
    with pytest.raises(ValueError, match="overlap must be >= 0"):
        TileConfig.fitted(64, -1)


def test_cli_accepts_the_same_settings(tmp_path: Path, tiny_model_path: Path, photo) -> None:
    source = photo(tmp_path / "a.png", 40, 40)
    out = tmp_path / "out"
    assert main(["restore", str(source), "-o", str(out), "--model", str(tiny_model_path), "--device", "cpu",
                 "--tile", "16", "--overlap", "64", "--noise", "0.1", "--blur", "0.1"]) == EXIT_OK
    assert read_image(out / "a_mmrealsr.png").pixels.shape == (160, 160, 3)


def test_the_gimp_worker_passes_tile_and_overlap_to_the_core_unchanged(tmp_path: Path, tiny_model_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """The worker used to clamp the overlap to a quarter of the tile on its own (12 -> 8 for tile 32)."""
    pixels = np.random.default_rng(1).random((40, 44, 3), dtype=np.float32)
    np.save(tmp_path / "in.npy", pixels)
    assert main(["gimp", "worker", "--task", "restore", "--input", str(tmp_path / "in.npy"), "--output",
                 str(tmp_path / "out.npy"), "--model", str(tiny_model_path), "--device", "cpu", "--noise", "0.3",
                 "--blur", "0.6", "--tile", "32", "--overlap", "12"]) == EXIT_OK
    assert '"done"' in capsys.readouterr().out
    model = load_model(tiny_model_path, device="cpu")
    core = restore(model, pixels, noise=0.3, blur=0.6, tile=32, overlap=12).image
    clamped = restore(model, pixels, noise=0.3, blur=0.6, tile=32, overlap=8).image
    assert np.array_equal(np.load(tmp_path / "out.npy"), core) and not np.array_equal(core, clamped)
