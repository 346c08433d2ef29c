"""Everything that touches ComfyUI's own modules, imported lazily.

ComfyUI's modules (``folder_paths``, ``comfy.*``) exist only inside a running ComfyUI, so they
are imported inside these functions: importing the node pack elsewhere (tests, docs tools,
ComfyUI-Manager's scanners) must keep working.
"""

from __future__ import annotations

import os

from mmrealsr_plugin.tiling import ProgressFn

MODEL_FOLDER = "mmrealsr"
"""Our own model folder kind: ``models/mmrealsr``."""
UPSCALE_FOLDER = "upscale_models"
MODEL_EXTENSIONS = {".safetensors", ".pth"}


def ensure_model_folder() -> str:
    """Register ``models/mmrealsr`` with ComfyUI (idempotent) and return its default path.

    A kind added through ``add_model_folder_path`` starts with no extension filter, so the
    entry is rewritten with ours; paths added by extra_model_paths.yaml are kept.
    """
    import folder_paths

    default = os.path.join(folder_paths.models_dir, MODEL_FOLDER)
    os.makedirs(default, exist_ok=True)
    paths, _ = folder_paths.folder_names_and_paths.get(MODEL_FOLDER, ([], set()))
    if default not in paths:
        paths = [default, *paths]
    folder_paths.folder_names_and_paths[MODEL_FOLDER] = (list(paths), set(MODEL_EXTENSIONS))
    return default


def list_models(kind: str) -> list[str]:
    import folder_paths

    if kind == MODEL_FOLDER:
        ensure_model_folder()
    names = folder_paths.get_filename_list(kind)
    return [name for name in names if os.path.splitext(name)[1].lower() in MODEL_EXTENSIONS]


def model_path(kind: str, name: str) -> str | None:
    import folder_paths

    if kind == MODEL_FOLDER:
        ensure_model_folder()
    return folder_paths.get_full_path(kind, name)


def torch_device() -> str:
    """The device ComfyUI runs models on (honours --cpu, --directml aside)."""
    import comfy.model_management as mm

    return str(mm.get_torch_device())


def free_memory(required_bytes: int, device: str) -> None:
    """Ask ComfyUI to unload its own models until ``required_bytes`` fit on ``device``."""
    import comfy.model_management as mm
    import torch

    mm.free_memory(required_bytes, torch.device(device))


def soft_empty_cache() -> None:
    import comfy.model_management as mm

    mm.soft_empty_cache()


def progress_callback() -> ProgressFn:
    """A ``progress(done, total)`` driving ComfyUI's progress bar; raises when the user interrupts.

    ComfyUI's global progress hook already checks for POST /interrupt, but the explicit check
    makes cancellation independent of whether a hook is installed.
    """
    import comfy.model_management as mm
    import comfy.utils

    bar: comfy.utils.ProgressBar | None = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        mm.throw_exception_if_processing_interrupted()
        if bar is None:
            bar = comfy.utils.ProgressBar(total)
        bar.update_absolute(done, total)

    return progress


def download_tqdm_class() -> type:
    """A tqdm subclass that mirrors a download's byte count onto ComfyUI's progress bar."""
    import comfy.utils
    from tqdm.auto import tqdm

    class ComfyTqdm(tqdm):  # type: ignore[misc, valid-type]
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self._bar = comfy.utils.ProgressBar(max(int(self.total or 0), 1))

        def update(self, n: float | None = 1) -> bool | None:
            shown = super().update(n)
            if self.total:
                self._bar.update_absolute(int(self.n), int(self.total))
            return shown

    return ComfyTqdm

