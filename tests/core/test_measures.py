"""The measured terms of the scores (mmrealsr_plugin.measures): JPEG blocking in the noise score, blur width in
the blur score; what they measure, how they fold in, and where the engine applies them."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from mmrealsr_plugin import estimate, load_model
from mmrealsr_plugin.errors import ModelLoadError
from mmrealsr_plugin.measures import blocking
from mmrealsr_plugin.measures.blocking import blocking_ratio, blocking_score, with_blocking
from mmrealsr_plugin.measures.blur import blur_sigma, with_blur_width
from mmrealsr_plugin.testing import TINY_CONFIG, random_model
from mmrealsr_plugin.weights import save_safetensors

CALIBRATION = (1.09, 2.3)
BLUR_SCALE = 3.9


def _texture(size: int = 160, seed: int = 0) -> np.ndarray:
    """(H, W, 3) uint8: smooth shading, grain at every scale and a few edges: something a codec has to work on."""
    rng = np.random.default_rng(seed)
    fine = rng.normal(size=(size, size))
    coarse = np.asarray(Image.fromarray(rng.normal(size=(size // 16, size // 16)).astype(np.float32))
                        .resize((size, size), Image.Resampling.BICUBIC))
    yy, xx = np.mgrid[0:size, 0:size] / size
    luma = 0.5 + 0.2 * np.sin(7 * xx + 3 * yy) + 0.05 * fine + 0.08 * coarse
    luma[size // 3 : size // 2, 21:97] += 0.2
    rgb = np.stack([luma, luma * 0.9 + 0.05, luma * 0.8 + 0.1], axis=-1)
    return (np.clip(rgb, 0, 1) * 255).round().astype(np.uint8)


def _edges(size: int = 160, seed: int = 0) -> np.ndarray:
    """(H, W, 3) uint8: overlapping flat rectangles, all step edges (the re-blur measure is exact on those)."""
    rng = np.random.default_rng(seed)
    image = np.full((size, size, 3), 0.5)
    for _ in range(30):
        top, left = rng.integers(0, size - 10, 2)
        height, width = rng.integers(6, size // 3, 2)
        image[top : top + height, left : left + width] = rng.uniform(0.1, 0.9, 3)
    return (image * 255).round().astype(np.uint8)


def _jpeg(pixels: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def _chw(pixels: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(pixels.transpose(2, 0, 1), dtype=np.float32) / 255.0


def test_blocking_grows_as_jpeg_quality_falls_and_is_near_one_without_jpeg() -> None:
    clean = _texture()
    ratios = [blocking_ratio(_chw(_jpeg(clean, q))) for q in (90, 50, 20, 10)]
    assert 0.9 < blocking_ratio(_chw(clean)) < 1.15
    assert np.all(np.diff(ratios) > 0), ratios
    assert ratios[-1] > 1.8


def test_blocking_finds_the_grid_after_a_crop() -> None:
    """A cropped JPEG's grid no longer starts at pixel 0: the strongest phase is measured, wherever it is."""
    coded = _jpeg(_texture(), 15)
    assert blocking_ratio(_chw(coded[3:, 5:])) == pytest.approx(blocking_ratio(_chw(coded)), rel=0.05)


def test_blocking_in_row_chunks_equals_the_whole_image(monkeypatch: pytest.MonkeyPatch) -> None:
    coded = _chw(_jpeg(_texture(), 30))
    whole = blocking_ratio(coded)
    monkeypatch.setattr(blocking, "ROWS_PER_CHUNK", 7)
    assert blocking_ratio(coded) == pytest.approx(whole, rel=1e-6)


def test_blocking_of_small_or_flat_images_is_one_and_wrong_shapes_are_refused() -> None:
    assert blocking_ratio(np.zeros((3, 16, 400), np.float32)) == 1.0
    assert blocking_ratio(np.full((3, 64, 64), 0.5, np.float32)) == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"\(3, H, W\)"):
        blocking_ratio(np.zeros((64, 64, 3), np.float32))


def test_blocking_score_is_log_linear_between_the_calibration_ratios() -> None:
    clean, worst = CALIBRATION
    assert blocking_score(1.0, CALIBRATION) == 0.0
    assert blocking_score(clean, CALIBRATION) == 0.0
    assert blocking_score(np.sqrt(clean * worst), CALIBRATION) == pytest.approx(0.5)
    assert blocking_score(worst * 3, CALIBRATION) == 1.0


def test_with_blocking_raises_only_the_noise_score_and_only_with_a_calibration() -> None:
    images = np.stack([_chw(_texture()), _chw(_jpeg(_texture(), 10))])
    scores = np.array([[0.3, 0.2], [0.3, 0.2]], np.float32)
    assert with_blocking(scores, images, None) is scores
    combined = with_blocking(scores, images, CALIBRATION)
    assert combined[:, 0].tolist() == scores[:, 0].tolist()
    assert combined[0, 1] == pytest.approx(0.2, abs=0.05)  # uncompressed: about the network's own score
    assert combined[1, 1] > 0.9  # quality 10: the most severe
    assert scores[1, 1] == pytest.approx(0.2)  # the input is not modified


