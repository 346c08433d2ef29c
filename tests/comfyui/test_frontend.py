"""The pack in ComfyUI's real frontend (headless Chromium driven by Playwright): what a user sees.

The shipped example workflow is loaded through the frontend's own ``app.loadGraphData``, a Preview node is added
the way a user adds one, the graph is queued from the page, and the estimate must then be shown on the Estimate,
Restore and Preview nodes (web/js/mmrealsr.js) with the numbers the library's ``estimate`` gives. The screenshot is
kept as a CI artifact ($MMREALSR_CACHE/artifacts/comfyui-frontend.png). Chromium comes from .ci/setup-chromium.sh.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import ConsoleMessage, Error as PlaywrightError, sync_playwright

import mmrealsr_plugin

pytestmark = [pytest.mark.comfyui, pytest.mark.network, pytest.mark.slow]

CHECKOUT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("MMREALSR_CACHE", "/root/.cache/mmrealsr-ci"))
ARTIFACT = CACHE / "artifacts" / "comfyui-frontend.png"
UNAVAILABLE = CACHE / "chromium-unavailable.txt"
"""Written by .ci/setup-chromium.sh when Chromium cannot be installed on this machine: the reason to skip."""
EXTENSION_URL = "/extensions/mmrealsr-plugin/"
WORKFLOW = "mmrealsr_estimate_and_restore.json"
MODEL = "mmrealsr-x4-v4"
"""The packaged default model (registry/ in the loader), so the screenshot shows a real restoration."""
OFFLINE_NOISE = "https://api.comfy.org/"
"""The frontend looks node packs up in the Comfy Registry; its own CSP blocks that here (and CI has no network)."""
SETTINGS = {"Comfy.TutorialCompleted": True, "Comfy.Minimap.Visible": False}
"""A first visit opens the template browser over the canvas, and the minimap covers a corner of it."""
READY = "() => window.comfyAPI?.app?.app?.graph && window.LiteGraph?.registered_node_types?.MMRealSRPreview"
TIMEOUT_MS = 240_000

ADD_PREVIEW = """() => {
    const app = window.comfyAPI.app.app;
    const add = (type, pos, size) => {
        const node = window.LiteGraph.createNode(type);
        node.pos = pos;
        app.graph.add(node);
        if (size) node.setSize(size);
        return node;
    };
    const preview = add("MMRealSRPreview", [840, 520]);
    app.graph.getNodeById(1).connect(0, preview, "image");
    app.graph.getNodeById(2).connect(0, preview, "model");
    const set = (name, value) => { preview.widgets.find((w) => w.name === name).value = value; };
    set("blur", 0.3); set("blur_auto", false); set("crop_size", 32);
    const shown = add("PreviewImage", [1280, 640], [400, 380]);
    preview.connect(0, shown, "images");
    return preview.id;
}"""

RUN = """async () => {
    const app = window.comfyAPI.app.app, api = window.comfyAPI.api.api;
    window.mmrealsrRun = {};
    api.addEventListener("execution_success", () => { window.mmrealsrRun.done = "success"; });
    api.addEventListener("execution_error", ({ detail }) => {
        window.mmrealsrRun.done = "error";
        window.mmrealsrRun.error = detail.exception_message;
    });
    await app.extensionManager.command.execute("Comfy.Canvas.FitView");
    await app.queuePrompt(0, 1);
}"""

FINISHED = """() => {
    const refused = window.comfyAPI.app.app.lastNodeErrors;  // the server refused the prompt: no run will come
    return window.mmrealsrRun.done || (refused && Object.keys(refused).length > 0);
}"""

SHOWN = """(ids) => Object.fromEntries(ids.map((id) => {
    const widget = window.comfyAPI.app.app.graph.getNodeById(id).widgets?.find((w) => w.name === "mmrealsr_scores");
    return [id, widget ? widget.element.innerText : null];
}))"""


DOCS = """async (base) => {
    const ours = Object.values(window.LiteGraph.registered_node_types)
        .filter((type) => type.nodeData?.python_module === "custom_nodes.mmrealsr-plugin")
        .map((type) => type.comfyClass);
    const found = async (id) => [id, (await fetch(`${base}docs/${id}.md`)).ok];
    return Object.fromEntries(await Promise.all(ours.map(found)));
}"""
"""Each node of the pack and whether its help page is where the frontend's node help looks (after a per-locale one)."""


