"""The packaged default model: found without --model, verified, and its knobs change the result."""

from __future__ import annotations

import numpy as np

from mmrealsr_plugin import load_model, restore
from mmrealsr_plugin.registry import load_registry
from mmrealsr_plugin.sample import make_sample_photo
from mmrealsr_plugin.weights import sha256_of


def test_default_model_is_packaged_and_pinned() -> None:
    registry = load_registry()
    entry = registry.entries[registry.default]
    path = entry.packaged_path()
    assert path is not None and path.is_file()
    assert sha256_of(path) == entry.sha256
    assert path.with_suffix(".md").is_file(), "the default model ships with its model card"


def test_default_model_loads_and_the_knobs_matter() -> None:
    model = load_model(device="cpu")
    assert model.descriptor.name == load_registry().default
    assert model.descriptor.config.num_block == 23
    crop = make_sample_photo()[32:64, 40:80]
    low = restore(model, crop, noise=0.0, blur=0.0).image
    high = restore(model, crop, noise=1.0, blur=1.0).image
    assert low.shape == (128, 160, 3)
    assert np.abs(low - high).mean() > 1 / 255
