"""Load MM-RealSR Model: a local file, a registry name or a Hub reference -> MMREALSR_MODEL."""

from __future__ import annotations

from pathlib import Path

import mmrealsr_plugin
from mmrealsr_plugin.errors import ModelNotFoundError, NotMMRealSRModelError
from mmrealsr_plugin.registry import RegistryEntry, load_registry
from mmrealsr_plugin.sources import fetch_remote, resolve_model

from . import host
from .model import ComfyModel

UPSCALE_PREFIX = "upscale_models/"
REGISTRY_PREFIX = "registry/"
DEVICES = ["auto", "cpu", "cuda", "mps"]


def model_choices() -> list[str]:
    """Files of models/mmrealsr, then upscale_models/<file>, then registry/<name> for the registry
    models this node can fetch by itself (shipped in the package or hosted on the Hub)."""
    local = host.list_models(host.MODEL_FOLDER)
    upscale = [UPSCALE_PREFIX + name for name in host.list_models(host.UPSCALE_FOLDER)]
    entries = load_registry().entries.values()
    registry = [REGISTRY_PREFIX + e.name for e in sorted(entries, key=lambda e: e.name) if e.file or e.repo_id]
    return local + upscale + registry


def download(reference: str | RegistryEntry) -> Path:
    """Fetch a remote (Hub) file into models/mmrealsr (checksum-verified), with ComfyUI's progress bar."""
    return fetch_remote(reference, local_dir=host.ensure_model_folder(), progress=host.download_tqdm_class())


def fetch_registry_model(entry: RegistryEntry) -> Path:
    if entry.base is not None:  # an overlay: assembled from its base model and checked, by the core
        return resolve_model(entry.name)[0]
    local = entry.verified_local()
    if local is not None:
        return local
    if not entry.repo_id:
        where = f"models/{host.MODEL_FOLDER}"
        source = f"download {entry.url} into {where}" if entry.url else f"put its file into {where}"
        raise ModelNotFoundError(f"registry model {entry.name!r} is not hosted on the Hugging Face Hub: {source}")
    return download(entry)


def resolve_choice(model_name: str, hub_reference: str) -> tuple[Path, str]:
    """The local file for the node's inputs, downloading first when needed; plus a display label."""
    reference = hub_reference.strip()
    entries = load_registry().entries
    if reference:
        if reference in entries:
            return fetch_registry_model(entries[reference]), reference
        return download(reference), reference
    if model_name.startswith(REGISTRY_PREFIX):
        name = model_name[len(REGISTRY_PREFIX):]
        if name not in entries:
            raise ModelNotFoundError(f"registry model {name!r} is not in the registry any more; pick another model")
        return fetch_registry_model(entries[name]), name
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


def load(model_name: str, device: str, precision: str, hub_reference: str = "") -> ComfyModel:
    """The loader node's work: resolve the choice, load on the CPU (each node moves it to its device for its run)."""
    path, label = resolve_choice(model_name, hub_reference)
    try:
        loaded = mmrealsr_plugin.load_model(path, device="cpu", precision=precision)
    except NotMMRealSRModelError as exc:
        raise NotMMRealSRModelError(
            f"{label}: {exc} Load other upscalers (ESRGAN, SwinIR ...) with ComfyUI's Load Upscale Model node."
        ) from exc
    return ComfyModel(loaded, device, label)
