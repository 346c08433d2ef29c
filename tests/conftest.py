"""Fixtures shared by every test area: tiny random MM-RealSR models in the official key layout."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("MMREALSR_DISABLE_PLUGIN_AUTOLOAD", "1")

from mmrealsr_plugin.archs.mmrealsr import MMRealSR, MMRealSRConfig  # noqa: E402
from mmrealsr_plugin.weights import save_safetensors  # noqa: E402

TINY_CONFIG = MMRealSRConfig(
    num_feat=8, num_block=2, num_grow_ch=4, embed_dim=16,
    estimator_feats=(8, 16), estimator_blocks=(1, 1), estimator_downscales=(2, 1), estimator_hidden=16,
)
"""A few thousand parameters: fast enough for any CPU test, same key layout as the official model."""


def random_model(config: MMRealSRConfig = TINY_CONFIG, seed: int = 0, std: float = 0.1) -> MMRealSR:
    """Random weights with enough spread that scores and outputs vary with the input."""
    generator = torch.Generator().manual_seed(seed)
    model = MMRealSR(config)
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * std)
    return model.eval()


@pytest.fixture
def tiny_model() -> MMRealSR:
    return random_model()


@pytest.fixture
def tiny_model_path(tmp_path: Path) -> Path:
    model = random_model()
    return save_safetensors(model.state_dict(), tmp_path / "tiny.safetensors", config=TINY_CONFIG.to_dict())
