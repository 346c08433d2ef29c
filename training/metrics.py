"""Image-quality metrics for evaluation and validation: PSNR (Y or RGB), SSIM on Y, NIQE on Y (MATLAB-compatible),
Spearman. The one implementation of each; they live with training because NIQE and Spearman need scipy, which the
``train`` extra declares (scipy is imported only by the functions that use it).

Conventions (state them with any number you report): images are float arrays in [0, 1], RGB
channels-last (H, W, 3) or grayscale (H, W) / (H, W, 1); Y is ITU-R BT.601 luma on the 0-255 scale
(16..235); ``crop_border`` pixels are removed from every side before measuring. NIQE follows the
MATLAB reference (Mittal et al. 2013): 96x96 blocks, two scales, MATLAB bicubic ``imresize`` with
antialiasing, Y rounded to 8-bit levels as MATLAB would hold it; lower is better. It needs the
pristine model file ``niqe_pris_params.npz`` (``mu_pris_param`` (1, 36), ``cov_pris_param`` (36, 36),
``gaussian_window`` (7, 7)), given by path: it is not shipped with this package.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

NIQE_BLOCK = 96
_SHAPES = np.arange(200, 10001) / 1000.0
"""Shape parameters searched by the moment-matching estimators (0.2 to 10 in steps of 0.001)."""
_PAIR_SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))
"""Horizontal, vertical and the two diagonal neighbours (row, column shifts)."""


def rgb_to_y(image: np.ndarray) -> np.ndarray:
    """BT.601 luma on the 0-255 scale (16..235) of an RGB or grayscale image in [0, 1], as float64."""
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        return 16.0 + 219.0 * image
    if image.ndim != 3 or image.shape[2] < 3:
        raise ValueError(f"expected an (H, W), (H, W, 1) or (H, W, 3) image, got shape {image.shape}")
    return 16.0 + image[..., 0] * 65.481 + image[..., 1] * 128.553 + image[..., 2] * 24.966


def _crop(y: np.ndarray, border: int) -> np.ndarray:
    if border < 0 or 2 * border >= min(y.shape[:2]):
        raise ValueError(f"crop_border {border} does not fit an image of shape {y.shape[:2]}")
    return y[border : y.shape[0] - border, border : y.shape[1] - border] if border else y


def _pair_y(reference: np.ndarray, test: np.ndarray, crop_border: int) -> tuple[np.ndarray, np.ndarray]:
    if reference.shape != test.shape:
        raise ValueError(f"images differ in shape: reference {reference.shape}, test {test.shape}")
    return _crop(rgb_to_y(reference), crop_border), _crop(rgb_to_y(test), crop_border)


def psnr(reference: np.ndarray, test: np.ndarray, crop_border: int = 0, y_channel: bool = True) -> float:
    """Peak signal-to-noise ratio in dB (peak 255) on BT.601 Y, or on every channel (``y_channel=False``); inf for
    identical images. Callers that mean 8-bit images quantise them first."""
    if y_channel:
        a, b = _pair_y(reference, test, crop_border)
    else:
        if reference.shape != test.shape:
            raise ValueError(f"images differ in shape: reference {reference.shape}, test {test.shape}")
        a, b = (_crop(np.asarray(x, dtype=np.float64) * 255.0, crop_border) for x in (reference, test))
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


def ssim_y(reference: np.ndarray, test: np.ndarray, crop_border: int = 0) -> float:
    """Structural similarity on Y (Wang et al. 2004): 11x11 Gaussian window, sigma 1.5, valid region."""
    a, b = _pair_y(reference, test, crop_border)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    kernel = cv2.getGaussianKernel(11, 1.5)
    window = kernel @ kernel.T

    def blur(x: np.ndarray) -> np.ndarray:
        return cv2.filter2D(x, -1, window)[5:-5, 5:-5]

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(ssim_map.mean())


def spearman(x: np.ndarray | list[float], y: np.ndarray | list[float]) -> float:
    """Spearman rank correlation (ties get average ranks); NaN if either side is constant."""
    x, y = np.asarray(x, dtype=np.float64).ravel(), np.asarray(y, dtype=np.float64).ravel()
    if x.shape != y.shape or x.size < 2:
        raise ValueError(f"spearman needs two sequences of equal length >= 2, got {x.size} and {y.size}")
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    from scipy import stats

    return float(stats.spearmanr(x, y).statistic)


# ---------------------------------------------------------------------------------------------- NIQE


@dataclass(frozen=True)
class NiqeModel:
    """The pristine multivariate Gaussian of the 36 NIQE features, and the local-mean window."""

    mu: np.ndarray
    cov: np.ndarray
    window: np.ndarray

    @classmethod
    def load(cls, path: str | Path) -> NiqeModel:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"NIQE pristine parameters {str(path)!r} not found; pass the path of niqe_pris_params.npz "
                "(the MATLAB NIQE model, e.g. from the basicsr 1.4.2 sdist)"
            )
        with np.load(path) as data:
            missing = {"mu_pris_param", "cov_pris_param", "gaussian_window"} - set(data.files)
            if missing:
                raise ValueError(f"{path}: missing arrays {sorted(missing)}; is it niqe_pris_params.npz?")
            return cls(data["mu_pris_param"].ravel(), data["cov_pris_param"], data["gaussian_window"])


def _cubic(x: np.ndarray) -> np.ndarray:
    ax = np.abs(x)
    return (1.5 * ax**3 - 2.5 * ax**2 + 1) * (ax <= 1) + (-0.5 * ax**3 + 2.5 * ax**2 - 4 * ax + 2) * (
        (ax > 1) & (ax <= 2)
    )


def _resize_weights(in_len: int, out_len: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Per output sample: 0-based source indices (mirrored at the edges) and normalised weights."""
    width = 4.0 / scale if scale < 1 else 4.0
    u = np.arange(1, out_len + 1) / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - width / 2)
    taps = int(np.ceil(width)) + 2
    index = left[:, None] + np.arange(taps)[None, :]
    distance = u[:, None] - index
    weights = scale * _cubic(scale * distance) if scale < 1 else _cubic(distance)
    weights /= weights.sum(axis=1, keepdims=True)
    mirror = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])
    index = mirror[np.mod(index.astype(np.int64) - 1, 2 * in_len)]
    keep = np.any(weights != 0, axis=0)
    return index[:, keep], weights[:, keep]


