"""Degradation settings as data: one frozen dataclass whose defaults are the official MM-RealSR numbers.

Why a dataclass and not a dict: every consumer (pipeline, trainer, TOML files) sees the same names, and
``from_dict`` (the project's one strict reader, :mod:`mmrealsr_plugin.dataconfig`) refuses a misspelt key or a
wrong type instead of silently training with a default.

The official code deviates from its own config in three places. By default this package does what the
config *says*; each deviation can be switched on to reproduce the official behaviour:

* ``official_always_second_blur``: apply the stage-2 blur always, ignoring ``second_blur_prob`` (0.8).
* ``official_ignore_jpeg_range2``: draw the final JPEG quality from ``jpeg_range`` instead of ``jpeg_range2``.
* ``official_double_usm_min_anchor``: when the GT was sharpened before synthesis, sharpen it a second time
  before bilinearly downsampling it into the clean anchor a_min.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mmrealsr_plugin.dataconfig import from_dict, to_dict
from mmrealsr_plugin.errors import TrainingConfigError

KERNEL_TYPES: tuple[str, ...] = (
    "iso",
    "aniso",
    "generalized_iso",
    "generalized_aniso",
    "plateau_iso",
    "plateau_aniso",
)
"""Order of the entries of ``kernel_prob`` / ``kernel_prob2``."""

RESIZE_MODES: tuple[str, ...] = ("area", "bilinear", "bicubic")


@dataclasses.dataclass(frozen=True)
class DegradationConfig:
    """All knobs of the MM-RealSR training degradation (stage 1 = first order, stage 2 = second order).

    Noise sigmas are on the 0-255 scale; JPEG qualities on 1-100; kernel sigmas in pixels; probabilities
    of the up/down/keep resize choice are given in that order.
    """

    # --- stage-1 blur kernel (kernel1) ---
    kernel_size_range: tuple[int, int] = (7, 21)
    kernel_prob: tuple[float, ...] = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)
    sinc_prob: float = 0.1
    blur_sigma: tuple[float, float] = (0.2, 3.0)
    betag_range: tuple[float, float] = (0.5, 4.0)
    betap_range: tuple[float, float] = (1.0, 2.0)
    # --- stage-2 blur kernel (kernel2) ---
    kernel_prob2: tuple[float, ...] = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)
    sinc_prob2: float = 0.1
    blur_sigma2: tuple[float, float] = (0.2, 1.5)
    betag_range2: tuple[float, float] = (0.5, 4.0)
    betap_range2: tuple[float, float] = (1.0, 2.0)
    second_blur_prob: float = 0.8
    # --- final sinc ---
    final_sinc_prob: float = 0.8
    # --- stage 1 resize / noise / JPEG ---
    resize_prob: tuple[float, float, float] = (0.2, 0.7, 0.1)
    resize_range: tuple[float, float] = (0.15, 1.5)
    gaussian_noise_prob: float = 0.5
    noise_range: tuple[float, float] = (1.0, 30.0)
    poisson_scale_range: tuple[float, float] = (0.05, 3.0)
    gray_noise_prob: float = 0.4
    jpeg_range: tuple[float, float] = (30.0, 95.0)
    # --- stage 2 resize / noise / JPEG ---
    resize_prob2: tuple[float, float, float] = (0.3, 0.4, 0.3)
    resize_range2: tuple[float, float] = (0.3, 1.2)
    gaussian_noise_prob2: float = 0.5
    noise_range2: tuple[float, float] = (1.0, 25.0)
    poisson_scale_range2: tuple[float, float] = (0.05, 2.5)
    gray_noise_prob2: float = 0.4
    jpeg_range2: tuple[float, float] = (30.0, 95.0)
    resize_modes: tuple[str, ...] = RESIZE_MODES
    # --- MM-RealSR contrast pairs (x2 = more blur, x3 = more noise + lower JPEG quality) ---
    blur_kernel_diff_lower_bound: float = 0.1
    noise_diff_prob: float = 0.5
    noise_diff_prob2: float = 0.2
    gaussian_noise_diff_range: tuple[float, float] = (1.0, 21.0)
    poisson_scale_diff_range: tuple[float, float] = (0.05, 2.05)
    jpeg_diff_range: tuple[float, float] = (5.0, 60.0)
    # --- unsharp masking of the GT ---
    usm_kernel_size: int = 51
    usm_sigma: float = 8.0
    usm_weight: float = 0.5
    usm_threshold: float = 10.0
    # --- switches reproducing the official code where it deviates from its config ---
    official_always_second_blur: bool = False
    official_ignore_jpeg_range2: bool = False
    official_double_usm_min_anchor: bool = False

    def __post_init__(self) -> None:
        lo, hi = self.kernel_size_range
        if lo < 3 or lo % 2 == 0 or hi % 2 == 0 or hi < lo:
            _fail("kernel_size_range", self.kernel_size_range, "two odd sizes >= 3 with low <= high, e.g. [7, 21]")
        for name in ("kernel_prob", "kernel_prob2"):
            _check_distribution(name, getattr(self, name), len(KERNEL_TYPES))
        for name in ("resize_prob", "resize_prob2"):
            _check_distribution(name, getattr(self, name), 3)
        for name in (
            "sinc_prob", "sinc_prob2", "second_blur_prob", "final_sinc_prob", "gaussian_noise_prob",
            "gaussian_noise_prob2", "gray_noise_prob", "gray_noise_prob2", "noise_diff_prob", "noise_diff_prob2",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                _fail(name, value, "a probability in [0, 1]")
        for name in (
            "blur_sigma", "blur_sigma2", "betag_range", "betag_range2", "betap_range", "betap_range2",
            "resize_range", "resize_range2", "noise_range", "noise_range2", "poisson_scale_range",
            "poisson_scale_range2", "jpeg_range", "jpeg_range2", "gaussian_noise_diff_range",
            "poisson_scale_diff_range", "jpeg_diff_range",
        ):
            low, high = getattr(self, name)
            if not (math.isfinite(low) and math.isfinite(high) and 0 <= low <= high):
                _fail(name, getattr(self, name), "a range [low, high] with 0 <= low <= high")
        for name in ("blur_sigma", "blur_sigma2"):
            low, high = getattr(self, name)
            if low <= 0 or high - low < self.blur_kernel_diff_lower_bound:
                _fail(name, (low, high), f"low > 0 and a width >= blur_kernel_diff_lower_bound "
                      f"({self.blur_kernel_diff_lower_bound}) so a blurrier kernel exists")
        for name in ("jpeg_range", "jpeg_range2"):
            low, high = getattr(self, name)
            if low < 1 or high > 100 or high - low < self.jpeg_diff_range[1]:
                _fail(name, (low, high), f"qualities in [1, 100] spanning at least jpeg_diff_range's top "
                      f"({self.jpeg_diff_range[1]})")
        for name in ("resize_range", "resize_range2"):
            low, high = getattr(self, name)
            if not low <= 1.0 <= high or low <= 0:
                _fail(name, (low, high), "a range around 1 (down-scales below 1, up-scales above), low > 0")
        for name, base in (("gaussian_noise_diff_range", "noise_range"),
                           ("poisson_scale_diff_range", "poisson_scale_range")):
            diff_high = getattr(self, name)[1]
            for stage_name in (base, base + "2"):
                low, high = getattr(self, stage_name)
                if diff_high > high:  # sigma_small = U*(high-d)+low needs d <= high
                    _fail(name, getattr(self, name), f"a top <= the top of {stage_name} ({high})")
        bad_modes = [m for m in self.resize_modes if m not in RESIZE_MODES]
        if bad_modes or not self.resize_modes:
            _fail("resize_modes", self.resize_modes, f"a non-empty subset of {list(RESIZE_MODES)}")
        if self.usm_kernel_size < 3 or self.usm_kernel_size % 2 == 0:
            _fail("usm_kernel_size", self.usm_kernel_size, "an odd size >= 3")
        if self.usm_sigma <= 0:
            _fail("usm_sigma", self.usm_sigma, "a positive sigma")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], prefix: str = "") -> DegradationConfig:
        """Build from plain data (TOML/YAML/JSON); unknown keys, wrong types and bad values raise, naming the key."""
        return from_dict(cls, data, label="degradation config", prefix=prefix, error=TrainingConfigError)

    @classmethod
    def from_toml(cls, path: str | Path, section: str = "degradation") -> DegradationConfig:
        """Read the ``[section]`` table of a TOML file (the whole file when it has no such table)."""
        path = Path(path)
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise TrainingConfigError(f"cannot read degradation config {path}: {exc}") from exc
        table = document.get(section, document)
        return cls.from_dict(table)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (lists for tuples) that ``from_dict`` accepts back."""
        return to_dict(self)


def _fail(key: str, value: Any, expected: str) -> typing.NoReturn:
    raise TrainingConfigError(f"degradation config key {key!r} = {value!r} is invalid: expected {expected}")


def _check_distribution(key: str, probs: tuple[float, ...], length: int) -> None:
    if len(probs) != length or any(p < 0 for p in probs) or not math.isclose(sum(probs), 1.0, abs_tol=1e-6):
        _fail(key, probs, f"{length} non-negative probabilities summing to 1")
