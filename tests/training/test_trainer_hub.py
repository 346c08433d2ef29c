"""``mmrealsr train --push-to-hub``: the trained EMA weights and a model card reach a (loopback) Hub repo."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HUB_TESTS = Path(__file__).parent.parent / "hub"
TOKEN, USER = "hf_test_write_token", "tester"


def _hub_server_module():
    spec = importlib.util.spec_from_file_location("mmrealsr_training_tests_hub_server", HUB_TESTS / "hub_server.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.network
@pytest.mark.timeout(240)
def test_push_to_hub_uploads_weights_and_card(tmp_path: Path, smoke_overrides: list[str]) -> None:
    server_module = _hub_server_module()
    with server_module.HubServer(tmp_path / "hub-storage", {TOKEN: USER}) as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
        env.update({"HF_ENDPOINT": server.url, "HF_TOKEN": TOKEN, "HF_HOME": str(tmp_path / "hf"),
                    "HF_HUB_DISABLE_XET": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"})
        sets = [a for o in smoke_overrides for a in ("--set", o)]
        done = subprocess.run([sys.executable, "-m", "mmrealsr_plugin", "train", "smoke", *sets,
                               "--push-to-hub", f"{USER}/smoke-sr"], env=env, capture_output=True, text=True, timeout=200)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        assert "pushed to" in done.stdout
        listing = subprocess.run(
            [sys.executable, "-c", "import json, huggingface_hub as h; api = h.HfApi(); "
             f"print(json.dumps(api.list_repo_files('{USER}/smoke-sr'))); "
             f"print(open(h.hf_hub_download('{USER}/smoke-sr', 'README.md')).read())"],
            env=env, capture_output=True, text=True, timeout=120,
        )
        assert listing.returncode == 0, listing.stderr[-2000:]
        files = json.loads(listing.stdout.splitlines()[0])
        assert {"model.safetensors", "config.json", "README.md"} <= set(files)
        card = "\n".join(listing.stdout.splitlines()[1:])
        assert "stage-net" in card and "blur_spearman" in card
