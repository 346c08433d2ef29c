"""Calibration of the measured score terms on training photos (training/score_calibration.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmrealsr_plugin.errors import DatasetError
from mmrealsr_plugin.registry import load_registry
from mmrealsr_plugin.training.score_calibration import (
    PATCH, calibrate_blocking, calibrate_scores, photo_patches,
)
from mmrealsr_plugin.weights import read_network


def test_patches_are_seeded_one_per_photo(large_hr_folder: Path) -> None:
    first, again = photo_patches([large_hr_folder], 8, seed=0), photo_patches([large_hr_folder], 8, seed=0)
    assert len(first) == 8 and all(p.shape == (PATCH, PATCH, 3) and p.dtype == np.uint8 for p in first)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.array_equal(a, b) for a, b in zip(first, photo_patches([large_hr_folder], 8, seed=1)))


def test_blocking_calibration_anchors_uncompressed_below_quality_10(large_hr_folder: Path) -> None:
    clean, worst = calibrate_blocking(photo_patches([large_hr_folder], 8))
    assert 0.9 < clean < worst


def test_calibration_gives_config_entries_the_model_accepts(large_hr_folder: Path) -> None:
    """On the packaged default's estimator: a positive blur scale and an increasing blocking pair."""
    entry = load_registry().entries[load_registry().default]
    network = read_network(entry.packaged_path())
    entries = calibrate_scores(network, [large_hr_folder], patches=8, blur_patches=8)
    assert entries["blur_sigma_scale"] > 0
    clean, worst = entries["jpeg_blocking"]
    assert 0 < clean < worst
    type(network.config).from_dict({**network.config.to_dict(), **entries})  # valid config entries


def test_calibration_names_the_folder_when_its_photos_are_too_small(hr_folder: Path) -> None:
    with pytest.raises(DatasetError, match="at least 8 photos of at least 320 px") as error:
        photo_patches([hr_folder], 200)
    assert str(hr_folder) in str(error.value)
