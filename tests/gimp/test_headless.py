"""The plug-in driven NONINTERACTIVE inside a real gimp-console-3.0.

One GIMP start runs every case (batch_headless.py); each test checks one case against the core
API run here on the very same pixels (what GIMP loads from an 8-bit PNG is exactly k/255).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmrealsr_plugin import estimate, load_model, restore

pytestmark = pytest.mark.gimp

HERE = Path(__file__).resolve().parent
TOLERANCE = 1.0 / 255 + 1e-6
WIDTH, HEIGHT = 24, 20
SELECTION = (4, 6, 12, 8)  # x, y, width, height
TILE = 16
MISBEHAVING = {  # tests/gimp/misbehaving_worker.py case -> (call options, what the message must say)
    "missing-keys": ({"tile_size": TILE}, "malformed 'progress' event"),
    "bad-item": ({}, "'item' 99 is not one of the 1 image(s)"),
    "wrong-types": ({}, "'blur' must be a number in [0, 1], got 'high'"),
    "no-output": ({}, "out0.npy: No such file"),
    "huge-output": ({}, "has shape (100000, 100000, 3)"),
}
"""Before issue 13 these ended in KeyError, IndexError, ValueError, FileNotFoundError and MemoryError."""


def save_png(path: Path, pixels: np.ndarray) -> np.ndarray:
    """Write float pixels as an 8-bit PNG; returns exactly what a reader gets back (k/255)."""
    quantized = np.round(np.clip(pixels, 0, 1) * 255).astype(np.uint8)
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[quantized.shape[-1]]
    Image.fromarray(quantized[..., 0] if mode == "L" else quantized, mode).save(path)
    return quantized.astype(np.float32) / 255.0


def load_png(path: Path) -> np.ndarray:
    array = np.asarray(Image.open(path), dtype=np.float32) / 255.0
    return array[..., None] if array.ndim == 2 else array


def _picture(channels: int, seed: int) -> np.ndarray:
    """Smooth gradients plus noise: scores and outputs vary, and nothing sits at alpha 0."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    base = [0.5 + 0.4 * np.sin(xx / (3 + c) + yy / (5 + c)) for c in range(channels)]
    pixels = np.stack(base, axis=-1) + rng.normal(0, 0.05, (HEIGHT, WIDTH, channels))
    if channels == 4:
        pixels[..., 3] = 0.3 + 0.6 * xx / WIDTH
    return np.clip(pixels, 0, 1).astype(np.float32)


@pytest.fixture(scope="module")
def run(gimp):
    """Inputs, what GIMP produced, and the core model to compare with."""
    work = gimp.work
    inputs = {
        "rgb": save_png(work / "rgb.png", _picture(3, 1)),
        "rgba": save_png(work / "rgba.png", _picture(4, 2)),
        "gray": save_png(work / "gray.png", _picture(1, 3)),
    }
    config = gimp.plugin_dir / "mmrealsr_gimp.json"
    installed = json.loads(config.read_text())
    broken = {**installed, "command": ["/nonexistent/venv/bin/python", "-m", "mmrealsr_plugin"]}

    def replaced(**changes):
        return {"path": str(config), "text": json.dumps({**installed, **changes})}

    def misbehaving(case_name):  # a one-call script: it does not serve as a warm worker
        return replaced(command=[sys.executable, str(HERE / "misbehaving_worker.py"), case_name], warm=False)

    def case(name, source, replace_config=None, **options):
        entry = {"name": name, "source": str(work / f"{source}.png"), "output": str(work / f"{name}-out.png"),
                 "options": options}
        if replace_config:
            entry["replace_config"] = replace_config
        return entry

    job = {
        "restore": [
            case("rgb_auto", "rgb", tile_size=TILE),
            case("rgba_layer", "rgba", auto_noise=False, noise=0.3, auto_blur=False, blur=0.7, output="new-layer"),
            case("gray_manual", "gray", auto_noise=False, noise=0.8, auto_blur=False, blur=0.2),
            case("rgb_selection", "rgb", selection=list(SELECTION), auto_blur=False, blur=1.0),
            case("two_layers", "rgb", second_layer=[6, 5]),
            case("rgb_broken", "rgb", replace_config={"path": str(config), "text": json.dumps(broken)}),
            case("indexed_new_image", "rgb", indexed=True),
            case("indexed_new_layer", "rgb", indexed=True, output="new-layer"),
            case("too_large", "rgb", replace_config=replaced(max_pixels=WIDTH * HEIGHT - 1)),
            *(case(f"misbehaving_{name}", "rgb", replace_config=misbehaving(name), **options)
              for name, (options, _) in MISBEHAVING.items()),
        ],
        "estimate": [{"name": "rgb_estimate", "source": str(work / "rgb.png")}],
    }
    results = gimp.run_batch(HERE / "batch_headless.py", job, "headless")
    return inputs, results, load_model(str(gimp.model), device="cpu"), work


