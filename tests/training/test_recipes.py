"""The subset packer: a seeded, size-bounded set of training crops that travels with the code to a rented GPU."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from mmrealsr_plugin.training.recipes import pack_subset


def test_pack_subset_writes_one_bounded_crop_per_image_and_is_seeded(hr_folder: Path, tmp_path: Path) -> None:
    count, total, quality = pack_subset.pack(hr_folder, tmp_path / "a", side=32, max_mb=1.0, seed=0)
    files = sorted((tmp_path / "a").iterdir())
    assert count == len(files) > 0 and quality == pack_subset.QUALITIES[0]
    assert sum(f.stat().st_size for f in files) == total <= 1e6
    assert all(Image.open(f).size == (32, 32) for f in files)
    pack_subset.pack(hr_folder, tmp_path / "b", side=32, max_mb=1.0, seed=0)
    assert [f.read_bytes() for f in files] == [f.read_bytes() for f in sorted((tmp_path / "b").iterdir())]


def test_pack_subset_refuses_a_budget_it_cannot_meet(hr_folder: Path, tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="need"):
        pack_subset.pack(hr_folder, tmp_path / "c", side=32, max_mb=1e-4, seed=0)
