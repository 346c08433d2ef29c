"""The pack outside ComfyUI: importable without ComfyUI's modules, plus its pure helpers."""

from __future__ import annotations

import importlib.util
import inspect
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mmrealsr_plugin.errors import InvalidScoreError, ModelNotFoundError, NotMMRealSRModelError, UsageError
from mmrealsr_plugin.nodes.comfyui.grid import parse_values, validate_values
from mmrealsr_plugin.nodes.comfyui.model import as_model
from mmrealsr_plugin.nodes.comfyui.preview import region_of, validate_crop
from mmrealsr_plugin.preview import Box
from mmrealsr_plugin.nodes.comfyui.loader import fetch_registry_model
from mmrealsr_plugin.nodes.comfyui.restore import with_alpha
from mmrealsr_plugin.nodes.comfyui.tensors import mask_as_alpha
from mmrealsr_plugin.registry import load_registry

CHECKOUT = Path(__file__).resolve().parents[2]


def test_package_imports_without_comfyui() -> None:
    code = (
        "import sys, mmrealsr_plugin.nodes.comfyui as pack\n"
        "leaked = sorted(m for m in sys.modules if m in ('folder_paths', 'nodes', 'server', 'execution') "
        "or m.split('.')[0] in ('comfy', 'comfy_extras', 'comfy_api', 'comfy_execution'))\n"
        "assert not leaked, leaked\n"
        "import inspect; print(inspect.iscoroutinefunction(pack.comfy_entrypoint))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"


def test_root_entry_point_exports_what_comfyui_reads() -> None:
    spec = importlib.util.spec_from_file_location(
        "mmrealsr_pack_under_test", CHECKOUT / "__init__.py", submodule_search_locations=[str(CHECKOUT)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # as ComfyUI's loader does, so the pack's relative imports resolve
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(spec.name, None)
    # V3 only: with NODE_CLASS_MAPPINGS present ComfyUI would take its V1 path and never call the entry point.
    assert not hasattr(module, "NODE_CLASS_MAPPINGS")
    assert inspect.iscoroutinefunction(module.comfy_entrypoint)
    assert (CHECKOUT / module.WEB_DIRECTORY / "docs").is_dir()


def test_root_entry_point_run_as_a_plain_file_registers_nothing_and_does_not_fail() -> None:
    """pytest imports the root __init__.py on its own when the checkout's folder name is not an identifier."""
    spec = importlib.util.spec_from_file_location("mmrealsr-plugin", CHECKOUT / "__init__.py")
    module = importlib.util.module_from_spec(spec)
    module.__package__ = ""
    spec.loader.exec_module(module)
    assert not hasattr(module, "comfy_entrypoint") and not hasattr(module, "NODE_CLASS_MAPPINGS")


def test_parse_values_accepts_lists_and_refuses_bad_values() -> None:
    assert parse_values("blur", " 0, 0.25;1 ") == [0.0, 0.25, 1.0]
    for bad in ("", "0, 1.5", "0, x", "nan"):
        with pytest.raises(InvalidScoreError):
            parse_values("blur", bad)
    assert validate_values("0, 1", "0.5") is True
    assert "outside [0, 1]" in validate_values("0, 2", "0.5")
    assert validate_values(["link", 0], "0.5") is True  # a linked value is checked when the node runs


def test_preview_crop_is_auto_or_a_region_inside_the_image() -> None:
    pixels = np.zeros((40, 60, 3), np.float32)
    pixels[20:30, 40:50] = np.random.default_rng(0).random((10, 10, 3))
    box = region_of(pixels, "auto", 16)
    assert (box.width, box.height) == (16, 16) and box.x <= 40 < 50 <= box.x + 16 and box.y <= 20 < 30 <= box.y + 16
    assert region_of(pixels, " 1, 2, 3, 4 ", 16) == Box(1, 2, 3, 4)
    assert validate_crop("auto") is True and validate_crop("1,2,3,4") is True
    assert "X,Y,WIDTH,HEIGHT" in validate_crop("1,2,3")
    with pytest.raises(UsageError, match="outside the 60x40 image"):
        region_of(pixels, "50,0,20,20", 16)


def test_upscale_model_input_that_is_not_mm_realsr_is_refused_by_name() -> None:
    class Architecture:
        id = "ESRGAN"

    class Descriptor:
        architecture, model = Architecture(), torch.nn.Identity()

    with pytest.raises(NotMMRealSRModelError, match="holds a network of spandrel.s architecture .ESRGAN. from Load Upscale Model"):
        as_model(Descriptor())


def test_mask_becomes_alpha_resized_and_broadcast() -> None:
    image = np.random.default_rng(0).random((2, 8, 6, 3), dtype=np.float32)
    mask = torch.zeros(1, 4, 3)
    mask[0, :2] = 1.0  # top half masked out
    pixels, has_alpha = with_alpha(image, mask)
    assert has_alpha and pixels.shape == (2, 8, 6, 4)
    np.testing.assert_array_equal(pixels[..., :3], image)
    alpha = pixels[..., 3]
    assert np.all(alpha[:, 0] == 0.0) and np.all(alpha[:, -1] == 1.0)
    np.testing.assert_array_equal(alpha[0], alpha[1])
    assert with_alpha(image, None) == (image, False)
    with pytest.raises(ValueError, match="does not match IMAGE batch"):
        mask_as_alpha(torch.zeros(3, 8, 6), batch=2, height=8, width=6)


def test_registry_model_without_hub_repo_says_where_to_put_it() -> None:
    entry = next(e for e in load_registry().entries.values() if not e.repo_id and not e.file and e.url)
    with pytest.raises(ModelNotFoundError, match="models/mmrealsr") as error:
        fetch_registry_model(entry)
    assert entry.url in str(error.value)


@pytest.mark.parametrize("name", sorted(e.name for e in load_registry().entries.values() if e.base is not None))
def test_registry_overlay_models_load_in_the_pack(name: str) -> None:
    """The loader's registry/ entries that ship as overlays (the previous defaults) are assembled and verified."""
    from mmrealsr_plugin.integrity import sha256_of

    entry = load_registry().entries[name]
    path = fetch_registry_model(entry)
    assert path != entry.packaged_path() and sha256_of(path) == entry.sha256
