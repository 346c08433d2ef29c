"""The node pack inside a real ComfyUI server: node catalogue, a full graph, validation, interrupt."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import mmrealsr_plugin
from mmrealsr_plugin.grid import modulation_grid

pytestmark = [pytest.mark.comfyui, pytest.mark.network, pytest.mark.slow]

CHECKOUT = Path(__file__).resolve().parents[2]
EXPECTED_INPUTS = {
    "LoadMMRealSRModel": ({"model_name", "device", "precision"}, {"hub_reference"}),
    "MMRealSREstimateDegradation": ({"image", "model"}, set()),
    "MMRealSRRestore": ({"image", "model", "blur", "blur_auto", "noise", "noise_auto", "tile", "overlap"}, {"mask"}),
    "MMRealSRModulationGrid": (
        {"image", "model", "blur_values", "noise_values", "cell_size", "tile", "overlap"}, set()),
    "MMRealSRPreview": ({"image", "model", "blur", "blur_auto", "noise", "noise_auto", "crop", "crop_size", "tile",
                         "overlap"}, set()),
}
PACK_NODES = tuple(EXPECTED_INPUTS)
EXPECTED_OUTPUTS = {
    "LoadMMRealSRModel": ["MMREALSR_MODEL"],
    "MMRealSREstimateDegradation": ["FLOAT", "FLOAT"],
    "MMRealSRRestore": ["IMAGE", "MASK", "FLOAT", "FLOAT"],
    "MMRealSRModulationGrid": ["IMAGE"],
    "MMRealSRPreview": ["IMAGE", "IMAGE", "FLOAT", "FLOAT"],
}
EXPECTED_OUTPUT_NAMES = {
    "LoadMMRealSRModel": ["model"],
    "MMRealSREstimateDegradation": ["blur", "noise"],
    "MMRealSRRestore": ["image", "mask", "blur", "noise"],
    "MMRealSRModulationGrid": ["grid"],
    "MMRealSRPreview": ["preview", "region", "blur", "noise"],
}
WIDGET_TYPES = ("COMBO", "INT", "FLOAT", "STRING", "BOOLEAN")
TOLERANCE = 1 / 255 + 1e-6
"""SaveImage truncates to 8 bits, so a saved pixel is at most one step below the float result."""


def loader(model_name: str, hub_reference: str = "") -> dict:
    inputs = {"model_name": model_name, "device": "auto", "precision": "float32", "hub_reference": hub_reference}
    return {"class_type": "LoadMMRealSRModel", "inputs": inputs}


def restore_graph(comfy, image: str, restore_inputs: dict, model_name: str | None = None) -> dict:
    """LoadImage -> Load MM-RealSR Model -> Estimate -> Restore -> SaveImage, in API format."""
    restore = {"image": ["1", 0], "model": ["2", 0], "blur": ["3", 0], "blur_auto": False, "noise": ["3", 1],
               "noise_auto": False, "tile": 32, "overlap": 8, **restore_inputs}
    return {
        "1": {"class_type": "LoadImage", "inputs": {"image": image}},
        "2": loader(model_name or comfy.files["model"]),
        "3": {"class_type": "MMRealSREstimateDegradation", "inputs": {"image": ["1", 0], "model": ["2", 0]}},
        "4": {"class_type": "MMRealSRRestore", "inputs": restore},
        "5": {"class_type": "SaveImage", "inputs": {"images": ["4", 0], "filename_prefix": "mmrealsr"}},
    }


def read_input(comfy, name: str, mode: str = "RGB") -> np.ndarray:
    return np.asarray(Image.open(comfy.base / "input" / name).convert(mode), dtype=np.float32) / 255.0


def core_model(comfy) -> mmrealsr_plugin.LoadedModel:
    return mmrealsr_plugin.load_model(comfy.base / "models" / "mmrealsr" / comfy.files["model"], device="cpu")


def test_object_info_lists_every_node_with_its_inputs(comfy) -> None:
    for node_id, (required, optional) in EXPECTED_INPUTS.items():
        info = comfy.request(f"/object_info/{node_id}")[node_id]
        assert set(info["input"]["required"]) == required
        assert set(info["input"].get("optional", {})) == optional
        assert info["output"] == EXPECTED_OUTPUTS[node_id]
        assert info["output_name"] == EXPECTED_OUTPUT_NAMES[node_id]
        assert info["category"] == "image/upscaling/MM-RealSR"
        assert info["description"]
        assert info["python_module"].startswith("custom_nodes."), info["python_module"]
        assert (CHECKOUT / "web" / "docs" / f"{node_id}.md").is_file(), f"no docs for {node_id}"
        if "model" in info["input"]["required"] and node_id != "LoadMMRealSRModel":
            assert info["input"]["required"]["model"][0] == "MMREALSR_MODEL,UPSCALE_MODEL"
        for group in ("required", "optional"):
            for name, spec in info["input"].get(group, {}).items():
                assert spec[1].get("tooltip"), f"{node_id}.{name} has no tooltip"
    restore = comfy.request("/object_info/MMRealSRRestore")["MMRealSRRestore"]["input"]["required"]
    for knob in ("blur", "noise"):
        assert restore[knob][0] == "FLOAT"
        assert {k: restore[knob][1][k] for k in ("min", "max", "step", "display")} == {
            "min": 0.0, "max": 1.0, "step": 0.01, "display": "slider"}
    models = comfy.request("/object_info/LoadMMRealSRModel")["LoadMMRealSRModel"]["input"]["required"]["model_name"]
    assert models[0] == "COMBO"
    models = models[1]["options"]
    assert comfy.files["model"] in models
    assert "upscale_models/" + comfy.files["foreign"] in models


def test_graph_matches_core_restore(comfy) -> None:
    entry = comfy.run(restore_graph(comfy, comfy.files["image"], {}))
    saved = comfy.output_image(entry["outputs"]["5"]["images"][0])

    model = core_model(comfy)
    pixels = read_input(comfy, comfy.files["image"])
    scores = mmrealsr_plugin.estimate(model, pixels)
    blur, noise = float(scores.blur[0]), float(scores.noise[0])
    expected = mmrealsr_plugin.restore(model, pixels, blur=blur, noise=noise, tile=32, overlap=8).image

    assert saved.shape == (pixels.shape[0] * 4, pixels.shape[1] * 4, 3)
    assert np.abs(saved - expected).max() <= TOLERANCE
    text = entry["outputs"]["3"]["text"]
    assert text == [f"image 0: blur {blur:.3f}, noise {noise:.3f}"]
    assert entry["outputs"]["4"]["text"] == text


def test_batch_scores_are_per_image(comfy) -> None:
    graph = restore_graph(comfy, comfy.files["image"], {"tile": 0})
    graph["8"] = {"class_type": "LoadImage", "inputs": {"image": comfy.files["dark"]}}  # same size: no resize
    graph["9"] = {"class_type": "ImageBatch", "inputs": {"image1": ["1", 0], "image2": ["8", 0]}}
    for node in ("3", "4"):
        graph[node]["inputs"]["image"] = ["9", 0]
    entry = comfy.run(graph)
    batch = np.stack([read_input(comfy, comfy.files["image"]), read_input(comfy, comfy.files["dark"])])
    scores = mmrealsr_plugin.estimate(core_model(comfy), batch)
    assert scores.blur[0] != scores.blur[1]
    expected = [f"image {i}: blur {b:.3f}, noise {n:.3f}" for i, (b, n) in enumerate(zip(scores.blur, scores.noise))]
    assert entry["outputs"]["3"]["text"] == expected
    assert len(entry["outputs"]["5"]["images"]) == 2


def test_mask_is_upscaled_as_alpha(comfy) -> None:
    graph = restore_graph(comfy, comfy.files["alpha"], {"blur_auto": True, "noise_auto": True, "mask": ["1", 1]})
    del graph["3"]
    graph["4"]["inputs"].update(blur=0.5, noise=0.5)
    graph["6"] = {"class_type": "MaskToImage", "inputs": {"mask": ["4", 1]}}
    graph["7"] = {"class_type": "SaveImage", "inputs": {"images": ["6", 0], "filename_prefix": "mask"}}
    entry = comfy.run(graph)
    image = comfy.output_image(entry["outputs"]["5"]["images"][0])
    mask = comfy.output_image(entry["outputs"]["7"]["images"][0])

    expected = mmrealsr_plugin.restore(core_model(comfy), read_input(comfy, comfy.files["alpha"], "RGBA"),
                                       tile=32, overlap=8).image
    assert image.shape == mask.shape == (36 * 4, 44 * 4, 3)
    assert np.abs(image - expected[..., :3]).max() <= TOLERANCE
    assert np.abs(mask - (1 - expected[..., 3:])).max() <= TOLERANCE
    assert mask[:, 0].min() > 0.9 and mask[:, -1].max() < 0.1  # transparent left edge = masked


def test_modulation_grid_matches_core_grid(comfy) -> None:
    graph = {
        "1": {"class_type": "LoadImage", "inputs": {"image": comfy.files["image"]}},
        "2": loader(comfy.files["model"]),
        "6": {"class_type": "MMRealSRModulationGrid", "inputs": {
            "image": ["1", 0], "model": ["2", 0], "blur_values": "0, 1", "noise_values": "0.5", "cell_size": 128,
            "tile": 0, "overlap": 8}},
        "7": {"class_type": "SaveImage", "inputs": {"images": ["6", 0], "filename_prefix": "grid"}},
    }
    saved = comfy.output_image(comfy.run(graph)["outputs"]["7"]["images"][0])
    expected = modulation_grid(core_model(comfy), read_input(comfy, comfy.files["image"]), [0, 1], [0.5],
                               cell_size=128, tile=0, overlap=8)
    assert saved.shape == expected.shape
    assert np.abs(saved - expected).max() <= TOLERANCE


def test_hub_reference_is_downloaded_into_the_models_folder(comfy, tmp_path: Path) -> None:
    from mmrealsr_plugin.testing import save_random_model

    weights = save_random_model(tmp_path / "hub-model.safetensors", seed=7)
    comfy.publish_to_hub("tester/tiny-mmrealsr", weights)
    graph = restore_graph(comfy, comfy.files["image"], {"blur_auto": True, "noise_auto": True})
    del graph["3"]
    graph["4"]["inputs"].update(blur=0.5, noise=0.5)
    graph["2"] = loader(comfy.files["model"], hub_reference="hf://tester/tiny-mmrealsr/hub-model.safetensors")
    saved = comfy.output_image(comfy.run(graph)["outputs"]["5"]["images"][0])

    downloaded = comfy.base / "models" / "mmrealsr" / "tester" / "tiny-mmrealsr@main" / "hub-model.safetensors"
    assert downloaded.read_bytes() == weights.read_bytes()
    model = mmrealsr_plugin.load_model(downloaded, device="cpu")
    expected = mmrealsr_plugin.restore(model, read_input(comfy, comfy.files["image"]), tile=32, overlap=8).image
    assert np.abs(saved - expected).max() <= TOLERANCE
    listed = comfy.request("/object_info/LoadMMRealSRModel")["LoadMMRealSRModel"]["input"]["required"]["model_name"]
    listed = listed[1]["options"]
    assert "tester/tiny-mmrealsr@main/hub-model.safetensors" in listed


def test_out_of_range_slider_is_refused(comfy) -> None:
    status, body = comfy.try_queue(restore_graph(comfy, comfy.files["image"], {"blur": 1.5}))
    assert status == 400
    errors = body["node_errors"]["4"]["errors"]
    assert [e["type"] for e in errors] == ["value_bigger_than_max"]


def test_foreign_model_is_rejected_with_a_clear_message(comfy) -> None:
    graph = restore_graph(comfy, comfy.files["image"], {}, model_name="upscale_models/" + comfy.files["foreign"])
    entry = comfy.wait(comfy.queue(graph))
    assert entry["status"]["status_str"] == "error"
    failure = next(data for kind, data in entry["status"]["messages"] if kind == "execution_error")
    assert failure["node_type"] == "LoadMMRealSRModel"
    assert "not an MM-RealSR" in failure["exception_message"]
    assert "Load Upscale Model" in failure["exception_message"]


def test_interrupt_stops_a_many_tile_run(comfy) -> None:
    graph = restore_graph(comfy, comfy.files["big"], {"blur_auto": True, "noise_auto": True, "tile": 16, "overlap": 0})
    started = time.monotonic()
    prompt_id = comfy.queue(graph)
    time.sleep(3)  # model load and estimate take about a second; 8192 tiles take well over a minute
    comfy.request("/interrupt", {})
    interrupted = time.monotonic()
    entry = comfy.wait(prompt_id, timeout=60)
    assert time.monotonic() - interrupted < 30, "the run did not stop soon after POST /interrupt"
    kinds = dict(entry["status"]["messages"])
    assert "execution_interrupted" in kinds, entry["status"]
    assert kinds["execution_interrupted"]["node_type"] == "MMRealSRRestore"
    assert "5" not in entry["outputs"], "the interrupted graph still saved an image"
    assert time.monotonic() - started < 60


def test_example_workflows_use_only_known_nodes(comfy) -> None:
    catalogue = comfy.request("/object_info", timeout=120)
    workflows = sorted((CHECKOUT / "example_workflows").glob("*.json"))
    assert workflows, "no example workflows"
    for path in workflows:
        workflow = json.loads(path.read_text("utf-8"))
        ids = {node["id"] for node in workflow["nodes"]}
        for node in workflow["nodes"]:
            assert node["type"] in catalogue, f"{path.name}: unknown node type {node['type']}"
            info = catalogue[node["type"]]
            if info["python_module"].startswith("custom_nodes"):
                widgets = [name for group in ("required", "optional")
                           for name, spec in info["input"].get(group, {}).items()
                           if isinstance(spec[0], list) or spec[0] in WIDGET_TYPES]
                assert len(node.get("widgets_values", [])) == len(widgets), f"{path.name}: node {node['id']} widgets"
        nodes = {node["id"]: node for node in workflow["nodes"]}
        for link_id, source, source_slot, target, target_slot, kind in workflow["links"]:
            assert source in ids and target in ids, f"{path.name}: link {link_id} dangles"
            assert kind in ("IMAGE", "MASK", "FLOAT", "MMREALSR_MODEL"), f"{path.name}: link {link_id} type {kind}"
            # Slots index the nodes' own input/output lists: the frontend "repairs" a mismatch with a console error.
            assert link_id in (nodes[source]["outputs"][source_slot].get("links") or []), f"{path.name}: {link_id}"
            assert nodes[target]["inputs"][target_slot].get("link") == link_id, f"{path.name}: link {link_id} slot"


def api_graph(workflow: dict, catalogue: dict, replace: dict[str, str]) -> dict:
    """A UI-format workflow as the API-format prompt the frontend would queue (widget values in input order,
    links override linked widgets); ``replace`` swaps widget values (the model file the test server has)."""
    links = {link[0]: link for link in workflow["links"]}
    graph = {}
    for node in workflow["nodes"]:
        info = catalogue[node["type"]]
        linked = {slot["name"]: links[slot["link"]] for slot in node.get("inputs", []) if slot.get("link") is not None}
        values = iter(node.get("widgets_values", []))
        inputs: dict[str, object] = {}
        for group in ("required", "optional"):
            for name in info["input_order"].get(group, []):
                spec = info["input"][group][name]
                if isinstance(spec[0], list) or spec[0] in WIDGET_TYPES:
                    value = next(values)
                    inputs[name] = replace.get(value, value) if isinstance(value, str) else value
                if name in linked:
                    source = linked[name]
                    inputs[name] = [str(source[1]), source[2]]
        graph[str(node["id"])] = {"class_type": node["type"], "inputs": inputs}
    return graph


@pytest.mark.parametrize("name", ["mmrealsr_estimate_and_restore.json", "mmrealsr_modulation_grid.json"])
def test_example_workflows_run_unchanged(comfy, name: str) -> None:
    """The saved workflows (UI format, as shipped) queue and run: same node ids, inputs and widget order."""
    catalogue = {node: comfy.request(f"/object_info/{node}")[node]
                 for node in ("LoadImage", "SaveImage", *PACK_NODES)}
    workflow = json.loads((CHECKOUT / "example_workflows" / name).read_text("utf-8"))
    graph = api_graph(workflow, catalogue, {"MMRealSRGAN.pth": comfy.files["model"]})
    for node in graph.values():  # the tiny test model on a small image: keep it quick
        if "tile" in node["inputs"]:
            node["inputs"].update(tile=32, overlap=8)
        if "cell_size" in node["inputs"]:
            node["inputs"]["cell_size"] = 64
    entry = comfy.run(graph)
    saved = [out for out in entry["outputs"].values() if "images" in out]
    assert len(saved) == 1 and saved[0]["images"], entry["outputs"]


def test_upscale_model_from_load_upscale_model_runs_with_the_knobs(comfy) -> None:
    """ComfyUI's own loader (spandrel) feeding our Restore: the engine runs it, knobs and fixed scores included."""
    graph = restore_graph(comfy, comfy.files["image"], {})  # Estimate -> Restore's knobs, as in the example
    graph["2"] = {"class_type": "UpscaleModelLoader", "inputs": {"model_name": comfy.files["upscale"]}}
    entry = comfy.run(graph)
    saved = comfy.output_image(entry["outputs"]["5"]["images"][0])

    model = mmrealsr_plugin.load_model(comfy.base / "models" / "upscale_models" / comfy.files["upscale"], device="cpu")
    pixels = read_input(comfy, comfy.files["image"])
    scores = mmrealsr_plugin.estimate(model, pixels)
    blur, noise = float(scores.blur[0]), float(scores.noise[0])
    assert entry["outputs"]["3"]["text"] == [f"image 0: blur {blur:.3f}, noise {noise:.3f}"]
    expected = mmrealsr_plugin.restore(model, pixels, blur=blur, noise=noise, tile=32, overlap=8).image
    assert np.abs(saved - expected).max() <= TOLERANCE
    other = mmrealsr_plugin.restore(model, pixels, blur=1 - blur, noise=1 - noise, tile=32, overlap=8).image
    assert np.abs(saved - other).max() > 10 * TOLERANCE, "the knobs did not reach the network"


