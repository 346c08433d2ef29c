"""Hostile weights files: every one is a ModelLoadError naming the file, found before memory is spent on it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from mmrealsr_plugin import ModelLoadError, ModelNotFoundError, load_model
from mmrealsr_plugin.cli import EXIT_FAILED, main
from mmrealsr_plugin.testing import TINY_CONFIG, random_model
from mmrealsr_plugin.weights import CONFIG_METADATA_KEY


def _tiny_state() -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in random_model().state_dict().items()}


def _save(path: Path, tensors: dict[str, torch.Tensor], config: object = None, raw_config: str | None = None) -> Path:
    metadata = {}
    if config is not None:
        metadata[CONFIG_METADATA_KEY] = json.dumps(config)
    if raw_config is not None:
        metadata[CONFIG_METADATA_KEY] = raw_config
    save_file(tensors, str(path), metadata=metadata)
    return path


def _huge_claim(path: Path) -> Path:
    """Issue 13 item 6: a tiny file whose metadata claims a 4096-wide, 200-block network."""
    return _save(path, _tiny_state(), {**TINY_CONFIG.to_dict(), "num_feat": 4096, "num_block": 200})


def _huge_by_keys(path: Path) -> Path:
    """No metadata, but tensors shaped and named so that key detection alone would read num_feat=4096, 200 blocks."""
    state = _tiny_state()
    state["conv_last.weight"] = torch.zeros(3, 4096, 1, 1)
    for index in range(2, 200):
        state[f"body.{index}.rdb1.conv1.weight"] = torch.zeros(1, 1, 1, 1)
    return _save(path, state)


def _malformed(kind: str, path: Path) -> Path:
    state = _tiny_state()
    config = TINY_CONFIG.to_dict()
    if kind == "1d-conv-last":
        state["conv_last.weight"] = torch.zeros(27)
        return _save(path, state, config)
    if kind == "zero-size-estimator":
        state["de_net.conv_first.0.weight"] = torch.zeros(8, 0, 3, 3)
        return _save(path, state)
    if kind == "string-in-metadata":
        return _save(path, state, {**config, "num_feat": "8"})
    if kind == "bool-in-metadata":
        return _save(path, state, {**config, "num_block": True})
    if kind == "bad-json-metadata":
        return _save(path, state, raw_config="{not json")
    if kind == "list-metadata":
        return _save(path, state, raw_config="[1, 2]")
    if kind == "unknown-metadata-key":
        return _save(path, state, {**config, "depth": 3})
    if kind == "wrong-shape":
        state["body.1.rdb2.conv3.weight"] = torch.zeros(4, 3, 3, 3)
        return _save(path, state)
    if kind == "random-pth":
        path.write_bytes(bytes(range(256)) * 64)
        return path
    if kind == "empty-safetensors":
        path.write_bytes(b"")
        return path
    raise AssertionError(kind)


MALFORMED = ["1d-conv-last", "zero-size-estimator", "string-in-metadata", "bool-in-metadata", "bad-json-metadata",
             "list-metadata", "unknown-metadata-key", "wrong-shape", "random-pth", "empty-safetensors"]


@pytest.mark.parametrize("kind", MALFORMED)
def test_malformed_weights_are_a_clear_error_naming_the_file(kind: str, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 13 item 13: no IndexError/ZeroDivisionError/TypeError tracebacks, and exit code 3, not 1."""
    path = _malformed(kind, tmp_path / ("bad.pth" if kind == "random-pth" else "bad.safetensors"))
    with pytest.raises(ModelLoadError) as caught:
        load_model(path, device="cpu")
    assert str(path) in str(caught.value)
    image = tmp_path / "in.png"
    from mmrealsr_plugin import write_image
    import numpy as np

    write_image(image, np.zeros((8, 8, 3), np.float32))
    assert main(["restore", str(image), "-o", str(tmp_path / "out"), "--model", str(path), "--device", "cpu"]) \
        == EXIT_FAILED
    err = capsys.readouterr().err
    assert f"mmrealsr: error: {path}" in err and "Traceback" not in err
    assert not list((tmp_path / "out").glob("*.png"))


