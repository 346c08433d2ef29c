"""Estimate Degradation: the blur and noise scores MM-RealSR's estimator sees in each image."""

from __future__ import annotations

import torch

import mmrealsr_plugin
from mmrealsr_plugin.types import Scores

from . import inputs
from .model import ComfyModel, on_device
from .tensors import image_to_numpy


def score_lines(scores: Scores) -> list[str]:
    """One UI line per image of the batch."""
    return [f"image {i}: blur {b:.3f}, noise {n:.3f}" for i, (b, n) in enumerate(zip(scores.blur, scores.noise))]


class MMRealSREstimate:
    DESCRIPTION = (
        "Estimates blur and noise (0..1, higher = more degraded) per image. Outputs are the first image's scores; "
        "the node shows the scores of every image of the batch."
    )
    CATEGORY = inputs.CATEGORY
    FUNCTION = "estimate"
    RETURN_TYPES = ("FLOAT", "FLOAT")
    RETURN_NAMES = ("blur", "noise")
    OUTPUT_TOOLTIPS = ("Blur score of the first image (0..1).", "Noise score of the first image (0..1).")

    @classmethod
    def INPUT_TYPES(cls) -> dict:
        return {"required": {"image": inputs.IMAGE, "model": inputs.MODEL}}

    def estimate(self, image: torch.Tensor, model: ComfyModel) -> dict:
        with on_device(model) as loaded:
            scores = mmrealsr_plugin.estimate(loaded, image_to_numpy(image))
        return {"ui": {"text": score_lines(scores)}, "result": (float(scores.blur[0]), float(scores.noise[0]))}
