"""Acceptance: ``mmrealsr restore --model <hub reference>`` against the loopback Hub, then offline from the cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mmrealsr_plugin.testing import save_random_model
from PIL import Image

pytestmark = pytest.mark.network


def test_restore_cli_with_hub_model_online_then_offline(client, tmp_path: Path) -> None:
    weights = save_random_model(tmp_path / "tiny.safetensors")
    pushed = client.ok("push", str(weights), "tester/restore")
    source = tmp_path / "in.png"
    pixels = (np.random.default_rng(0).random((12, 10, 3)) * 255).astype(np.uint8)
    Image.fromarray(pixels).save(source)
    reference = f"hf://tester/restore/model.safetensors@{pushed['oid']}"
    common = [str(source), "--noise", "0.5", "--blur", "0.3", "--tile", "0", "--device", "cpu"]
    online = client.ok("cli", "restore", "--model", reference, *common, "-o", str(tmp_path / "online"))
    offline = client.ok("cli", "restore", "--model", reference, *common, "-o", str(tmp_path / "offline"),
                        env={"HF_HUB_OFFLINE": "1"})
    assert online == 0 and offline == 0
    outputs = [next((tmp_path / name).glob("in*.png")) for name in ("online", "offline")]
    images = [np.asarray(Image.open(p)) for p in outputs]
    assert images[0].shape == (48, 40, 3)
    assert np.array_equal(images[0], images[1])
