"""The pack outside ComfyUI: importable without ComfyUI's modules, plus its pure helpers."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mmrealsr_plugin.errors import InvalidScoreError, ModelNotFoundError
from mmrealsr_plugin.nodes.comfyui.grid import MMRealSRModulationGrid, parse_values
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
        "print(len(pack.NODE_CLASS_MAPPINGS))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "4"


def test_root_entry_point_exports_what_comfyui_reads() -> None:
    spec = importlib.util.spec_from_file_location(
        "mmrealsr_pack_under_test", CHECKOUT / "__init__.py", submodule_search_locations=[str(CHECKOUT)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # as ComfyUI's loader does, so the pack's relative imports resolve
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(spec.name, None)
    assert set(module.NODE_CLASS_MAPPINGS) == set(module.NODE_DISPLAY_NAME_MAPPINGS)
    web = CHECKOUT / module.WEB_DIRECTORY
    for node_id, cls in module.NODE_CLASS_MAPPINGS.items():
        assert (web / "docs" / f"{node_id}.md").is_file(), f"no docs for {node_id}"
        assert cls.DESCRIPTION and cls.CATEGORY and len(cls.OUTPUT_TOOLTIPS) == len(cls.RETURN_TYPES)


def test_root_entry_point_run_as_a_plain_file_registers_nothing_and_does_not_fail() -> None:
    """pytest imports the root __init__.py on its own when the checkout's folder name is not an identifier."""
    spec = importlib.util.spec_from_file_location("mmrealsr-plugin", CHECKOUT / "__init__.py")
    module = importlib.util.module_from_spec(spec)
    module.__package__ = ""
    spec.loader.exec_module(module)
    assert module.NODE_CLASS_MAPPINGS == {} and module.NODE_DISPLAY_NAME_MAPPINGS == {}


def test_parse_values_accepts_lists_and_refuses_bad_values() -> None:
    assert parse_values("blur", " 0, 0.25;1 ") == [0.0, 0.25, 1.0]
    for bad in ("", "0, 1.5", "0, x", "nan"):
        with pytest.raises(InvalidScoreError):
            parse_values("blur", bad)
    assert MMRealSRModulationGrid.VALIDATE_INPUTS("0, 1", "0.5") is True
    assert "outside [0, 1]" in MMRealSRModulationGrid.VALIDATE_INPUTS("0, 2", "0.5")


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
