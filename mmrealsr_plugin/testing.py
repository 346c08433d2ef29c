"""Helpers for tests of this package and of third-party plugins: tiny random models in the official layout."""

from __future__ import annotations

from pathlib import Path

import torch

from .archs.mmrealsr import MMRealSR, MMRealSRConfig
from .weights import save_safetensors

TINY_CONFIG = MMRealSRConfig(
    num_feat=8, num_block=2, num_grow_ch=4, embed_dim=16,
    estimator_feats=(8, 16), estimator_blocks=(1, 1), estimator_downscales=(2, 1), estimator_hidden=16,
)
"""A few thousand parameters: fast in any CPU test, same key layout as the official model."""


def random_model(config: MMRealSRConfig = TINY_CONFIG, seed: int = 0, std: float = 0.1) -> MMRealSR:
    """Random weights with enough spread that scores and outputs vary with the input and the knobs."""
    generator = torch.Generator().manual_seed(seed)
    model = MMRealSR(config)
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * std)
    return model.eval()


def save_random_model(path: str | Path, config: MMRealSRConfig = TINY_CONFIG, seed: int = 0) -> Path:
    """Write a random model as safetensors (with its config in the metadata)."""
    model = random_model(config, seed)
    return save_safetensors(model.state_dict(), path, config=config.to_dict())
