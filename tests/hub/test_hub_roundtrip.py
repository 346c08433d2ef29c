"""The real huggingface_hub client against the project's loopback Hub server: push, fetch, verify, fail clearly.

Client steps run in fresh interpreters (``HF_*`` is read at import); steps sharing an environment
share one interpreter to keep the suite fast on two cores.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from mmrealsr_plugin.testing import save_random_model
from mmrealsr_plugin.integrity import sha256_of

pytestmark = pytest.mark.network


def test_push_then_fetch_by_commit_branch_and_tag(client, tmp_path: Path) -> None:
    weights = save_random_model(tmp_path / "a.safetensors", seed=0)
    dev_weights = save_random_model(tmp_path / "b.safetensors", seed=1)
    pushed, dev = client.all(
        ("push", str(weights), "tester/tiny", {"card": {"recipe": {"iterations": 10}},
                                               "metrics": {"RealSRSet": {"NIQE": 5.25}}}),
        ("push", str(dev_weights), "tester/tiny", {"branch": "dev", "commit_message": "try seed 1"}),
    )
    assert pushed["commit_url"].endswith(pushed["oid"])
    info, _, refs, *fetched, loaded = client.all(
        ("api", "model_info", "tester/tiny"),
        ("api", "create_tag", "tester/tiny", {"tag": "v1", "revision": pushed["oid"]}),
        ("api", "list_repo_refs", "tester/tiny"),
        ("download", f"hf://tester/tiny/model.safetensors@{pushed['oid']}"),
        ("download", "tester/tiny:model.safetensors@v1"),
        ("download", "tester/tiny"),
        ("download", "hf://tester/tiny@dev"),
        ("load", "hf://tester/tiny@dev"),
    )
    assert info["sha"] == pushed["oid"]
    assert {"model.safetensors", "config.json", "README.md"} <= set(info["siblings"])
    assert info["pipeline_tag"] == "image-to-image" and info["library_name"] == "mmrealsr-plugin"
    assert "mmrealsr" in info["tags"]
    assert refs["branches"]["dev"] == dev["oid"] and refs["tags"]["v1"] == pushed["oid"]
    assert [sha256_of(Path(p)) for p in fetched] == [sha256_of(weights)] * 3 + [sha256_of(dev_weights)]
    assert loaded["shape"] == [64, 64, 3] and loaded["sha256"] == sha256_of(dev_weights)


def test_offline_reload_from_cache(client, tmp_path: Path) -> None:
    weights = save_random_model(tmp_path / "a.safetensors")
    _, online = client.all(("push", str(weights), "tester/offline"), ("load", "tester/offline"))
    offline, missing = client.many(
        ("load", "tester/offline"), ("download", "tester/offline:other.safetensors"), env={"HF_HUB_OFFLINE": "1"}
    )
    assert offline["ok"] == online and online["sha256"] == sha256_of(weights)
    assert missing["error"] == "HubOfflineError", missing
    assert "other.safetensors" in missing["message"] and "HF_HUB_OFFLINE" in missing["message"]


def test_corrupted_server_object_is_detected_and_removed(client, server, tmp_path: Path) -> None:
    weights = save_random_model(tmp_path / "a.safetensors")
    digest = sha256_of(weights)
    client.ok("push", str(weights), "tester/corrupt")
    stored = server.state.object_path(digest)
    good = stored.read_bytes()
    stored.write_bytes(bytes(b ^ 0xFF for b in good[:64]) + good[64:])  # same size, different content
    try:
        cached, local = client.many(
            ("download", "tester/corrupt"), ("download", "tester/corrupt", {"local_dir": str(tmp_path / "models")})
        )
    finally:
        stored.write_bytes(good)
    assert cached["error"] == "IntegrityError" and digest in cached["message"]
    assert not list((tmp_path / "hf").rglob(digest)), "the bad blob must be deleted from the cache"
    assert local["error"] == "IntegrityError"
    assert not (tmp_path / "models" / "tester" / "corrupt@main" / "model.safetensors").exists()
    path = Path(client.ok("download", "tester/corrupt", local_dir=str(tmp_path / "models")))
    assert path == tmp_path / "models" / "tester" / "corrupt@main" / "model.safetensors" and sha256_of(path) == digest


def test_corrupted_cached_blob_is_detected_and_removed(client, tmp_path: Path) -> None:
    weights = save_random_model(tmp_path / "a.safetensors")
    _, cached = client.all(("push", str(weights), "tester/rot"), ("download", "tester/rot"))
    blob = Path(cached).resolve()
    data = bytearray(blob.read_bytes())
    data[100] ^= 0x01
    blob.write_bytes(bytes(data))
    answer = client.run("load", "tester/rot", env={"HF_HUB_OFFLINE": "1"})
    assert answer["error"] == "IntegrityError" and "run the same command again" in answer["message"]
    assert not blob.exists()
    assert client.ok("load", "tester/rot")["sha256"] == sha256_of(weights)


def test_private_repo_needs_token(client, tmp_path: Path) -> None:
    weights = save_random_model(tmp_path / "a.safetensors")
    _, info, fetched = client.all(
        ("push", str(weights), "tester/secret", {"private": True}), ("api", "model_info", "tester/secret"),
        ("download", "tester/secret"),
    )
    assert info["private"] is True and sha256_of(Path(fetched)) == sha256_of(weights)
    answer = client.run("download", "tester/secret", env={"HF_TOKEN": None, "HF_HOME": str(tmp_path / "anonymous")})
    assert answer["error"] == "HubAuthError" and "HF_TOKEN" in answer["message"]


@pytest.mark.slow
def test_server_down_fails_clearly(client) -> None:
    """huggingface_hub retries a refused connection 5 times (about 23 s) before giving up: no env shortens it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    started = time.monotonic()
    answer = client.run("download", "tester/tiny", env={"HF_ENDPOINT": closed})
    assert answer["error"] == "HubError" and closed in answer["message"] and "network" in answer["message"]
    assert time.monotonic() - started < 90


