"""Fixtures for the trainer tests: a folder of small synthetic HR photos and the smoke config pointed at it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def _photo(rng: np.random.Generator, size: int) -> np.ndarray:
    """Smooth gradients, a few sharp-edged rectangles and fine texture: something to blur and to add noise to."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    image = np.stack([xx, yy, 1 - xx * yy], axis=-1) * rng.uniform(0.4, 1.0, 3)
    for _ in range(6):
        y0, x0 = rng.integers(0, size - 8, 2)
        h, w = rng.integers(4, size // 2, 2)
        image[y0 : y0 + h, x0 : x0 + w] = rng.uniform(0, 1, 3)
    image += 0.05 * np.sin(xx * size * rng.uniform(0.5, 2))[..., None]
    return (np.clip(image, 0, 1) * 255).astype(np.uint8)


def _photo_folder(factory: pytest.TempPathFactory, name: str, count: int, size: int, seed: int) -> Path:
    folder = factory.mktemp(name)
    rng = np.random.default_rng(seed)
    for i in range(count):
        Image.fromarray(_photo(rng, size)).save(folder / f"img_{i}.png")
    return folder


@pytest.fixture(scope="session")
def hr_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _photo_folder(tmp_path_factory, "train_hr", 6, 72, seed=0)


@pytest.fixture(scope="session")
def large_hr_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight photos of 330 px: enough for the score calibration (at least 320 px on the short side)."""
    return _photo_folder(tmp_path_factory, "train_hr_large", 8, 330, seed=2)


@pytest.fixture(scope="session")
def paired_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """HR/ and LR_x4/ like Set5, two images."""
    folder = tmp_path_factory.mktemp("paired")
    (folder / "HR").mkdir()
    (folder / "LR_x4").mkdir()
    rng = np.random.default_rng(1)
    for i in range(2):
        hr = Image.fromarray(_photo(rng, 64))
        hr.save(folder / "HR" / f"img_{i}.png")
        hr.resize((16, 16), Image.BICUBIC).save(folder / "LR_x4" / f"img_{i}.png")
    return folder


@pytest.fixture
def smoke_overrides(tmp_path: Path, hr_folder: Path, paired_folder: Path) -> list[str]:
    """--set items that keep a smoke run inside tmp_path and on the synthetic data."""
    return [
        f'run.output_root="{tmp_path / "runs"}"',
        f'data.train_dirs=["{hr_folder}"]',
        f'data.val_dir="{paired_folder}"',
        f'data.val_sweep_dir="{paired_folder / "HR"}"',
    ]
