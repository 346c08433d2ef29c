"""The nodes in ComfyUI's V3 schema (``comfy_api.latest``): ids, inputs, defaults, outputs; the work is elsewhere.

Imported only by ``comfy_entrypoint`` inside a running ComfyUI (>= 0.3.48 has ``comfy_api.latest``), so the
rest of the pack imports without ComfyUI. Node ids, input names, defaults and output order are those of the
V1 nodes they replace: saved workflows load and run unchanged.
"""

from __future__ import annotations

from comfy_api.latest import ComfyExtension, io

from mmrealsr_plugin.tiling import DEFAULT_OVERLAP, DEFAULT_TILE
from mmrealsr_plugin.types import PRECISIONS

from . import estimate, grid, loader, preview, restore
from .model import MODEL_TYPE, UPSCALE_MODEL_TYPE, as_model

CATEGORY = "image/upscaling/MM-RealSR"
MMRealSRModel = io.Custom(MODEL_TYPE)


def image_input() -> io.Image.Input:
    return io.Image.Input("image", tooltip="The low-resolution image(s); every image of a batch gets its own scores.")


def model_input() -> io.MultiType.Input:
    return io.MultiType.Input(
        MMRealSRModel.Input("model"), types=[MMRealSRModel, io.UpscaleModel],
        tooltip=f"An MM-RealSR model from Load MM-RealSR Model, or an {UPSCALE_MODEL_TYPE} from ComfyUI's Load "
                "Upscale Model holding an MM-RealSR network (it then gets the knobs and fixed-score tiling).",
    )


def tile_inputs() -> list[io.Int.Input]:
    return [
        io.Int.Input(
            "tile", default=DEFAULT_TILE, min=0, max=4096, step=16,
            tooltip="Tile size in input pixels (0: whole image at once). Smaller tiles use less memory; scores stay "
                    "fixed over all tiles, and a device out-of-memory halves the tile automatically.",
        ),
        io.Int.Input(
            "overlap", default=DEFAULT_OVERLAP, min=0, max=512, step=8,
            tooltip="Overlap between neighbouring tiles in input pixels; hides seams. An overlap above half the "
                    "tile is reduced to half the tile.",
        ),
    ]


def knob_inputs() -> list[io.Input]:
    inputs: list[io.Input] = []
    for name, what in (("blur", "the softness"), ("noise", "the grain")):
        inputs.append(io.Float.Input(
            name, default=0.5, min=0.0, max=1.0, step=0.01, round=0.001, display_mode=io.NumberDisplay.slider,
            tooltip=f"{name.capitalize()} restoration strength: 0 keeps {what}, 1 removes as much as the model was "
                    f"trained to. Ignored when {name}_auto is on.",
        ))
        inputs.append(io.Boolean.Input(
            f"{name}_auto", default=True, label_on="estimate", label_off="slider",  # which value is used
            tooltip=f"Estimate {name} from each image instead of using the slider.",
        ))
    return inputs


def score_outputs(what: str) -> list[io.Float.Output]:
    return [io.Float.Output(display_name=knob, tooltip=f"{knob.capitalize()} {what} (0..1).")
            for knob in ("blur", "noise")]


def knob(value: float, auto: bool) -> float | None:
    return None if auto else value


class LoadMMRealSRModel(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LoadMMRealSRModel", display_name="Load MM-RealSR Model", category=CATEGORY,
            description="Loads an MM-RealSR generator (.safetensors or .pth; weights only, no code is executed). "
                        "Other upscale models (ESRGAN, SwinIR ...) are refused: use ComfyUI's Load Upscale Model "
                        "for those.",
            inputs=[
                io.Combo.Input(
                    "model_name", options=loader.model_choices(),
                    tooltip="A file from models/mmrealsr, a file from models/upscale_models (upscale_models/...), "
                            "or a registry model (registry/...) that is downloaded into models/mmrealsr on first "
                            "use.",
                ),
                io.Combo.Input(
                    "device", options=loader.DEVICES, default="auto",
                    tooltip="Where the network runs: auto follows ComfyUI (--cpu, the GPU it manages).",
                ),
                io.Combo.Input(
                    "precision", options=list(PRECISIONS), default="float32",
                    tooltip="Compute precision; float16/bfloat16 halve GPU memory and are faster on recent GPUs.",
                ),
                io.String.Input(
                    "hub_reference", default="", optional=True,
                    tooltip="Optional Hugging Face Hub reference (hf://ORG/REPO/FILE[@REVISION], ORG/REPO:FILE or "
                            "ORG/REPO) or registry name; when set it overrides model_name. Hub files are downloaded "
                            "into models/mmrealsr once and verified against the Hub's checksum.",
                ),
            ],
            outputs=[MMRealSRModel.Output(display_name="model",
                                          tooltip="The MM-RealSR model, kept on the CPU between runs.")],
        )

    @classmethod
    def execute(cls, model_name: str, device: str, precision: str, hub_reference: str = "") -> io.NodeOutput:
        return io.NodeOutput(loader.load(model_name, device, precision, hub_reference))


class MMRealSREstimateDegradation(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="MMRealSREstimateDegradation", display_name="Estimate Degradation (MM-RealSR)", category=CATEGORY,
            description="Estimates blur and noise (0..1, higher = more degraded) per image. Outputs are the first "
                        "image's scores; the node shows the scores of every image of the batch.",
            inputs=[image_input(), model_input()],
            outputs=score_outputs("score of the first image"),
        )

    @classmethod
    def execute(cls, image, model) -> io.NodeOutput:  # noqa: ANN001 - ComfyUI's tensors and models
        scores = estimate.estimate_images(image, as_model(model))
        return io.NodeOutput(float(scores.blur[0]), float(scores.noise[0]),
                             ui={"text": estimate.score_lines(scores)})


