"""The built wheel holds what an installed user needs: the namespace mapping, bundled configs and weights."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_wheel_maps_the_folders_and_ships_configs_and_weights(tmp_path: Path) -> None:
    # Build from the tracked files only, as a fresh clone would: a local egg-info or build/ folder can hide
    # missing package-data declarations.
    source = tmp_path / "src"
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, tracked.decode().split("\0")):
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                    "-w", str(tmp_path), str(source)], check=True, timeout=280)
    wheel = next(tmp_path.glob("mmrealsr_plugin-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        "mmrealsr_plugin/training/configs/smoke.toml",
        "mmrealsr_plugin/training/configs/mmrealsr_net_x4.toml",
        "mmrealsr_plugin/training/configs/degradation/official.toml",
        "mmrealsr_plugin/training/trainer.py",
        "mmrealsr_plugin/hub/__init__.py",
        "mmrealsr_plugin/nodes/__init__.py",
        "mmrealsr_plugin/models.toml",
    }
    assert expected <= names, sorted(expected - names)
    assert any(n.startswith("mmrealsr_plugin/weights/") and n.endswith(".safetensors") for n in names)
    # no generic top-level names in site-packages
    assert not {n.split("/")[0] for n in names} & {"hub", "training", "nodes", "tests", "bench"}
