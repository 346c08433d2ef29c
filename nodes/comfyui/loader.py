"""Load MM-RealSR Model: a local file, a registry name or a Hub reference -> MMREALSR_MODEL."""

from __future__ import annotations

from pathlib import Path

import mmrealsr_plugin
from mmrealsr_plugin.errors import ModelNotFoundError, NotMMRealSRModelError
from mmrealsr_plugin.registry import load_registry

from . import host
from .model import MODEL_TYPE, ComfyModel

UPSCALE_PREFIX = "upscale_models/"
REGISTRY_PREFIX = "registry/"
DEVICES = ["auto", "cpu", "cuda", "mps"]
PRECISIONS = ["float32", "float16", "bfloat16"]


def model_choices() -> list[str]:
    """Files of models/mmrealsr, then upscale_models/<file>, then registry/<name> (downloaded on use)."""
    local = host.list_models(host.MODEL_FOLDER)
    upscale = [UPSCALE_PREFIX + name for name in host.list_models(host.UPSCALE_FOLDER)]
    registry = [REGISTRY_PREFIX + name for name in sorted(load_registry().entries)]
    return local + upscale + registry


def download(reference: str) -> Path:
    """Fetch a registry name or Hub reference into models/mmrealsr, with ComfyUI's progress bar."""
    from mmrealsr_plugin import hub

    target = host.ensure_model_folder()
    return Path(hub.download(reference, local_dir=target, tqdm_class=host.download_tqdm_class()))


def resolve_choice(model_name: str, hub_reference: str) -> tuple[Path, str]:
    """The local file for the node's inputs, downloading first when needed; plus a display label."""
    reference = hub_reference.strip()
    if reference:
        return download(reference), reference
    if model_name.startswith(REGISTRY_PREFIX):
        name = model_name[len(REGISTRY_PREFIX):]
        return download(name), name
    kind, name = host.MODEL_FOLDER, model_name
    if model_name.startswith(UPSCALE_PREFIX):
        kind, name = host.UPSCALE_FOLDER, model_name[len(UPSCALE_PREFIX):]
    path = host.model_path(kind, name)
    if path is None:
        raise ModelNotFoundError(
            f"model {model_name!r} is not in ComfyUI's {kind} folder(s) any more; refresh the node list (R) "
            f"or put the file into models/{kind}"
        )
    return Path(path), model_name


class LoadMMRealSRModel:
    DESCRIPTION = (
        "Loads an MM-RealSR generator (.safetensors or .pth; weights only, no code is executed). Other upscale "
        "models (ESRGAN, SwinIR ...) are refused: use ComfyUI's Load Upscale Model for those."
    )
    CATEGORY = "image/upscaling/MM-RealSR"
    FUNCTION = "load"
    RETURN_TYPES = (MODEL_TYPE,)
    RETURN_NAMES = ("model",)
    OUTPUT_TOOLTIPS = ("The MM-RealSR model, kept on the CPU between runs.",)

    @classmethod
    def INPUT_TYPES(cls) -> dict:
        return {
            "required": {
                "model_name": (model_choices(), {
                    "tooltip": "A file from models/mmrealsr, a file from models/upscale_models (upscale_models/...), "
                               "or a registry model (registry/...) that is downloaded into models/mmrealsr on first use.",
                }),
                "device": (DEVICES, {
                    "default": "auto",
                    "tooltip": "Where the network runs: auto follows ComfyUI (--cpu, the GPU it manages).",
                }),
                "precision": (PRECISIONS, {
                    "default": "float32",
                    "tooltip": "Compute precision; float16/bfloat16 halve GPU memory and are faster on recent GPUs.",
                }),
            },
            "optional": {
                "hub_reference": ("STRING", {
                    "default": "",
                    "tooltip": "Optional Hugging Face Hub reference (hf://ORG/REPO/FILE[@REVISION]) or registry name; "
                               "when set it overrides model_name and is downloaded into models/mmrealsr.",
                }),
            },
        }

    def load(self, model_name: str, device: str, precision: str, hub_reference: str = "") -> tuple[ComfyModel]:
        path, label = resolve_choice(model_name, hub_reference)
        try:
            loaded = mmrealsr_plugin.load_model(path, device="cpu", precision=precision)
        except NotMMRealSRModelError as exc:
            raise NotMMRealSRModelError(
                f"{label}: not an MM-RealSR model ({exc}). Load other upscalers with ComfyUI's Load Upscale Model node."
            ) from exc
        return (ComfyModel(loaded, device, label),)
