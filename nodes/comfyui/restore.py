"""MM-RealSR Restore: upscale with the blur and noise knobs (manual or estimated per image)."""

from __future__ import annotations

import numpy as np
import torch

import mmrealsr_plugin

from . import host, inputs
from .estimate import score_lines
from .model import ComfyModel, on_device
from .tensors import alpha_to_mask, image_to_numpy, mask_as_alpha, numpy_to_image


def with_alpha(pixels: np.ndarray, mask: torch.Tensor | None) -> tuple[np.ndarray, bool]:
    """Append the mask as alpha (replacing an existing one); the engine upscales alpha on its own."""
    if mask is None:
        return pixels, pixels.shape[-1] in (2, 4)
    batch, height, width, channels = pixels.shape
    color = pixels[..., :-1] if channels in (2, 4) else pixels
    alpha = mask_as_alpha(mask, batch, height, width)
    return np.concatenate([color, alpha[..., None]], axis=-1), True


class MMRealSRRestore:
    DESCRIPTION = (
        "4x real-world super-resolution with two knobs: blur and noise restoration strength (0..1). With auto on, "
        "each image's own estimate is used. An optional mask is treated as alpha and upscaled alongside."
    )
    CATEGORY = inputs.CATEGORY
    FUNCTION = "restore"
    RETURN_TYPES = ("IMAGE", "MASK", "FLOAT", "FLOAT")
    RETURN_NAMES = ("image", "mask", "blur", "noise")
    OUTPUT_TOOLTIPS = (
        "The upscaled image(s).",
        "The mask upscaled to the output size (all zeros when no mask and no alpha came in).",
        "Blur strength used for the first image.",
        "Noise strength used for the first image.",
    )

    @classmethod
    def INPUT_TYPES(cls) -> dict:
        return {
            "required": {
                "image": inputs.IMAGE,
                "model": inputs.MODEL,
                "blur": inputs.knob("blur", "the softness"),
                "blur_auto": inputs.auto("blur"),
                "noise": inputs.knob("noise", "the grain"),
                "noise_auto": inputs.auto("noise"),
                "tile": inputs.TILE,
                "overlap": inputs.OVERLAP,
            },
            "optional": {
                "mask": ("MASK", {"tooltip": "Optional mask (1 = masked), upscaled with the image as its alpha."}),
            },
        }

    def restore(
        self, image: torch.Tensor, model: ComfyModel, blur: float, blur_auto: bool, noise: float, noise_auto: bool,
        tile: int, overlap: int, mask: torch.Tensor | None = None,
    ) -> dict:
        pixels, has_alpha = with_alpha(image_to_numpy(image), mask)
        with on_device(model, tile) as loaded:
            result = mmrealsr_plugin.restore(
                loaded, pixels, blur=None if blur_auto else blur, noise=None if noise_auto else noise,
                tile=tile, overlap=overlap, progress=host.progress_callback(),
            )
        out = result.image
        if has_alpha:
            upscaled, out_mask = out[..., :-1], alpha_to_mask(out[..., -1])
        else:
            upscaled, out_mask = out, torch.zeros(out.shape[:3], dtype=torch.float32)
        scores = result.scores
        return {
            "ui": {"text": score_lines(scores)},
            "result": (numpy_to_image(upscaled), out_mask, float(scores.blur[0]), float(scores.noise[0])),
        }