def chromium_or_skip() -> str:
    """Chromium's path; a skip only where .ci/setup-chromium.sh recorded why it cannot be installed here."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path:
        return path
    if UNAVAILABLE.is_file():
        pytest.skip(f"Chromium cannot be installed on this machine: {UNAVAILABLE.read_text().strip()}")
    pytest.fail("Chromium is not installed; run bash .ci/setup-chromium.sh")


def from_extension(message: ConsoleMessage) -> bool:
    return EXTENSION_URL in (message.location or {}).get("url", "") or "mmrealsr.js" in message.text


def example_workflow(image: str) -> dict:
    workflow = json.loads((CHECKOUT / "example_workflows" / WORKFLOW).read_text())
    for node in workflow["nodes"]:
        if node["type"] == "LoadMMRealSRModel":
            node["widgets_values"][0] = f"registry/{MODEL}"
        elif node["type"] == "LoadImage":
            node["widgets_values"][0] = image
    return workflow


def test_frontend_shows_the_estimate_on_the_nodes(comfy) -> None:
    chromium = chromium_or_skip()
    for key, value in SETTINGS.items():
        comfy.request(f"/settings/{key}", value)
    extension_errors: list[str] = []  # from web/js/mmrealsr.js, at any time: none
    workflow_errors: list[str] = []   # while our workflow loads and runs: none at all
    failed: list[str] = []            # our files the server did not serve
    # Before our workflow only the extension's errors count: a fresh user's start-up logs the frontend's own (404s
    # for user.css and the user's workflow folder, a TypeError in its workflow store), with or without this pack.
    loading: list[bool] = []

    def other_error(text: str) -> None:
        if loading and OFFLINE_NOISE not in text:
            workflow_errors.append(text)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and from_extension(message):
            extension_errors.append(message.text)
        elif message.type == "error":
            other_error(message.text)

    def on_page_error(error: PlaywrightError) -> None:
        text = f"{error.message}\n{error.stack or ''}"
        if EXTENSION_URL in text:
            extension_errors.append(text)
        else:
            other_error(text)

    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        try:
            page.set_default_timeout(TIMEOUT_MS)
            page.add_init_script("localStorage.setItem('vueNodesBannerDismissed', 'true')")  # a banner over the graph
            page.on("console", on_console)
            page.on("pageerror", on_page_error)
            page.on("response", lambda r: r.status >= 400 and EXTENSION_URL in r.url and failed.append(r.url))
            page.goto(comfy.url)
            page.wait_for_function(READY)
            assert page.evaluate("() => window.comfyAPI.app.app.extensions.map((e) => e.name)").count(
                "mmrealsr.scores") == 1, "web/js/mmrealsr.js was not loaded"
            loading.append(True)
            # An input no other test queues: a node served from ComfyUI's cache whose consumers are cached too is
            # never visited, and would send no scores to the page.
            workflow = example_workflow(comfy.files["frontend"])
            page.evaluate("([graph, name]) => window.comfyAPI.app.app.loadGraphData(graph, true, true, name)",
                          [workflow, WORKFLOW])  # named as when the file is dropped on the page
            preview_id = page.evaluate(ADD_PREVIEW)
            page.evaluate(RUN)
            page.wait_for_function(FINISHED)
            run = page.evaluate("() => ({...window.mmrealsrRun, refused: window.comfyAPI.app.app.lastNodeErrors})")
            page.wait_for_timeout(1500)  # the DOM widgets and the preview images are drawn on the next frames
            shown = page.evaluate(SHOWN, [3, 4, preview_id])
            whole = page.locator(".mmrealsr-scores").evaluate_all(  # shown, neither collapsed nor cut off
                "(boxes) => boxes.filter((e) => e.clientHeight >= 16 && e.scrollWidth <= e.clientWidth).length")
            docs = page.evaluate(DOCS, EXTENSION_URL)
            saved = page.evaluate("() => window.comfyAPI.app.app.graph.serialize()")
            prompt = page.evaluate("async () => (await window.comfyAPI.app.app.graphToPrompt()).output")
        finally:
            page.screenshot(path=str(ARTIFACT))  # also of a failure: what the page showed then
            browser.close()

    assert run.get("done") == "success", run
    assert not extension_errors and not failed, (extension_errors, failed)
    assert not workflow_errors, workflow_errors

    model = mmrealsr_plugin.load_model(MODEL, device="cpu")
    image = Image.open(comfy.base / "input" / comfy.files["frontend"]).convert("RGB")
    pixels = np.asarray(image, dtype=np.float32) / 255
    scores = mmrealsr_plugin.estimate(model, pixels)
    blur, noise = float(scores.blur[0]), float(scores.noise[0])
    estimate = f"image 0: blur {blur:.3f}, noise {noise:.3f}"
    assert shown["3"] == estimate, shown            # Estimate Degradation
    assert shown["4"] == estimate, shown            # Restore, its knobs linked from the estimate
    assert shown[str(preview_id)].startswith(f"image 0: blur 0.300, noise {noise:.3f}, region "), shown
    assert whole == 3, "a score box is collapsed, cut off or missing"
    assert len(docs) == 5 and all(docs.values()), docs

    nodes = {node["id"]: node for node in saved["nodes"]}
    assert nodes[3].get("widgets_values", []) == [], "the scores leaked into the saved workflow"
    assert len(nodes[4]["widgets_values"]) == 6, nodes[4]["widgets_values"]
    assert all("mmrealsr_scores" not in node["inputs"] for node in prompt.values()), "the scores leaked into the prompt"