def test_preview_node_equals_that_region_of_restore(comfy) -> None:
    """The preview is the same engine: its region equals Restore's output there (SaveImage's 8-bit step)."""
    graph = restore_graph(comfy, comfy.files["image"], {"blur_auto": True, "noise_auto": True, "tile": 0})
    del graph["3"]
    graph["4"]["inputs"].update(blur=0.5, noise=0.5)
    graph["6"] = {"class_type": "MMRealSRPreview", "inputs": {
        "image": ["1", 0], "model": ["2", 0], "blur": 0.5, "blur_auto": True, "noise": 0.5, "noise_auto": True,
        "crop": "8,4,24,16", "crop_size": 256, "tile": 0, "overlap": 8}}
    graph["7"] = {"class_type": "SaveImage", "inputs": {"images": ["6", 1], "filename_prefix": "region"}}
    graph["8"] = {"class_type": "SaveImage", "inputs": {"images": ["6", 0], "filename_prefix": "preview"}}
    entry = comfy.run(graph)
    full = comfy.output_image(entry["outputs"]["5"]["images"][0])
    region = comfy.output_image(entry["outputs"]["7"]["images"][0])
    side = comfy.output_image(entry["outputs"]["8"]["images"][0])
    assert region.shape == (16 * 4, 24 * 4, 3)
    assert side.shape[0] == 64 and side.shape[1] > 2 * 96
    assert np.abs(region - full[16:80, 32:128]).max() <= TOLERANCE
    assert entry["outputs"]["6"]["text"][0].endswith("region 8,4,24,16")
    assert entry["outputs"]["6"]["text"][0].startswith(entry["outputs"]["4"]["text"][0])


def test_preview_crop_outside_the_image_is_a_clear_error_and_bad_text_is_refused_at_queue(comfy) -> None:
    graph = {
        "1": {"class_type": "LoadImage", "inputs": {"image": comfy.files["image"]}},
        "2": loader(comfy.files["model"]),
        "6": {"class_type": "MMRealSRPreview", "inputs": {
            "image": ["1", 0], "model": ["2", 0], "blur": 0.5, "blur_auto": False, "noise": 0.5, "noise_auto": False,
            "crop": "40,0,32,32", "crop_size": 256, "tile": 0, "overlap": 8}},
        "7": {"class_type": "SaveImage", "inputs": {"images": ["6", 0], "filename_prefix": "bad"}},
    }
    entry = comfy.wait(comfy.queue(graph))
    failure = next(data for kind, data in entry["status"]["messages"] if kind == "execution_error")
    assert "outside the 48x40 image" in failure["exception_message"]
    graph["6"]["inputs"]["crop"] = "1,2"
    status, body = comfy.try_queue(graph)
    assert status == 400 and "X,Y,WIDTH,HEIGHT" in json.dumps(body["node_errors"]["6"])
