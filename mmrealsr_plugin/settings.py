"""The one place that reads MMREALSR_* environment variables."""

from __future__ import annotations

import os
from pathlib import Path

MAX_PIXELS_ENV = "MMREALSR_MAX_PIXELS"
ESTIMATE_MAX_PIXELS_ENV = "MMREALSR_ESTIMATE_MAX_PIXELS"
DEVICE_ENV = "MMREALSR_DEVICE"
MODELS_CONFIG_ENV = "MMREALSR_MODELS_FILE"

DEFAULT_MAX_PIXELS = 64 * 1024 * 1024
"""Largest input image accepted (64 MP); bigger files are refused before decoding."""
DEFAULT_ESTIMATE_MAX_PIXELS = 1024 * 1024
"""Above this many pixels the estimator runs on an area-downscaled proxy of the image (1 MP)."""


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"environment variable {name}={raw!r} must be a whole number") from None
    if value < 0:
        raise ValueError(f"environment variable {name}={raw!r} must be >= 0 (0 means no limit)")
    return value


def max_pixels() -> int:
    """Input pixel limit; 0 means unlimited."""
    return _int_env(MAX_PIXELS_ENV, DEFAULT_MAX_PIXELS)


def estimate_max_pixels() -> int:
    """Estimator proxy threshold; 0 means always estimate at full resolution."""
    return _int_env(ESTIMATE_MAX_PIXELS_ENV, DEFAULT_ESTIMATE_MAX_PIXELS)


def default_device() -> str:
    return os.environ.get(DEVICE_ENV, "auto") or "auto"


def user_models_file() -> str | None:
    """Path of a user TOML file with extra registry entries, if set."""
    return os.environ.get(MODELS_CONFIG_ENV) or None


HOME_ENV = "MMREALSR_HOME"


def home_dir() -> str:
    """Per-user data folder: ``$MMREALSR_HOME``, else ``$XDG_DATA_HOME/mmrealsr``, else ``~/.local/share/mmrealsr``."""
    explicit = os.environ.get(HOME_ENV)
    if explicit:
        return os.path.expanduser(explicit)
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "mmrealsr")


def models_dir() -> str:
    """Where manually downloaded model files go (``<home>/models``); registry entries find their file here."""
    return os.path.join(home_dir(), "models")


HUB_TIMEOUT_ENV = "MMREALSR_HUB_TIMEOUT"
DEFAULT_HUB_TIMEOUT = 25


def hub_timeout() -> int:
    """Seconds a Hub that accepts connections but does not answer is waited for before the call fails."""
    return _int_env(HUB_TIMEOUT_ENV, DEFAULT_HUB_TIMEOUT) or DEFAULT_HUB_TIMEOUT


BACKEND_ENV = "MMREALSR_BACKEND"
ONNX_CACHE_ENV = "MMREALSR_ONNX_CACHE"
ONNX_THREADS_ENV = "MMREALSR_ONNX_THREADS"


def default_backend() -> str | None:
    """Backend used when a caller names none (``torch``, ``onnx``); None lets the file type decide."""
    return os.environ.get(BACKEND_ENV) or None


def cache_dir() -> Path:
    """Per-user cache folder: ``$XDG_CACHE_HOME/mmrealsr``, else ``~/.cache/mmrealsr`` (anything here can be deleted)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mmrealsr"


def onnx_cache_dir() -> Path:
    """Where the ONNX backend keeps graphs it exported from weights files (one folder per sha256)."""
    explicit = os.environ.get(ONNX_CACHE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    return cache_dir() / "onnx"


def onnx_threads() -> int:
    """ONNX Runtime intra-op threads; 0 leaves ONNX Runtime's default (all cores)."""
    return _int_env(ONNX_THREADS_ENV, 0)
