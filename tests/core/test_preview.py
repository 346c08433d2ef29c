"""Previews: a region restored as the full restore restores it (scores of the whole image, context around it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmrealsr_plugin import estimate, load_model, read_image, restore, write_image
from mmrealsr_plugin.cli import EXIT_OK, EXIT_USAGE, main
from mmrealsr_plugin.errors import UsageError
from mmrealsr_plugin.grid import modulation_grid
from mmrealsr_plugin.preview import Box, detail_box, restore_region, side_by_side


def _photo(height: int = 120, width: int = 160) -> np.ndarray:
    """Smooth gradients with one busy patch (rows 70-100, columns 20-60) where the detail is."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.stack([x / width, y / height, 0.5 + 0 * x], axis=-1)
    image[70:100, 20:60] = np.random.default_rng(1).random((30, 40, 3))
    return image.astype(np.float32)


def test_detail_box_finds_the_busy_patch_and_fits_small_images() -> None:
    box = detail_box(_photo(), 32)
    assert box.width == box.height == 32
    assert 70 - 8 <= box.y <= 100 - 32 + 8 and 20 - 8 <= box.x <= 60 - 32 + 8
    assert detail_box(np.zeros((20, 24, 3), np.float32), 256) == Box(0, 0, 24, 20)


@pytest.mark.parametrize("tile, overlap", [(0, 0), (48, 16)])
def test_region_equals_the_same_region_of_the_full_restore(tiny_model_path: Path, tile: int, overlap: int) -> None:
    model = load_model(tiny_model_path, device="cpu")
    image = _photo()
    box = Box(24, 66, 40, 32)
    full = restore(model, image, tile=tile, overlap=overlap)
    region = restore_region(model, image, box, tile=tile, overlap=overlap)
    expected = full.image[66 * 4: 98 * 4, 24 * 4: 64 * 4]
    assert region.image.shape == expected.shape == (128, 160, 3)
    # the tiny model sees a few pixels around each output pixel; 64 px of context covers that, as the
    # default overlap does for a real trunk (tiling.DEFAULT_OVERLAP), so only float rounding of the blend differs
    assert np.abs(region.image - expected).max() <= 1e-4
    np.testing.assert_array_equal(region.scores.as_array(), full.scores.as_array())
    crop_scores = estimate(model, image[66:98, 24:64])
    assert not np.allclose(crop_scores.as_array(), full.scores.as_array()), "scores must be the whole image's"


def test_region_with_knobs_and_a_box_outside_is_refused(tiny_model_path: Path) -> None:
    model = load_model(tiny_model_path, device="cpu")
    image = _photo()
    with pytest.raises(UsageError, match="outside the 160x120 image"):
        restore_region(model, image, Box(150, 0, 20, 20))
    with pytest.raises(UsageError, match="X,Y,WIDTH,HEIGHT"):
        Box.parse("1,2,0,4")
    set_knobs = restore_region(model, image, Box(0, 0, 16, 16), blur=0.1, noise=0.9)
    assert float(set_knobs.scores.blur[0]) == pytest.approx(0.1) and float(set_knobs.scores.noise[0]) == pytest.approx(0.9)


def test_grid_of_a_region_is_the_grid_of_its_restored_regions(tiny_model_path: Path) -> None:
    model = load_model(tiny_model_path, device="cpu")
    image, box = _photo(), Box(24, 66, 16, 16)
    from_region = modulation_grid(model, image, [0.0, 1.0], [0.5], cell_size=64, box=box, tile=0)
    region = image[50:98, 8:56]  # the box plus 16 px around: the tiny model's reach
    from_crop = modulation_grid(model, region, [0.0, 1.0], [0.5], cell_size=64 * 3, tile=0)
    assert from_region.shape[0] < from_crop.shape[0]  # cells fit the box, not the whole image
    assert from_region.std() > 0.01


def test_side_by_side_is_bicubic_then_restored() -> None:
    region = np.random.default_rng(0).random((8, 10, 3), dtype=np.float32)
    restored = np.random.default_rng(1).random((32, 40, 3), dtype=np.float32)
    picture = side_by_side(region, restored)
    assert picture.shape == (32, 40 + 8 + 40, 3)
    assert np.abs(picture[:, 48:] - restored).max() <= 1 / 255
    assert np.abs(picture[:, :40].mean() - region.mean()) < 0.05


def test_cli_preview_writes_side_by_side_and_grid_and_refuses_a_bad_crop(tmp_path: Path, tiny_model_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    photo = write_image(tmp_path / "photo.png", _photo())
    common = ["--model", str(tiny_model_path), "--device", "cpu"]
    assert main(["preview", str(photo), "--size", "32", *common]) == EXIT_OK
    picture = read_image(tmp_path / "photo_preview.png").pixels
    assert picture.shape == (128, 128 + 8 + 128, 3)
    assert "region" in capsys.readouterr().err
    assert main(["preview", str(photo), "--crop", "0,0,16,24", "--grid", *common]) == EXIT_OK
    assert (tmp_path / "photo_preview_grid.png").is_file()
    assert main(["preview", str(photo), "--crop", "150,0,20,20", "-o", str(tmp_path / "bad.png"), *common]) \
        == EXIT_USAGE
    assert not (tmp_path / "bad.png").exists()
    assert main(["preview", str(photo), "--size", "32", *common]) == EXIT_USAGE  # never overwrites without asking
