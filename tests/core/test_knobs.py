"""How knobs become the network's scores (mmrealsr_plugin/knobs.py) and how the engine applies it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from mmrealsr_plugin import load_model, restore
from mmrealsr_plugin.archs.mmrealsr import MMRealSR, MMRealSRConfig
from mmrealsr_plugin.knobs import EDGE, REFERENCE, network_scores

ESTIMATES = np.array([[0.0, 1.0], [0.3, 0.7], [0.9, 0.05]])


def test_absolute_knobs_are_the_scores() -> None:
    knobs = np.array([[0.2, 0.8]])
    assert network_scores("absolute", knobs, np.array([[0.5, 0.5]])) is knobs


def test_relative_knobs_put_the_estimate_at_the_reference_and_keep_the_ends() -> None:
    assert np.array_equal(network_scores("relative", ESTIMATES, ESTIMATES), np.full_like(ESTIMATES, REFERENCE))
    inside = np.array([[0.3, 0.7], [0.5, EDGE], [1 - EDGE, 0.9]])
    assert np.allclose(network_scores("relative", np.zeros_like(inside), inside), 0)
    assert np.allclose(network_scores("relative", np.ones_like(inside), inside), 1)
    edge = network_scores("relative", np.array([[0.0, 1.0]]), np.array([[0.001, 0.999]]))  # near an end: bounded
    assert (abs(edge - REFERENCE) <= REFERENCE).all()


def test_relative_knobs_are_monotone_and_continuous_including_extrapolation() -> None:
    knobs = np.linspace(-1, 2, 3001)
    for estimate in (0.0, 0.005, 0.25, 0.5, 0.97, 1.0):
        pairs = np.stack([knobs, knobs], axis=1)
        mapped = network_scores("relative", pairs, np.full_like(pairs, estimate))[:, 0]
        steps = np.diff(mapped)
        assert (steps > 0).all()
        assert steps.max() < 0.001 * REFERENCE / EDGE + 1e-9  # no jump at the estimate


def test_numpy_and_torch_give_the_same_map() -> None:
    knobs = np.random.default_rng(0).uniform(0, 1, ESTIMATES.shape)
    expected = network_scores("relative", knobs, ESTIMATES)
    got = network_scores("relative", torch.from_numpy(knobs), torch.from_numpy(ESTIMATES))
    assert np.allclose(got.numpy(), expected)


@pytest.fixture
def relative_model():
    torch.manual_seed(0)
    config = dataclasses.replace(MMRealSRConfig(num_feat=8, num_block=2, num_grow_ch=4, embed_dim=16,
                                                estimator_feats=(8,), estimator_blocks=(1,),
                                                estimator_downscales=(1,), estimator_hidden=8), knobs="relative")
    network = MMRealSR(config)
    for modulation in network.am_list:  # visible modulations, so the scores the network gets show in the output
        torch.nn.init.normal_(modulation.fc[-1].weight, std=0.5)
    return load_model(network.eval(), device="cpu"), network


def test_engine_conditions_a_relative_model_on_the_mapped_knobs(relative_model) -> None:
    relative_model, network = relative_model
    image = np.random.default_rng(1).uniform(0, 1, (12, 12, 3)).astype(np.float32)
    automatic = restore(relative_model, image)
    x = torch.from_numpy(image.transpose(2, 0, 1))[None]
    with torch.no_grad():
        at_reference = network(x, torch.full((1, 2), REFERENCE)).clamp(0, 1)[0].permute(1, 2, 0).numpy()
        at_zero = network(x, torch.zeros(1, 2)).clamp(0, 1)[0].permute(1, 2, 0).numpy()
    assert np.abs(automatic.image - at_reference).max() < 1e-5  # automatic = the reference point, whatever the photo
    both_set = restore(relative_model, image, blur=0.0, noise=0.0)  # both knobs set: still estimated, then mapped
    assert np.abs(both_set.image - at_zero).max() < 1e-5
    assert both_set.scores.blur[0] == 0.0 and both_set.scores.noise[0] == 0.0  # what the user set is reported


def test_a_preview_of_a_relative_model_reads_the_knobs_against_the_whole_photo(relative_model) -> None:
    from mmrealsr_plugin import estimate
    from mmrealsr_plugin.preview import Box, restore_region

    relative_model, _ = relative_model
    runner, seen = relative_model.runner, []
    real_run = runner.run_tile
    runner.run_tile = lambda tile, scores: seen.append(scores.copy()) or real_run(tile, scores)  # the real runner
    image = np.random.default_rng(3).uniform(0, 1, (24, 24, 3)).astype(np.float32)
    image[:12] = image[:12] * 0.1 + 0.45  # the crop's own estimate differs from the whole photo's
    whole, crop = estimate(relative_model, image).as_array(), estimate(relative_model, image[:8, :8]).as_array()
    assert np.abs(whole - crop).max() > 1e-3
    restore_region(relative_model, image, Box(0, 0, 8, 8), blur=0.2, noise=0.9, tile=0, context=0)
    knobs = np.array([[0.2, 0.9]])
    assert np.allclose(seen[-1], network_scores("relative", knobs, whole))