class MMRealSRRestore(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="MMRealSRRestore", display_name="MM-RealSR Restore", category=CATEGORY,
            description="4x real-world super-resolution with two knobs: blur and noise restoration strength (0..1). "
                        "With auto on, each image's own estimate is used. An optional mask is treated as alpha and "
                        "upscaled alongside.",
            inputs=[
                image_input(), model_input(), *knob_inputs(), *tile_inputs(),
                io.Mask.Input("mask", optional=True,
                              tooltip="Optional mask (1 = masked), upscaled with the image as its alpha."),
            ],
            outputs=[
                io.Image.Output(display_name="image", tooltip="The upscaled image(s)."),
                io.Mask.Output(display_name="mask", tooltip="The mask upscaled to the output size (all zeros when no "
                                                            "mask and no alpha came in)."),
                *score_outputs("strength used for the first image"),
            ],
        )

    @classmethod
    def execute(cls, image, model, blur: float, blur_auto: bool, noise: float, noise_auto: bool,  # noqa: ANN001
                tile: int, overlap: int, mask=None) -> io.NodeOutput:
        done = restore.restore_images(image, as_model(model), knob(blur, blur_auto), knob(noise, noise_auto), tile,
                                      overlap, mask)
        return io.NodeOutput(done.image, done.mask, float(done.scores.blur[0]), float(done.scores.noise[0]),
                             ui={"text": estimate.score_lines(done.scores)})


class MMRealSRModulationGrid(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        def values(name: str) -> io.String.Input:
            return io.String.Input(
                f"{name}_values", default="0, 0.5, 1",
                tooltip=f"Comma-separated {name} strengths in [0, 1], one grid "
                        f"{'column' if name == 'blur' else 'row'} per value.",
            )

        return io.Schema(
            node_id="MMRealSRModulationGrid", display_name="MM-RealSR Modulation Grid", category=CATEGORY,
            description="Restores the image at every (noise, blur) pair and lays the results out in one labelled "
                        "grid: columns are blur values, rows are noise values. A batch gives one grid per image.",
            inputs=[
                image_input(), model_input(), values("blur"), values("noise"),
                io.Int.Input("cell_size", default=384, min=64, max=2048, step=32,
                             tooltip="Longer side of each grid cell in pixels (results are resized to fit)."),
                *tile_inputs(),
            ],
            outputs=[io.Image.Output(display_name="grid", tooltip="The labelled grid (one per input image).")],
        )

    @classmethod
    def validate_inputs(cls, blur_values: str, noise_values: str) -> bool | str:
        return grid.validate_values(blur_values, noise_values)

    @classmethod
    def execute(cls, image, model, blur_values: str, noise_values: str, cell_size: int,  # noqa: ANN001
                tile: int, overlap: int) -> io.NodeOutput:
        return io.NodeOutput(grid.grid_images(image, as_model(model), blur_values, noise_values, cell_size, tile,
                                              overlap))


class MMRealSRPreview(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="MMRealSRPreview", display_name="MM-RealSR Preview", category=CATEGORY,
            description="Restores one region of each image in seconds, exactly as MM-RealSR Restore would restore "
                        "it (scores of the whole image, the region's surroundings as context): bicubic | restored "
                        "side by side, to choose the knobs before the long run.",
            inputs=[
                image_input(), model_input(), *knob_inputs(),
                io.String.Input(
                    "crop", default=preview.AUTO_CROP,
                    tooltip="'auto': the most detailed square of crop_size pixels; or X,Y,WIDTH,HEIGHT in input "
                            "pixels.",
                ),
                io.Int.Input("crop_size", default=256, min=16, max=2048, step=16,
                             tooltip="Side of the automatic region in input pixels."),
                *tile_inputs(),
            ],
            outputs=[
                io.Image.Output(display_name="preview", tooltip="Bicubic | restored of the region, per image."),
                io.Image.Output(display_name="region", tooltip="The restored region alone (4x), per image."),
                *score_outputs("strength used for the first image"),
            ],
        )

    @classmethod
    def validate_inputs(cls, crop: str) -> bool | str:
        return preview.validate_crop(crop)

    @classmethod
    def execute(cls, image, model, blur: float, blur_auto: bool, noise: float, noise_auto: bool,  # noqa: ANN001
                crop: str, crop_size: int, tile: int, overlap: int) -> io.NodeOutput:
        pictures, regions, scores, boxes = preview.preview_images(
            image, as_model(model), knob(blur, blur_auto), knob(noise, noise_auto), crop, crop_size, tile, overlap)
        lines = [f"{line}, region {b.x},{b.y},{b.width},{b.height}"
                 for line, b in zip(estimate.score_lines(scores), boxes)]
        return io.NodeOutput(pictures, regions, float(scores.blur[0]), float(scores.noise[0]), ui={"text": lines})


NODES: list[type[io.ComfyNode]] = [
    LoadMMRealSRModel, MMRealSREstimateDegradation, MMRealSRRestore, MMRealSRModulationGrid, MMRealSRPreview,
]


class MMRealSRExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return list(NODES)