def _check_restored(case: dict, output: Path, expected: np.ndarray) -> None:
    assert case["call"]["status"] == "success", case
    got = load_png(output)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= TOLERANCE


def test_rgb_new_image_equals_core(run):
    inputs, results, model, work = run
    case = results["rgb_auto"]
    # the plug-in sends only the tile; the worker's default overlap goes through the core's one rule (half the tile)
    expected = restore(model, inputs["rgb"], tile=TILE).image
    assert case["result_size"] == [WIDTH * 4, HEIGHT * 4]
    _check_restored(case, work / "rgb_auto-out.png", expected)
    scores = estimate(model, inputs["rgb"])
    assert case["call"]["values"][1:] == pytest.approx([scores.blur[0], scores.noise[0]], abs=1e-5)
    assert case["source_after"] == case["source_before"], "a new-image run must not touch the source image"


def test_rgba_new_layer_keeps_alpha_and_equals_core(run):
    inputs, results, model, work = run
    case = results["rgba_layer"]
    expected = restore(model, inputs["rgba"], noise=0.3, blur=0.7).image
    assert expected.shape[-1] == 4
    assert case["result_size"] == [WIDTH * 4, HEIGHT * 4]
    assert case["result_layers"] == ["Background (MM-RealSR)", "Background"]
    assert case["call"]["values"][1:] == pytest.approx([0.7, 0.3]), "returns the blur and noise it used"
    _check_restored(case, work / "rgba_layer-out.png", expected)


def test_gray_stays_gray(run):
    inputs, results, model, work = run
    expected = restore(model, inputs["gray"], noise=0.8, blur=0.2).image
    assert expected.shape[-1] == 1
    _check_restored(results["gray_manual"], work / "gray_manual-out.png", expected)


def test_selection_restores_its_bounding_box(run):
    inputs, results, model, work = run
    x, y, w, h = SELECTION
    expected = restore(model, inputs["rgb"][y:y + h, x:x + w], blur=1.0).image
    assert results["rgb_selection"]["result_size"] == [w * 4, h * 4]
    _check_restored(results["rgb_selection"], work / "rgb_selection-out.png", expected)


def test_two_selected_layers_become_two_layers_of_one_new_image(run):
    _, results, _, _ = run
    case = results["two_layers"]
    assert case["call"]["status"] == "success", case
    assert case["result_size"] == [(WIDTH + 6) * 4, (HEIGHT + 5) * 4]
    assert case["result_layers"] == ["Shifted", "Background"]
    assert case["result_geometry"] == [[24, 20, WIDTH * 4, HEIGHT * 4], [0, 0, WIDTH * 4, HEIGHT * 4]]


def test_estimate_returns_core_scores(run):
    inputs, results, model, _ = run
    call = results["rgb_estimate"]["call"]
    assert call["status"] == "success", call
    scores = estimate(model, inputs["rgb"])
    assert call["values"] == pytest.approx([float(scores.blur[0]), float(scores.noise[0])], abs=1e-5)


def test_misconfigured_environment_is_a_clear_error_and_leaves_the_image(run):
    _, results, _, _ = run
    case = results["rgb_broken"]
    assert case["call"]["status"] == "execution-error"
    message = " ".join(str(v) for v in case["call"]["values"])
    assert "cannot start the MM-RealSR environment" in message
    assert "/nonexistent/venv/bin/python" in message
    assert "mmrealsr gimp install" in message
    assert "Traceback" not in message
    assert case["source_after"] == case["source_before"]


def _refused(case: dict) -> str:
    """The error message of a call that must fail cleanly and leave the image as it was."""
    assert case["call"]["status"] == "execution-error", case
    assert case["source_after"] == case["source_before"]
    message = " ".join(str(v) for v in case["call"]["values"])
    for word in ("Traceback", "unexpected", "KeyError", "IndexError", "FileNotFoundError", "MemoryError"):
        assert word not in message, message
    return message


@pytest.mark.parametrize("name", list(MISBEHAVING))
def test_a_misbehaving_worker_is_a_clear_message_and_leaves_the_image(run, name: str) -> None:
    message = _refused(run[1][f"misbehaving_{name}"])
    assert MISBEHAVING[name][1] in message and "mmrealsr gimp install" in message, message


def test_an_indexed_image_gives_an_rgb_result_and_refuses_new_layers(run) -> None:
    _, results, _, work = run
    case = results["indexed_new_image"]
    assert case["call"]["status"] == "success", case
    assert case["result_base"] == "rgb" and case["result_size"] == [WIDTH * 4, HEIGHT * 4]
    assert load_png(work / "indexed_new_image-out.png").shape == (HEIGHT * 4, WIDTH * 4, 3)
    message = _refused(results["indexed_new_layer"])
    assert "indexed" in message and "Image > Mode > RGB" in message


def test_an_area_above_the_pixel_limit_is_refused_before_it_is_read(run) -> None:
    message = _refused(run[1]["too_large"])
    assert f"{WIDTH}x{HEIGHT}" in message and "MMREALSR_MAX_PIXELS" in message