def test_unchanged_repush_is_skipped(client, server, tmp_path: Path) -> None:
    weights = save_random_model(tmp_path / "a.safetensors")
    first = client.ok("push", str(weights), "tester/again", metrics={"PSNR": 25.0})
    before = len(server.state.requests)
    second = client.ok("push", str(weights), "tester/again", metrics={"PSNR": 25.0})
    calls = server.state.requests[before:]
    assert second["oid"] == first["oid"]
    assert not [c for c in calls if c[0] == "PUT" or "/commit/" in c[1]], calls
    before = len(server.state.requests)
    third = client.ok("push", str(weights), "tester/again", metrics={"PSNR": 25.5})
    calls = server.state.requests[before:]
    assert third["oid"] != first["oid"]
    assert not [c for c in calls if c[0] == "PUT"], "only the model card changed: the weights must not go up again"


def test_failed_upload_keeps_local_checkpoint_and_says_what(client, server, tmp_path: Path) -> None:
    first = client.ok("push", str(save_random_model(tmp_path / "a.safetensors")), "tester/limit")
    weights = save_random_model(tmp_path / "bigger.safetensors", seed=5)
    digest = sha256_of(weights)
    server.state.max_object_size = 100
    try:
        answer = client.run("push", str(weights), "tester/limit")
    finally:
        server.state.max_object_size = None
    assert answer["error"] == "HubUploadError", answer
    assert "model.safetensors" in answer["message"] and "did not go up" in answer["message"]
    assert "413" in answer["message"]
    assert sha256_of(weights) == digest
    assert client.ok("api", "model_info", "tester/limit")["sha"] == first["oid"]


def test_registry_entry_on_the_hub_with_pinned_sha(client, tmp_path: Path) -> None:
    weights = save_random_model(tmp_path / "a.safetensors")
    pushed = client.ok("push", str(weights), "tester/registered")
    models = tmp_path / "models.toml"
    models.write_text(
        f'[models.Tiny]\nrepo_id = "tester/registered"\nrevision = "{pushed["oid"]}"\nsha256 = "{sha256_of(weights)}"\n'
        '[models.Wrong]\nrepo_id = "tester/registered"\nsha256 = "' + "0" * 64 + '"\n'
    )
    env = {"MMREALSR_MODELS_FILE": str(models)}
    before, listed, downloaded, after = client.many(
        ("models",), ("cli", "models"), ("cli", "hub", "download", "Tiny"), ("models",), env=env
    )
    assert listed["ok"] == 0 and downloaded["ok"] == 0
    assert before["ok"]["Tiny"][0] == "remote" and before["ok"]["MMRealSRNet"][0] == "manual"
    assert after["ok"]["Tiny"][0] == "cached" and sha256_of(Path(after["ok"]["Tiny"][1])) == sha256_of(weights)
    assert client.ok("load", "Tiny", env={**env, "HF_HUB_OFFLINE": "1"})["sha256"] == sha256_of(weights)
    wrong = client.run("load", "Wrong", env=env)
    assert wrong["error"] == "IntegrityError" and "0" * 64 in wrong["message"]


def test_push_model_api_cli_pth_and_onnx_with_host_progress(client, tmp_path: Path) -> None:
    import torch
    from mmrealsr_plugin.testing import random_model

    official = tmp_path / "official.pth"
    torch.save({"params_ema": random_model(seed=2).state_dict()}, official)
    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(b"\x08\x07fake-onnx-bytes\x00" * 8)
    card = tmp_path / "card.yaml"
    card.write_text("title: Tiny test\nbase_model: TencentARC/MM-RealSR\ntags: [unit-test]\n")
    url, cli_rc, info, fetched = client.many(
        ("push_model", str(official), "tester/api", {"onnx_files": [str(onnx)], "card": {"license": "mit"}}),
        ("cli", "hub", "push", str(official), "--repo-id", "tester/cli", "--card", str(card), "--onnx", str(onnx)),
        ("api", "model_info", "tester/cli"),
        ("download_with_progress", "tester/api"),
        env={"HF_HUB_DISABLE_PROGRESS_BARS": None},
    )
    assert "/tester/api/commit/" in url["ok"] and cli_rc["ok"] == 0
    assert set(info["ok"]["siblings"]) >= {"model.safetensors", "config.json", "README.md", "model.onnx"}
    assert "unit-test" in info["ok"]["tags"]
    progress = fetched["ok"]
    assert progress["instances"] >= 1 and progress["bytes"] == Path(progress["path"]).stat().st_size
    readme = client.ok("download", "tester/cli:README.md")
    text = Path(readme).read_text()
    assert text.startswith("---\nlibrary_name: mmrealsr-plugin\npipeline_tag: image-to-image\n")
    assert "base_model: TencentARC/MM-RealSR" in text and "# Tiny test" in text
