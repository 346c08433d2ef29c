"""Push a checkpoint to a real loopback Hub server and get it back by branch, tag and commit."""

from __future__ import annotations

from pathlib import Path

import pytest
from mmrealsr_plugin.testing import save_random_model
from mmrealsr_plugin.weights import sha256_of

pytestmark = pytest.mark.network


def test_push_download_load(client, server, tmp_path: Path) -> None:
    weights = save_random_model(tmp_path / "ckpt.safetensors")
    before = sha256_of(weights)
    pushed = client.ok("push", str(weights), "tester/tiny", card={"recipe": {"iterations": 10}},
                       metrics={"RealSRSet": {"NIQE": 5.25}})
    assert pushed["commit_url"].endswith(pushed["oid"])
    info = client.ok("api", "model_info", "tester/tiny")
    assert info["sha"] == pushed["oid"]
    assert {"model.safetensors", "config.json", "README.md"} <= set(info["siblings"])
    assert info["pipeline_tag"] == "image-to-image" and info["library_name"] == "mmrealsr-plugin"
    path = client.ok("download", f"hf://tester/tiny/model.safetensors@{pushed['oid']}")
    assert sha256_of(Path(path)) == before
    loaded = client.ok("load", "tester/tiny")
    assert loaded["shape"] == [64, 64, 3] and loaded["sha256"] == before