def matlab_imresize(image: np.ndarray, scale: float) -> np.ndarray:
    """Bicubic resize of a 2-D float image by ``scale``, matching MATLAB ``imresize`` (antialiased)."""
    out = np.asarray(image, dtype=np.float64)
    for axis in (0, 1):
        in_len = out.shape[axis]
        index, weights = _resize_weights(in_len, int(np.ceil(in_len * scale)), scale)
        moved = np.moveaxis(out, axis, 0)
        out = np.moveaxis(np.einsum("ot,ot...->o...", weights, moved[index]), 0, axis)
    return out


@functools.cache
def _aggd_ratio() -> np.ndarray:
    """The moment ratio of the generalised Gaussian at every searched shape (computed once)."""
    from scipy import special

    return special.gamma(2 / _SHAPES) ** 2 / (special.gamma(1 / _SHAPES) * special.gamma(3 / _SHAPES))


def _aggd_params(samples: np.ndarray) -> np.ndarray:
    """Per row: asymmetric generalised Gaussian [shape, left scale, right scale] by moment matching.

    NaN where a side of zero has no samples (MATLAB's NaN, later ignored by the mean/cov).
    """
    neg, pos = samples < 0, samples > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        left = np.sqrt(np.sum(samples**2 * neg, axis=1) / neg.sum(axis=1))
        right = np.sqrt(np.sum(samples**2 * pos, axis=1) / pos.sum(axis=1))
        ratio = left / right
        r_hat = np.mean(np.abs(samples), axis=1) ** 2 / np.mean(samples**2, axis=1)
        r_norm = r_hat * (ratio**3 + 1) * (ratio + 1) / (ratio**2 + 1) ** 2
    from scipy import special

    shape = _SHAPES[np.argmin((_aggd_ratio()[None, :] - r_norm[:, None]) ** 2, axis=1)]
    shape = np.where(np.isnan(r_norm), np.nan, shape)
    to_scale = np.sqrt(special.gamma(1 / shape) / special.gamma(3 / shape))
    return np.stack([shape, left * to_scale, right * to_scale], axis=1)


def _block_features(structure: np.ndarray, block: int) -> np.ndarray:
    """18 natural-scene-statistics features per block (neighbour products wrap within the block).

    [shape, mean scale] of the normalised luminance, then for each neighbour direction
    [shape, mean, left scale, right scale] of the products with that neighbour.
    """
    from scipy import special

    rows, cols = structure.shape[0] // block, structure.shape[1] // block
    blocks = structure[: rows * block, : cols * block].reshape(rows, block, cols, block)
    blocks = blocks.transpose(0, 2, 1, 3).reshape(rows * cols, block, block)
    flat = blocks.reshape(len(blocks), -1)
    shape, left, right = _aggd_params(flat).T
    features = [shape[:, None], ((left + right) / 2)[:, None]]
    for shift in _PAIR_SHIFTS:
        shifted = np.roll(blocks, shift, axis=(1, 2)).reshape(len(blocks), -1)
        shape, left, right = _aggd_params(flat * shifted).T
        mean = (right - left) * special.gamma(2 / shape) / special.gamma(1 / shape)
        features.append(np.stack([shape, mean, left, right], axis=1))
    return np.concatenate(features, axis=1)


def niqe_features(y: np.ndarray, window: np.ndarray) -> np.ndarray:
    """(blocks, 36) features of a Y image (0-255): 18 at full scale, 18 at half scale."""
    from scipy import ndimage

    rows, cols = y.shape[0] // NIQE_BLOCK * NIQE_BLOCK, y.shape[1] // NIQE_BLOCK * NIQE_BLOCK
    if rows == 0 or cols == 0:
        raise ValueError(f"NIQE needs an image of at least {NIQE_BLOCK}x{NIQE_BLOCK} pixels, got {y.shape}")
    image = y[:rows, :cols].astype(np.float64)
    per_scale = []
    for level in (1, 2):
        mu = ndimage.correlate(image, window, mode="nearest")
        sigma = np.sqrt(np.abs(ndimage.correlate(image * image, window, mode="nearest") - mu * mu))
        per_scale.append(_block_features((image - mu) / (sigma + 1), NIQE_BLOCK // level))
        if level == 1:
            image = matlab_imresize(image, 0.5)
    return np.concatenate(per_scale, axis=1)


def niqe_distance(features: np.ndarray, model: NiqeModel) -> float:
    """Mahalanobis-like distance between the image's feature Gaussian and the pristine one."""
    complete = features[~np.isnan(features).any(axis=1)]
    mu = np.nanmean(features, axis=0)
    cov = np.cov(complete, rowvar=False) if len(complete) > 1 else np.zeros((features.shape[1],) * 2)
    diff = model.mu - mu
    return float(np.sqrt(diff @ np.linalg.pinv((model.cov + cov) / 2) @ diff))


def niqe(image: np.ndarray, model: NiqeModel, crop_border: int = 0) -> float:
    """NIQE of an image in [0, 1] on its Y channel rounded to 8-bit levels; lower is better."""
    y = np.round(_crop(rgb_to_y(image), crop_border))
    return niqe_distance(niqe_features(y, model.window), model)