def _model_file(tmp_path: Path, calibration: tuple[float, float] | None, blur_scale: float | None = None) -> Path:
    config = dataclasses.replace(TINY_CONFIG, jpeg_blocking=calibration, blur_sigma_scale=blur_scale)
    return save_safetensors(random_model(TINY_CONFIG).state_dict(), tmp_path / "model.safetensors",
                            config=config.to_dict())


def test_the_engine_adds_blocking_on_the_full_image_for_models_that_declare_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The network sees an area-downscaled proxy of a large image; the grid is measured on the image itself."""
    monkeypatch.setenv("MMREALSR_ESTIMATE_MAX_PIXELS", str(64 * 64))
    photo = (_jpeg(np.tile(_texture(), (2, 2, 1)), 10).astype(np.float32) / 255.0)
    plain = load_model(str(_model_file(tmp_path / "a", None)), device="cpu")
    calibrated = load_model(str(_model_file(tmp_path / "b", CALIBRATION)), device="cpu")
    assert calibrated.descriptor.config.jpeg_blocking == CALIBRATION
    without, with_ = estimate(plain, photo), estimate(calibrated, photo)
    assert with_.blur == pytest.approx(without.blur)
    assert with_.noise[0] > 0.9 > without.noise[0]


@pytest.mark.parametrize(("key", "value"), [("jpeg_blocking", [2.0, 1.5]), ("blur_sigma_scale", 0.0)])
def test_a_calibration_out_of_range_is_refused_at_load(tmp_path: Path, key: str, value: object) -> None:
    path = save_safetensors(random_model(TINY_CONFIG).state_dict(), tmp_path / "bad.safetensors",
                            config={**TINY_CONFIG.to_dict(), key: value})
    with pytest.raises(ModelLoadError, match=key):
        load_model(str(path), device="cpu")


def _blurred(pixels: np.ndarray, sigma: float) -> np.ndarray:
    return _chw(pixels) if sigma == 0 else np.stack([cv2.GaussianBlur(c, (0, 0), sigma) for c in _chw(pixels)])


def test_blur_width_follows_the_gaussian_blur_applied() -> None:
    widths = [blur_sigma(_blurred(_edges(), s)) for s in (0, 1, 2, 3)]
    assert all(w is not None for w in widths)
    assert np.all(np.diff(widths) > 0), widths
    assert widths[2] == pytest.approx(2.0, abs=0.5) and widths[3] == pytest.approx(3.0, abs=0.6), widths


def test_blur_width_does_not_read_noise_as_sharpness() -> None:
    """Noise adds gradient energy a second blur removes; its estimated share is taken out of both energies."""
    soft = _blurred(_edges(), 2.0)
    noisy = np.clip(soft + np.random.default_rng(1).normal(0, 10 / 255, soft.shape).astype(np.float32), 0, 1)
    assert blur_sigma(noisy) == pytest.approx(blur_sigma(soft), rel=0.2)


def test_blur_width_of_small_or_flat_images_is_unknown() -> None:
    assert blur_sigma(np.random.default_rng(0).random((3, 20, 200), dtype=np.float32)) is None
    assert blur_sigma(np.full((3, 96, 96), 0.3, np.float32)) is None
    with pytest.raises(ValueError, match=r"\(3, H, W\)"):
        blur_sigma(np.zeros((96, 96, 3), np.float32))


def test_with_blur_width_averages_the_network_and_the_measured_width() -> None:
    images = np.stack([_blurred(_edges(), 1.0), _blurred(_edges(), 3.0)])
    scores = np.array([[0.2, 0.1], [0.2, 0.1]], np.float32)
    assert with_blur_width(scores, images, None) is scores
    combined = with_blur_width(scores, images, BLUR_SCALE)
    for row, image in zip(combined, images):
        assert row[0] == pytest.approx((0.2 + min(blur_sigma(image) / BLUR_SCALE, 1.0)) / 2, rel=1e-5)
    assert combined[:, 1].tolist() == scores[:, 1].tolist()
    assert combined[1, 0] > combined[0, 0]


def test_the_engine_measures_blur_on_what_the_network_saw(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Above the proxy threshold the network sees a shrunk image; the width is measured there too, so both terms
    read blur at the same scale (3.3x shrunk: the measured width falls to about a third)."""
    monkeypatch.setenv("MMREALSR_ESTIMATE_MAX_PIXELS", str(96 * 96))
    full = _blurred(_edges(320), 2.0)
    photo = np.ascontiguousarray(full.transpose(1, 2, 0))
    plain = load_model(str(_model_file(tmp_path / "a", None)), device="cpu")
    measured = load_model(str(_model_file(tmp_path / "b", None, BLUR_SCALE)), device="cpu")
    network, combined = estimate(plain, photo), estimate(measured, photo)
    assert combined.noise == pytest.approx(network.noise)
    width_seen = (2 * combined.blur[0] - network.blur[0]) * BLUR_SCALE
    assert 0.1 < width_seen < 0.6 * blur_sigma(full), (width_seen, blur_sigma(full))
