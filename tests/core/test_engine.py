"""Engine semantics: fixed scores over tiles, manual knobs, alpha/gray, outscale, batches, plugins."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmrealsr_plugin import (
    BackendOutOfMemoryError,
    InvalidScoreError,
    LoadedModel,
    LoadOptions,
    ModelDescriptor,
    create_plugin_manager,
    estimate,
    hookimpl,
    load_model,
    restore,
)
from mmrealsr_plugin import engine


@pytest.fixture
def model(tiny_model_path: Path) -> LoadedModel:
    return load_model(tiny_model_path, device="cpu")


def _image(h: int = 40, w: int = 36, c: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((h, w, c), dtype=np.float32)


def test_tiling_never_changes_the_scores(model: LoadedModel) -> None:
    image = _image(70, 64)
    whole = restore(model, image, tile=0)
    tiled = restore(model, image, tile=32, overlap=8)
    assert whole.image.shape == tiled.image.shape == (280, 256, 3)
    np.testing.assert_array_equal(whole.scores.blur, tiled.scores.blur)
    np.testing.assert_array_equal(whole.scores.noise, tiled.scores.noise)
    np.testing.assert_array_equal(whole.scores.blur, estimate(model, image).blur)
    assert np.abs(whole.image - tiled.image).mean() < 0.02


def test_manual_scores_for_either_knob_alone(model: LoadedModel) -> None:
    image = _image()
    auto = estimate(model, image)
    only_noise = restore(model, image, noise=0.8)
    assert only_noise.scores.noise[0] == pytest.approx(0.8)
    assert only_noise.scores.blur[0] == pytest.approx(auto.blur[0])
    only_blur = restore(model, image, blur=0.1)
    assert only_blur.scores.blur[0] == pytest.approx(0.1)
    assert only_blur.scores.noise[0] == pytest.approx(auto.noise[0])
    as_auto = restore(model, image, blur=float(auto.blur[0]), noise=float(auto.noise[0]))
    np.testing.assert_allclose(as_auto.image, restore(model, image).image, atol=1e-6)
    assert not np.allclose(restore(model, image, noise=0.0).image, restore(model, image, noise=1.0).image)


@pytest.mark.parametrize("value", [-0.1, 1.5, float("nan"), float("inf")])
def test_out_of_range_knobs_are_rejected(model: LoadedModel, value: float) -> None:
    with pytest.raises(InvalidScoreError, match="noise"):
        restore(model, _image(), noise=value)


def test_extrapolate_allows_values_beyond_the_range(model: LoadedModel) -> None:
    result = restore(model, _image(), noise=1.5, blur=-0.2, extrapolate=True)
    assert result.scores.noise[0] == pytest.approx(1.5) and np.isfinite(result.image).all()


def test_alpha_is_upscaled_separately_and_put_back(model: LoadedModel) -> None:
    rgba = _image(c=4)
    rgba[..., 3] = 0.25
    result = restore(model, rgba)
    assert result.image.shape == (160, 144, 4)
    np.testing.assert_allclose(result.image[..., 3], 0.25, atol=1e-5)
    np.testing.assert_allclose(result.image[..., :3], restore(model, rgba[..., :3]).image, atol=1e-6)


def test_gray_in_gray_out(model: LoadedModel) -> None:
    gray = _image(c=1)
    assert restore(model, gray).image.shape == (160, 144, 1)
    assert restore(model, _image(c=2)).image.shape == (160, 144, 2)


def test_outscale_resizes_the_result(model: LoadedModel) -> None:
    assert restore(model, _image(), outscale=2).image.shape == (80, 72, 3)
    assert restore(model, _image(), outscale=3.5).image.shape == (140, 126, 3)
    with pytest.raises(ValueError, match="outscale"):
        restore(model, _image(), outscale=0)


def test_batch_scores_are_per_image(model: LoadedModel) -> None:
    batch = np.stack([_image(seed=1), _image(seed=2) * 0.2])
    result = restore(model, batch, tile=16, overlap=4)
    assert result.image.shape == (2, 160, 144, 3)
    assert result.scores.blur[0] != result.scores.blur[1]
    single = restore(model, batch[1], tile=16, overlap=4)
    np.testing.assert_allclose(result.image[1], single.image, atol=1e-5)


def test_large_images_are_estimated_on_a_proxy(model: LoadedModel, monkeypatch: pytest.MonkeyPatch) -> None:
    image = _image(64, 64)
    full = estimate(model, image)
    monkeypatch.setenv("MMREALSR_ESTIMATE_MAX_PIXELS", str(32 * 32))
    seen: list[tuple[int, ...]] = []
    runner_estimate = model.runner.estimate

    def spy(images: np.ndarray) -> np.ndarray:
        seen.append(images.shape)
        return runner_estimate(images)

    monkeypatch.setattr(model.runner, "estimate", spy)
    proxy = estimate(model, image)
    assert seen == [(1, 3, 32, 32)]
    assert proxy.blur.shape == full.blur.shape


class OutOfMemoryRunner:
    """A third-party runner: x4 nearest-neighbour, out of memory on tiles larger than 64 pixels a side."""

    backend, scale, size_multiple, precision, precisions, movable = "test-oom", 4, 1, "float32", ("float32",), False
    device = "cpu"

    def __init__(self) -> None:
        self.sides: list[int] = []

    def run_tile(self, tile: np.ndarray, scores: np.ndarray) -> np.ndarray:
        self.sides.append(max(tile.shape[2:]))
        if max(tile.shape[2:]) > 64:
            raise BackendOutOfMemoryError(f"test-oom backend: tile {tile.shape} too large")
        return np.repeat(np.repeat(tile, 4, axis=2), 4, axis=3)

    def estimate(self, images: np.ndarray) -> np.ndarray:
        return np.tile(np.float32([0.5, 0.25]), (len(images), 1))


class OutOfMemoryBackend:
    """A real third-party plugin: loads ``*.oom`` files into an :class:`OutOfMemoryRunner`."""

    def __init__(self, descriptor: ModelDescriptor) -> None:
        self.descriptor, self.runner = descriptor, OutOfMemoryRunner()

    @hookimpl
    def mmrealsr_backend_names(self) -> list[str]:
        return ["test-oom"]

    @hookimpl
    def mmrealsr_load_model(self, source: Path, options: LoadOptions) -> LoadedModel | None:
        if options.backend not in (None, "test-oom") or not str(source).endswith(".oom"):
            return None
        return LoadedModel(self.descriptor, self.runner)


def test_a_registered_plugin_is_called_and_oom_halves_the_tile(model: LoadedModel, tmp_path: Path) -> None:
    backend = OutOfMemoryBackend(model.descriptor)
    manager = create_plugin_manager(load_entry_points=False)
    manager.register(backend, name="test-oom")
    assert "test-oom" in [n for names in manager.hook.mmrealsr_backend_names() for n in names]
    path = tmp_path / "weights.oom"
    path.write_bytes(b"")
    loaded = load_model(path, manager=manager)
    assert loaded.runner is backend.runner
    result = restore(loaded, _image(200, 200), tile=256)
    # tile 256: one tile, the whole image, out of memory; 128: tiles of 110 (the layout shares the length
    # evenly), out of memory; 64: tiles of 60, which run
    assert sorted(set(backend.runner.sides), reverse=True) == [200, 110, 60]
    assert result.tile == 64
    assert result.scores.to_list() == [{"blur": 0.5, "noise": 0.25}]
    np.testing.assert_array_equal(result.image, np.repeat(np.repeat(_image(200, 200), 4, axis=0), 4, axis=1))


def test_x2_and_x1_models_restore(tmp_path: Path) -> None:
    from mmrealsr_plugin.archs.mmrealsr import MMRealSRConfig
    from mmrealsr_plugin.testing import TINY_CONFIG, save_random_model

    for scale in (1, 2):
        path = save_random_model(tmp_path / f"x{scale}.safetensors", MMRealSRConfig(**{**TINY_CONFIG.to_dict(),
                                                                                      "scale": scale}))
        loaded = load_model(path, device="cpu")
        out = restore(loaded, _image(37, 30), tile=16, overlap=4)
        assert out.image.shape == (37 * scale, 30 * scale, 3)


def test_check_score_message() -> None:
    with pytest.raises(InvalidScoreError, match=r"blur=2.0 is outside \[0, 1\]; pass extrapolate=True"):
        engine.check_score("blur", 2.0, False)
