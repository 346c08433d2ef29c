"""A real headless ComfyUI (provisioned by .ci/setup-comfyui.sh) with this checkout as a node pack.

One server per test session: start-up imports torch, transformers and every built-in node, which
takes 10-30 s on two shared cores. ComfyUI's HF_ENDPOINT points at the Hub test server of
tests/hub (a real Hub-compatible HTTP server on loopback), so Hub downloads run for real.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from safetensors.numpy import save_file

from mmrealsr_plugin.archs.mmrealsr import MMRealSRConfig
from mmrealsr_plugin.testing import save_random_model

CHECKOUT = Path(__file__).resolve().parents[2]
RUNTIME = Path(os.environ.get("MMREALSR_CACHE", "/root/.cache/mmrealsr-ci")) / "comfyui"
PYTHON = RUNTIME / "venv" / "bin" / "python"
MAIN = RUNTIME / "ComfyUI" / "main.py"
START_TIMEOUT_S = 180
HUB_SERVER = CHECKOUT / "tests" / "hub" / "hub_server.py"
HUB_TOKEN, HUB_USER = "hf_comfyui_tests_token", "tester"
PACK_NODES = ("LoadMMRealSRModel", "MMRealSREstimateDegradation", "MMRealSRRestore", "MMRealSRModulationGrid",
              "MMRealSRPreview")
FILES = {"model": "tiny.safetensors", "foreign": "not-mmrealsr.safetensors", "image": "small.png", "big": "big.png",
         "alpha": "alpha.png", "dark": "dark.png", "upscale": "tiny-mmrealsr.safetensors", "example": "example.png",
         "frontend": "frontend.png"}
SPANDREL_CONFIG = MMRealSRConfig(
    num_feat=8, num_block=1, num_grow_ch=4, embed_dim=512, estimator_feats=(8, 16), estimator_blocks=(1, 1),
    estimator_downscales=(2, 1), estimator_hidden=512,
)
"""A small model spandrel (Load Upscale Model) also loads: spandrel fixes the embedding and estimator widths."""


class HTTPStatusError(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:2000]}")
        self.status, self.body = status, body


@dataclass
class ComfyServer:
    url: str
    base: Path
    log: Path
    hub_url: str
    files: dict[str, str] = field(default_factory=lambda: dict(FILES))

    def publish_to_hub(self, repo_id: str, path: Path) -> None:
        """Upload ``path`` to the test Hub with huggingface_hub in a fresh interpreter (HF_* read at import)."""
        code = (
            "import sys; from huggingface_hub import HfApi; api = HfApi()\n"
            "api.create_repo(sys.argv[1], exist_ok=True)\n"
            "api.upload_file(path_or_fileobj=sys.argv[2], path_in_repo=sys.argv[3], repo_id=sys.argv[1])\n"
        )
        env = {**hub_env(self.hub_url, self.base / "hf-upload"), "HF_TOKEN": HUB_TOKEN}
        subprocess.run([sys.executable, "-c", code, repo_id, str(path), path.name], env=env, check=True,
                       capture_output=True, timeout=120)

    def request(self, path: str, payload: dict | None = None, timeout: float = 30) -> object:
        data = None if payload is None else json.dumps(payload).encode()
        req = urllib.request.Request(self.url + path, data=data, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            raise HTTPStatusError(exc.code, exc.read().decode(errors="replace")) from None
        return json.loads(body) if body else None

    def try_queue(self, prompt: dict) -> tuple[int, dict]:
        """POST /prompt without raising: (HTTP status, JSON body), for tests of refused prompts."""
        try:
            return 200, self.request("/prompt", {"prompt": prompt, "client_id": "mmrealsr-tests"})
        except HTTPStatusError as exc:
            return exc.status, json.loads(exc.body)

    def queue(self, prompt: dict) -> str:
        return self.request("/prompt", {"prompt": prompt, "client_id": "mmrealsr-tests"})["prompt_id"]

    def wait(self, prompt_id: str, timeout: float = 300) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            history = self.request(f"/history/{prompt_id}")
            if prompt_id in history and history[prompt_id].get("status", {}).get("completed") is not None:
                entry = history[prompt_id]
                if entry["status"]["status_str"] in ("success", "error"):
                    return entry
            time.sleep(0.2)
        raise TimeoutError(f"prompt {prompt_id} not finished after {timeout} s; server log: {self.log}")

    def run(self, prompt: dict, timeout: float = 300) -> dict:
        entry = self.wait(self.queue(prompt), timeout)
        assert entry["status"]["status_str"] == "success", json.dumps(entry["status"], indent=1)[-4000:]
        return entry

    def output_image(self, image: dict) -> np.ndarray:
        query = urllib.parse.urlencode({k: image[k] for k in ("filename", "subfolder", "type")})
        with urllib.request.urlopen(f"{self.url}/view?{query}", timeout=30) as response:
            path = self.base / "fetched.png"
            path.write_bytes(response.read())
        return np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0


def runtime_or_skip() -> None:
    """Missing runtime: a failure in CI (it must have been provisioned), a skip elsewhere."""
    if PYTHON.is_file() and MAIN.is_file():
        return
    message = f"ComfyUI runtime not provisioned at {RUNTIME}; run bash .ci/setup-comfyui.sh"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def check_runtime_uses_checkout() -> None:
    """The pack imports mmrealsr_plugin from ComfyUI's Python: it must be this checkout's code."""
    out = subprocess.run(
        [str(PYTHON), "-c", "import importlib.util as u; print(u.find_spec('mmrealsr_plugin').origin)"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout.strip()
    if not Path(out).resolve().is_relative_to(CHECKOUT):
        pytest.fail(f"ComfyUI's Python imports mmrealsr_plugin from {out}, not {CHECKOUT}; rerun .ci/setup-comfyui.sh")


def hub_env(url: str, home: Path) -> dict[str, str]:
    """The environment of a huggingface_hub client talking only to the test Hub."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    env.update({"HF_ENDPOINT": url, "HF_HOME": str(home), "HF_HUB_DISABLE_XET": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
                "HF_HUB_ETAG_TIMEOUT": "5", "HF_HUB_DOWNLOAD_TIMEOUT": "10"})
    return env


