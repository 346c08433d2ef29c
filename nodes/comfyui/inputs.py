"""Input definitions shared by several nodes, so tooltips and limits agree everywhere."""

from __future__ import annotations

from mmrealsr_plugin.tiling import DEFAULT_OVERLAP, DEFAULT_TILE

from .model import MODEL_TYPE

CATEGORY = "image/upscaling/MM-RealSR"

IMAGE = ("IMAGE", {"tooltip": "The low-resolution image(s); every image of a batch gets its own scores."})
MODEL = (MODEL_TYPE, {"tooltip": "An MM-RealSR model from Load MM-RealSR Model."})
TILE = ("INT", {
    "default": DEFAULT_TILE, "min": 0, "max": 4096, "step": 16,
    "tooltip": "Tile size in input pixels (0: whole image at once). Smaller tiles use less memory; "
               "scores stay fixed over all tiles, and a device out-of-memory halves the tile automatically.",
})
OVERLAP = ("INT", {
    "default": DEFAULT_OVERLAP, "min": 0, "max": 512, "step": 8,
    "tooltip": "Overlap between neighbouring tiles in input pixels; hides seams. An overlap above half the tile "
               "is reduced to half the tile.",
})


def knob(name: str, what: str) -> tuple[str, dict]:
    return ("FLOAT", {
        "default": 0.5, "min": 0.0, "max": 1.0, "step": 0.01, "round": 0.001, "display": "slider",
        "tooltip": f"{name.capitalize()} restoration strength: 0 keeps {what}, 1 removes as much as the model "
                   f"was trained to. Ignored when {name}_auto is on.",
    })


def auto(name: str) -> tuple[str, dict]:
    return ("BOOLEAN", {
        "default": True,
        "tooltip": f"Estimate {name} from each image instead of using the slider.",
    })
