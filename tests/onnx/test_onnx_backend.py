"""The ONNX backend through the public engine API: loading, selection, restore parity, hygiene."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from mmrealsr_plugin import engine
from mmrealsr_plugin.backends import onnx_backend, onnx_runner
from mmrealsr_plugin.errors import BackendError, ModelLoadError
from mmrealsr_plugin.plugins import create_plugin_manager
from mmrealsr_plugin.testing import TINY_CONFIG, random_model
from mmrealsr_plugin.types import LoadOptions
from mmrealsr_plugin.weights import save_safetensors


@pytest.fixture(scope="module")
def manager():
    return create_plugin_manager(load_entry_points=False)


def _image(height: int, width: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((height, width, channels), dtype=np.float32)


def test_loads_generator_or_estimator_file(tiny_export, manager) -> None:
    for path in (tiny_export.generator, tiny_export.estimator):
        model = engine.load_model(path, manager=manager)
        assert model.backend == "onnx" and model.device == "cpu" and model.precision == "float32"
        assert model.descriptor.config == tiny_export.torch_model.config
        assert Path(model.descriptor.source) == tiny_export.generator
    fp16 = engine.load_model(tiny_export.fp16_generator, manager=manager)
    assert fp16.precision == "float16"


def test_engine_restore_matches_torch_backend(tiny_export, manager) -> None:
    onnx_model = engine.load_model(tiny_export.generator, manager=manager)
    torch_model = engine.load_model(tiny_export.weights, manager=manager)
    assert torch_model.backend == "torch"
    for image, kwargs in (
        (_image(37, 45, seed=1), {"tile": 24, "overlap": 6}),
        (np.stack([_image(21, 18, 4, seed=2), _image(21, 18, 4, seed=3)]), {"tile": 0}),
        (_image(23, 29, 1, seed=4), {"blur": 0.2, "noise": 0.9}),
    ):
        got = engine.restore(onnx_model, image, **kwargs)
        want = engine.restore(torch_model, image, **kwargs)
        assert got.image.shape == want.image.shape
        assert np.max(np.abs(got.image - want.image)) <= 1e-4
        np.testing.assert_allclose(got.scores.as_array(), want.scores.as_array(), atol=1e-4)


def test_weights_with_backend_onnx_export_into_sha_keyed_cache(manager, tmp_path, monkeypatch) -> None:
    """A x2 model (pixel-unshuffled trunk, even-size graph axes) exported on first load, then served from cache."""
    config = dataclasses.replace(TINY_CONFIG, scale=2)
    weights = save_safetensors(random_model(config, seed=5).state_dict(), tmp_path / "x2.safetensors",
                               config=config.to_dict())
    cache = tmp_path / "cache"
    monkeypatch.setenv("MMREALSR_ONNX_CACHE", str(cache))
    model = engine.load_model(weights, backend="onnx", manager=manager)
    assert model.backend == "onnx" and model.descriptor.source == str(weights) and model.scale == 2
    digest = model.descriptor.sha256
    cached = sorted(p.relative_to(cache).as_posix() for p in cache.rglob("*.onnx"))
    assert cached == [f"{digest}/v1.estimator.onnx", f"{digest}/v1.generator.onnx"]
    mtime = (cache / cached[1]).stat().st_mtime_ns
    monkeypatch.setenv("MMREALSR_BACKEND", "onnx")  # the default backend, no per-call choice
    again = engine.load_model(weights, manager=manager)
    assert again.backend == "onnx"
    assert (cache / cached[1]).stat().st_mtime_ns == mtime  # served from the cache
    torch_model = engine.load_model(weights, backend="torch", manager=manager)
    image = _image(27, 31, seed=7)  # odd sizes: the engine pads to the unshuffle factor
    for kwargs in ({"tile": 16, "overlap": 4}, {"tile": 0}):
        got = engine.restore(again, image, **kwargs)
        want = engine.restore(torch_model, image, **kwargs)
        assert got.image.shape == (54, 62, 3)
        assert np.max(np.abs(got.image - want.image)) <= 1e-4
        np.testing.assert_allclose(got.scores.as_array(), want.scores.as_array(), atol=1e-4)


def test_release_then_reuse(tiny_export, manager) -> None:
    model = engine.load_model(tiny_export.generator, manager=manager)
    before = engine.estimate(model, _image(16, 16))
    engine.release(model)
    assert model.runner.sessions == {}
    after = engine.estimate(model, _image(16, 16))
    np.testing.assert_array_equal(before.as_array(), after.as_array())


def test_the_load_hook_ignores_other_backends_files(tiny_export, manager) -> None:
    torch_model = engine.load_model(tiny_export.weights, manager=manager)
    assert torch_model.backend == "torch" and not isinstance(torch_model.runner, onnx_runner.OnnxRunner)
    assert onnx_backend.mmrealsr_load_model(source=tiny_export.weights, options=LoadOptions()) is None
    assert onnx_backend.mmrealsr_load_model(source=tiny_export.generator, options=LoadOptions("torch")) is None
    assert onnx_backend.mmrealsr_load_model(source=torch_model.runner.module, options=LoadOptions("onnx")) is None


def test_bad_onnx_files_are_clear_errors(tiny_export, manager, tmp_path) -> None:
    lonely = tmp_path / "lonely.generator.onnx"
    lonely.write_bytes(tiny_export.generator.read_bytes())
    with pytest.raises(ModelLoadError, match="estimator graph lonely.estimator.onnx is missing"):
        engine.load_model(lonely, manager=manager)
    unnamed = tmp_path / "model.onnx"
    unnamed.write_bytes(b"x")
    with pytest.raises(ModelLoadError, match=r"\.generator\.onnx"):
        engine.load_model(unnamed, manager=manager)


def test_cpu_machine_uses_cpu_only_and_refuses_missing_cuda(tiny_export) -> None:
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this check is about CPU-only onnxruntime builds")
    assert onnx_runner.provider_request("auto") == (["CPUExecutionProvider"], False)
    with pytest.raises(BackendError, match="no CUDA provider"):
        onnx_runner.create_session(tiny_export.generator, "cuda")


def test_module_imports_without_onnxruntime(tiny_export) -> None:
    """The plugin manager must keep working where onnxruntime is not installed."""
    code = textwrap.dedent(f"""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "onnxruntime" or name.startswith("onnxruntime."):
                    raise ModuleNotFoundError("No module named 'onnxruntime'", name=name)
        sys.meta_path.insert(0, Block())
        from pathlib import Path
        from mmrealsr_plugin.plugins import create_plugin_manager
        from mmrealsr_plugin.types import LoadOptions
        from mmrealsr_plugin.errors import BackendError
        from mmrealsr_plugin.backends import onnx_backend, onnx_runner
        pm = create_plugin_manager(load_entry_points=False)
        assert sorted(n for names in pm.hook.mmrealsr_backend_names() for n in names) == ["onnx", "torch"]
        weights = Path({str(tiny_export.weights)!r})
        assert pm.hook.mmrealsr_load_model(source=weights, options=LoadOptions()).backend == "torch"
        try:
            onnx_backend.mmrealsr_load_model(source=weights, options=LoadOptions("onnx"))
        except BackendError as exc:
            assert "pip install" in str(exc), exc
        else:
            raise AssertionError("expected BackendError")
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_cli_refuses_opsets_below_18(tiny_export, tmp_path, capsys) -> None:
    from mmrealsr_plugin.cli import main as cli_main

    assert cli_main(["export-onnx", str(tiny_export.weights), str(tmp_path), "--opset", "17"]) == 2
    assert "opset 17" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_cuda_provider_selection_on_a_gpu_build(monkeypatch: pytest.MonkeyPatch) -> None:
    """The choice ORT gets on a CUDA machine (none here, so the two facts it reads are given): CUDA first with a
    CPU fallback for auto, the asked card for cuda:N, and CPU only when no card is present or cpu is asked."""
    import onnxruntime as ort

    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setattr(onnx_runner, "_cuda_device_present", lambda: True)
    assert onnx_runner.provider_request("auto") == (["CUDAExecutionProvider", "CPUExecutionProvider"], False)
    assert onnx_runner.provider_request("cuda:1") == (
        [("CUDAExecutionProvider", {"device_id": 1}), "CPUExecutionProvider"], True)
    assert onnx_runner.provider_request("cpu") == (["CPUExecutionProvider"], False)
    monkeypatch.setattr(onnx_runner, "_cuda_device_present", lambda: False)
    assert onnx_runner.provider_request("auto") == (["CPUExecutionProvider"], False)
