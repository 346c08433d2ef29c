"""Metrics: hand-computable properties, plus the MATLAB NIQE reference value when the data is present."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from mmrealsr_plugin.training import metrics

DATA = Path(os.environ.get("MMREALSR_DATA_DIR", Path(__file__).resolve().parents[3] / "shared" / "data"))
PRISTINE = DATA / "metrics" / "niqe_pris_params.npz"
BABOON = DATA / "eval_paired" / "Set14" / "HR" / "img_001.png"


def _texture(shape=(200, 230, 3), seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = np.cumsum(np.cumsum(rng.normal(size=shape), axis=0), axis=1)
    return (base - base.min()) / np.ptp(base)


def test_y_channel_range_and_gray():
    assert metrics.rgb_to_y(np.zeros((2, 2, 3)))[0, 0] == pytest.approx(16.0)
    assert metrics.rgb_to_y(np.ones((2, 2, 3)))[0, 0] == pytest.approx(235.0)
    gray = np.full((3, 3), 0.5)
    assert np.allclose(metrics.rgb_to_y(gray), metrics.rgb_to_y(np.repeat(gray[..., None], 3, axis=2)))


def test_psnr_matches_hand_computed_value():
    image = np.full((20, 20), 0.5)
    shifted = image + 0.01
    expected = 20 * np.log10(255 / (219 * 0.01))
    assert metrics.psnr(image, shifted) == pytest.approx(expected)
    assert metrics.psnr(image, image) == float("inf")
    noisy = image.copy()
    noisy[:2] = 0.0  # only the border differs
    assert metrics.psnr(image, noisy, crop_border=2) == float("inf")
    with pytest.raises(ValueError, match="differ in shape"):
        metrics.psnr(image, image[:10])


def test_ssim_properties():
    image = _texture()
    noisy = np.clip(image + np.random.default_rng(1).normal(0, 0.05, image.shape), 0, 1)
    noisier = np.clip(image + np.random.default_rng(1).normal(0, 0.15, image.shape), 0, 1)
    assert metrics.ssim_y(image, image) == pytest.approx(1.0)
    assert 1.0 > metrics.ssim_y(image, noisy) > metrics.ssim_y(image, noisier) > 0
    assert metrics.ssim_y(image, noisy) == pytest.approx(metrics.ssim_y(noisy, image))


def test_spearman():
    assert metrics.spearman([1, 2, 3, 4], [10, 20, 25, 100]) == pytest.approx(1.0)
    assert metrics.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert np.isnan(metrics.spearman([1, 2, 3], [5, 5, 5]))


def test_matlab_imresize_reproduces_ramps_and_constants():
    ramp = np.tile(np.arange(40.0), (40, 1))
    half = metrics.matlab_imresize(ramp, 0.5)
    assert half.shape == (20, 20)
    # the cubic kernel reproduces linear functions: output column j samples input position 2j + 0.5
    assert np.allclose(half[:, 3:-3], (2 * np.arange(20) + 0.5)[3:-3])
    assert np.allclose(metrics.matlab_imresize(np.full((9, 7), 3.0), 0.5), 3.0)
    assert metrics.matlab_imresize(np.ones((9, 7)), 0.5).shape == (5, 4)


def test_niqe_is_zero_against_its_own_statistics():
    y = np.round(metrics.rgb_to_y(_texture((192, 288, 3))))
    window = np.outer(*(2 * [np.exp(-(np.arange(-3, 4) ** 2) / (2 * (7 / 6) ** 2))]))
    window /= window.sum()
    features = metrics.niqe_features(y, window)
    assert features.shape == (6, 36) and np.isfinite(features).all()
    model = metrics.NiqeModel(np.nanmean(features, axis=0), np.eye(36), window)
    assert metrics.niqe_distance(features, model) == pytest.approx(0.0, abs=1e-9)
    shifted = metrics.NiqeModel(model.mu + 1.0, np.eye(36), window)
    assert metrics.niqe_distance(features, shifted) > 0.1


def test_niqe_needs_one_block_and_a_model_file(tmp_path):
    with pytest.raises(ValueError, match="at least 96x96"):
        metrics.niqe_features(np.zeros((50, 200)), np.ones((7, 7)) / 49)
    with pytest.raises(FileNotFoundError, match="niqe_pris_params.npz"):
        metrics.NiqeModel.load(tmp_path / "none.npz")


@pytest.mark.skipif(not (PRISTINE.is_file() and BABOON.is_file()), reason="needs the shared NIQE model and Set14")
def test_niqe_matches_matlab_on_baboon():
    from PIL import Image

    image = np.asarray(Image.open(BABOON).convert("RGB"), dtype=np.float64) / 255.0
    # MATLAB NIQE on the classic baboon (Y channel): 5.7296; this implementation gives 5.72996 on this copy
    assert metrics.niqe(image, metrics.NiqeModel.load(PRISTINE)) == pytest.approx(5.7296, abs=1e-3)
