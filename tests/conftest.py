"""Fixtures shared by every test area."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("MMREALSR_DISABLE_PLUGIN_AUTOLOAD", "1")

from mmrealsr_plugin.archs.mmrealsr import MMRealSR  # noqa: E402
from mmrealsr_plugin.testing import random_model, save_random_model  # noqa: E402


@pytest.fixture
def tiny_model() -> MMRealSR:
    return random_model()


@pytest.fixture
def tiny_model_path(tmp_path: Path) -> Path:
    return save_random_model(tmp_path / "tiny.safetensors")