def test_random_bytes_pth_is_not_called_code(tmp_path: Path) -> None:
    path = _malformed("random-pth", tmp_path / "noise.pth")
    with pytest.raises(ModelLoadError) as caught:
        load_model(path, device="cpu")
    assert "arbitrary code" not in str(caught.value) and "not a PyTorch checkpoint" in str(caught.value)


def test_metadata_may_not_contradict_the_tensors(tmp_path: Path) -> None:
    path = _huge_claim(tmp_path / "claims.safetensors")
    with pytest.raises(ModelLoadError) as caught:
        load_model(path, device="cpu")
    message = str(caught.value)
    assert str(path) in message and "num_feat" in message and "4096" in message and "num_block" in message


def test_lying_files_fail_fast_in_little_memory(tmp_path: Path, python) -> None:
    """Issue 13 item 6: 3.2 GB and 16 s before; now an error before anything of that size is allocated."""
    files = [_huge_claim(tmp_path / "claims.safetensors"), _huge_by_keys(tmp_path / "keys.safetensors")]
    code = (
        "import json, resource, sys, time\n"
        "import mmrealsr_plugin\n"
        "from mmrealsr_plugin.testing import random_model\n"
        "random_model()\n"  # warm up torch's own allocations before the baseline
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "report = []\n"
        "for path in sys.argv[1:]:\n"
        "    started = time.monotonic()\n"
        "    try:\n"
        "        mmrealsr_plugin.load_model(path, device='cpu')\n"
        "        report.append(['loaded', path])\n"
        "    except Exception as exc:\n"
        "        report.append([type(exc).__name__, str(exc), time.monotonic() - started])\n"
        "grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before\n"
        "print(json.dumps({'report': report, 'grown_kb': grown}))\n"
    )
    result = python("-c", code, *map(str, files), timeout=120)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    for (kind, message, seconds), path in zip(answer["report"], files):
        assert kind in ("ModelLoadError", "NotMMRealSRModelError"), message
        assert str(path) in message
        assert seconds < 5, f"{path.name}: took {seconds:.1f} s"
    assert answer["grown_kb"] < 150 * 1024, f"peak memory grew by {answer['grown_kb'] // 1024} MB"


def test_unknown_model_file_type_message_is_helpful(tmp_path: Path) -> None:
    path = tmp_path / "weights.txt"
    path.write_text("hello")
    with pytest.raises(ModelLoadError) as caught:
        load_model(path, device="cpu")
    message = str(caught.value)
    assert "any backend" not in message and str(path) in message and ".safetensors" in message


def test_unknown_backend_name_is_named(tmp_path: Path, tiny_model_path: Path) -> None:
    with pytest.raises(Exception) as caught:
        load_model(tiny_model_path, backend="tensorrt", device="cpu")
    message = str(caught.value)
    assert "'tensorrt'" in message and "torch" in message and "any backend" not in message


@pytest.mark.parametrize("argument", ["models/x.safetensors", "./x.pth", "~/no-such-dir/x.safetensors",
                                      "x.safetensors", "existing/model", "sub/dir/weights.onnx"])
def test_a_missing_path_is_a_missing_file_without_any_network_call(argument: str, tmp_path: Path, python,
                                                                    silent_endpoint) -> None:
    """Issue 13 item 10: it used to be looked up on the Hub for 26 s, and the message never said 'does not exist'."""
    (tmp_path / "existing").mkdir()
    (tmp_path / "models").mkdir()
    with silent_endpoint() as server:
        result = python("-m", "mmrealsr_plugin", "estimate", "nothing.png", "--model", argument,
                        env={"HF_ENDPOINT": server.url, "HF_HUB_OFFLINE": None, "HOME": str(tmp_path)}, timeout=60)
    assert result.returncode in (2, 3), result.stderr
    assert "does not exist" in result.stderr and argument in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not server.connections, "a local-looking path was looked up on the Hub"


def test_a_missing_path_from_python_is_model_not_found(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        load_model(str(tmp_path / "models" / "x.safetensors"))
