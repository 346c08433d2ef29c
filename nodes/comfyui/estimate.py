"""Estimate Degradation: the blur and noise scores MM-RealSR's estimator sees in each image."""

from __future__ import annotations

import torch

import mmrealsr_plugin
from mmrealsr_plugin.types import Scores

from .model import ComfyModel, on_device
from .tensors import image_to_numpy


def score_lines(scores: Scores) -> list[str]:
    """One UI line per image of the batch."""
    return [f"image {i}: blur {b:.3f}, noise {n:.3f}" for i, (b, n) in enumerate(zip(scores.blur, scores.noise))]


def estimate_images(image: torch.Tensor, model: ComfyModel) -> Scores:
    with on_device(model) as loaded:
        return mmrealsr_plugin.estimate(loaded, image_to_numpy(image))