@pytest.fixture(scope="session")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The Hub test server of tests/hub, shared rather than duplicated; yields its URL."""
    spec = importlib.util.spec_from_file_location("mmrealsr_comfyui_tests_hub_server", HUB_SERVER)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    with module.HubServer(tmp_path_factory.mktemp("hub-storage"), {HUB_TOKEN: HUB_USER}) as running:
        yield running.url


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sample_image(height: int, width: int, seed: int) -> np.ndarray:
    """Smooth structure plus grain, so the estimator and the network see something image-like."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([0.5 + 0.4 * np.sin(x / 5 + c) * np.cos(y / 7 - c) for c in range(3)], axis=-1)
    return np.clip(base + rng.normal(0, 0.05, base.shape), 0, 1).astype(np.float32)


def save_png(pixels: np.ndarray, path: Path) -> None:
    Image.fromarray(np.round(pixels * 255).astype(np.uint8), "RGBA" if pixels.shape[-1] == 4 else "RGB").save(path)


def populate(base: Path) -> None:
    """custom_nodes -> this checkout; a tiny model, a non-MM-RealSR model and the test images."""
    (base / "custom_nodes").mkdir(parents=True)
    (base / "custom_nodes" / "mmrealsr-plugin").symlink_to(CHECKOUT, target_is_directory=True)
    save_random_model(base / "models" / "mmrealsr" / FILES["model"])
    (base / "models" / "upscale_models").mkdir(parents=True)
    foreign = base / "models" / "upscale_models" / FILES["foreign"]
    save_file({"conv.weight": np.ones((3, 3, 3, 3), np.float32)}, str(foreign))
    save_random_model(base / "models" / "upscale_models" / FILES["upscale"], SPANDREL_CONFIG, seed=5)
    (base / "input").mkdir()
    save_png(sample_image(40, 48, seed=1), base / "input" / FILES["image"])
    save_png(sample_image(1024, 2048, seed=2), base / "input" / FILES["big"])  # 8192 tiles of 16 px
    save_png(sample_image(40, 48, seed=4) * 0.1, base / "input" / FILES["dark"])
    save_png(sample_image(48, 40, seed=6), base / "input" / FILES["example"])  # the example workflows' input
    save_png(sample_image(48, 40, seed=8), base / "input" / FILES["frontend"])  # queued only from the frontend test
    rgb = sample_image(36, 44, seed=3)
    alpha = np.clip(np.linspace(-0.5, 1.5, 44, dtype=np.float32)[None, :, None].repeat(36, axis=0), 0, 1)
    save_png(np.concatenate([rgb, alpha], axis=-1), base / "input" / FILES["alpha"])


@pytest.fixture(scope="session")
def comfy(tmp_path_factory: pytest.TempPathFactory, hub: str) -> Iterator[ComfyServer]:
    runtime_or_skip()
    check_runtime_uses_checkout()
    base = tmp_path_factory.mktemp("comfyui")
    populate(base)
    port = free_port()
    log = base / "server.log"
    command = [
        str(PYTHON), str(MAIN), "--cpu", "--listen", "127.0.0.1", "--port", str(port), "--disable-auto-launch",
        "--disable-api-nodes", "--database-url", f"sqlite:///{base / 'comfyui.db'}", "--base-directory", str(base),
    ]
    env = {**hub_env(hub, base / "hf"), "PYTHONUNBUFFERED": "1"}
    with open(log, "wb") as sink:
        process = subprocess.Popen(command, cwd=MAIN.parent, stdout=sink, stderr=subprocess.STDOUT, env=env)
    server = ComfyServer(f"http://127.0.0.1:{port}", base, log, hub)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"ComfyUI exited with {process.returncode} at start:\n{log.read_text()[-4000:]}")
            try:
                server.request("/system_stats", timeout=2)
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError, HTTPStatusError):
                if time.monotonic() > deadline:
                    pytest.fail(f"ComfyUI did not answer within {START_TIMEOUT_S} s:\n{log.read_text()[-4000:]}")
                time.sleep(0.5)
        if not server.request(f"/object_info/{PACK_NODES[0]}"):
            pytest.fail(f"the MM-RealSR pack did not load:\n{log.read_text()[-4000:]}")
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
