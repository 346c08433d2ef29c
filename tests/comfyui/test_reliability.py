"""Hostile settings and files in a real ComfyUI: clamped overlaps, Hub downloads that replace nothing, lying models."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import mmrealsr_plugin
from mmrealsr_plugin.testing import TINY_CONFIG, random_model, save_random_model
from mmrealsr_plugin.integrity import sha256_of
from mmrealsr_plugin.weights import CONFIG_METADATA_KEY

pytestmark = [pytest.mark.comfyui, pytest.mark.network, pytest.mark.slow]

TOLERANCE = 1 / 255 + 1e-6


def _loader(model_name: str, hub_reference: str = "") -> dict:
    return {"class_type": "LoadMMRealSRModel", "inputs": {
        "model_name": model_name, "device": "auto", "precision": "float32", "hub_reference": hub_reference}}


def _graph(comfy, model: dict, tile: int = 32, overlap: int = 8) -> dict:
    return {
        "1": {"class_type": "LoadImage", "inputs": {"image": comfy.files["image"]}},
        "2": model,
        "4": {"class_type": "MMRealSRRestore", "inputs": {
            "image": ["1", 0], "model": ["2", 0], "blur": 0.4, "blur_auto": False, "noise": 0.6, "noise_auto": False,
            "tile": tile, "overlap": overlap}},
        "5": {"class_type": "SaveImage", "inputs": {"images": ["4", 0], "filename_prefix": "reliability"}},
    }


def _error(comfy, graph: dict) -> dict:
    entry = comfy.wait(comfy.queue(graph))
    assert entry["status"]["status_str"] == "error", entry["status"]
    return next(data for kind, data in entry["status"]["messages"] if kind == "execution_error")


def _input(comfy) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(comfy.base / "input" / comfy.files["image"]).convert("RGB"), np.float32) / 255.0


def test_tile_16_with_the_default_overlap_runs(comfy) -> None:
    """Issue 13 item 15: both values are allowed by the widgets; the run raised ValueError."""
    entry = comfy.run(_graph(comfy, _loader(comfy.files["model"]), tile=16, overlap=64))
    saved = comfy.output_image(entry["outputs"]["5"]["images"][0])
    model = mmrealsr_plugin.load_model(comfy.base / "models" / "mmrealsr" / comfy.files["model"], device="cpu")
    expected = mmrealsr_plugin.restore(model, _input(comfy), blur=0.4, noise=0.6, tile=16, overlap=8).image
    assert np.abs(saved - expected).max() <= TOLERANCE


def test_hub_models_with_one_file_name_never_replace_each_other_or_the_users_file(comfy, tmp_path: Path) -> None:
    """Issue 13 item 5: every default-name Hub reference landed on models/mmrealsr/model.safetensors."""
    folder = comfy.base / "models" / "mmrealsr"
    own = folder / "model.safetensors"
    own.write_bytes(b"the user's own file")
    weights = {}
    for seed, repo in ((11, "tester/first"), (12, "tester/second")):
        weights[repo] = save_random_model(tmp_path / str(seed) / "model.safetensors", seed=seed)
        comfy.publish_to_hub(repo, weights[repo])
    outputs = {repo: comfy.output_image(comfy.run(_graph(comfy, _loader(comfy.files["model"], repo)))["outputs"]["5"]
                                        ["images"][0]) for repo in weights}
    assert own.read_bytes() == b"the user's own file"
    for repo, source in weights.items():
        org, name = repo.split("/")
        downloaded = folder / org / f"{name}@main" / "model.safetensors"
        assert sha256_of(downloaded) == sha256_of(source)
        model = mmrealsr_plugin.load_model(downloaded, device="cpu")
        expected = mmrealsr_plugin.restore(model, _input(comfy), blur=0.4, noise=0.6, tile=32, overlap=8).image
        assert np.abs(outputs[repo] - expected).max() <= TOLERANCE
    listed = comfy.request("/object_info/LoadMMRealSRModel")["LoadMMRealSRModel"]["input"]["required"]["model_name"][1]["options"]
    assert "tester/first@main/model.safetensors" in listed and "tester/second@main/model.safetensors" in listed


def _lying_model(path: Path) -> Path:
    state = {k: v.clone() for k, v in random_model().state_dict().items()}
    claim = {**TINY_CONFIG.to_dict(), "num_feat": 4096, "num_block": 200}
    save_file(state, str(path), metadata={CONFIG_METADATA_KEY: json.dumps(claim)})
    return path


def test_a_lying_model_is_refused_fast_from_the_folder_and_from_the_hub(comfy, tmp_path: Path) -> None:
    """Issue 13 items 6 and 13 through the ComfyUI loader: an error naming the file, and the server lives on."""
    local = _lying_model(comfy.base / "models" / "mmrealsr" / "claims-huge.safetensors")
    started = time.monotonic()
    failure = _error(comfy, _graph(comfy, _loader(local.name)))
    assert time.monotonic() - started < 60
    assert failure["node_type"] == "LoadMMRealSRModel"
    assert "claims-huge.safetensors" in failure["exception_message"] and "4096" in failure["exception_message"]
    comfy.publish_to_hub("tester/liar", _lying_model(tmp_path / "liar.safetensors"))
    failure = _error(comfy, _graph(comfy, _loader(comfy.files["model"], "hf://tester/liar/liar.safetensors")))
    assert "liar.safetensors" in failure["exception_message"] and "num_feat" in failure["exception_message"]
    malformed = {k: v.clone() for k, v in random_model().state_dict().items()}
    malformed["conv_last.weight"] = torch.zeros(27)
    save_file(malformed, str(comfy.base / "models" / "mmrealsr" / "one-d.safetensors"))
    failure = _error(comfy, _graph(comfy, _loader("one-d.safetensors")))
    assert "conv_last.weight" in failure["exception_message"]
    assert comfy.request("/system_stats")  # still serving


def test_odd_inputs_from_the_nodes(comfy) -> None:
    """A 1x1 image through every node in bfloat16 and tile 16; a junk Hub reference is a clear error."""
    from PIL import Image

    Image.new("RGB", (1, 1), (200, 100, 50)).save(comfy.base / "input" / "one-pixel.png")
    graph = _graph(comfy, {**_loader(comfy.files["model"]), "inputs": {
        **_loader(comfy.files["model"])["inputs"], "precision": "bfloat16"}}, tile=16, overlap=64)
    graph["1"]["inputs"]["image"] = "one-pixel.png"
    graph["3"] = {"class_type": "MMRealSREstimateDegradation", "inputs": {"image": ["1", 0], "model": ["2", 0]}}
    graph["6"] = {"class_type": "MMRealSRModulationGrid", "inputs": {
        "image": ["1", 0], "model": ["2", 0], "blur_values": "0, 1", "noise_values": "0.5", "cell_size": 64,
        "tile": 16, "overlap": 512}}
    graph["7"] = {"class_type": "SaveImage", "inputs": {"images": ["6", 0], "filename_prefix": "grid-1px"}}
    entry = comfy.run(graph)
    assert comfy.output_image(entry["outputs"]["5"]["images"][0]).shape == (4, 4, 3)
    assert comfy.output_image(entry["outputs"]["7"]["images"][0]).ndim == 3
    for junk in ("../../etc/passwd", "hf://only-one-part", "a/b:../x.safetensors"):
        failure = _error(comfy, _graph(comfy, _loader(comfy.files["model"], junk)))
        assert failure["node_type"] == "LoadMMRealSRModel" and junk in failure["exception_message"], failure
