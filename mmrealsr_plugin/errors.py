"""Every error the library raises; each message says what was wrong, why, and how to fix it.

Classes mix in the matching built-in exception so callers' existing ``except ValueError`` /
``except FileNotFoundError`` keep working.
"""

from __future__ import annotations


class MMRealSRError(Exception):
    """Base class of all mmrealsr-plugin errors."""


class ModelNotFoundError(MMRealSRError, FileNotFoundError):
    """A model name, path or Hub reference that resolves to nothing."""


class ModelLoadError(MMRealSRError, ValueError):
    """A weights file that cannot be read or does not fit the architecture."""


class NotMMRealSRModelError(ModelLoadError):
    """A readable weights file that is not an MM-RealSR generator."""


class ImageError(MMRealSRError, ValueError):
    """An input image that cannot be used (corrupt, truncated, unsupported, too large)."""


class ImageTooLargeError(ImageError):
    """An image above the configured pixel limit (``MMREALSR_MAX_PIXELS``)."""


class InvalidScoreError(MMRealSRError, ValueError):
    """A manual noise/blur value outside [0, 1] (without ``extrapolate``) or not a finite number."""


class BackendError(MMRealSRError, RuntimeError):
    """No backend could serve a request, or a backend failed; the message names the backend."""


class BackendOutOfMemoryError(BackendError, MemoryError):
    """A backend ran out of (device) memory on one tile; callers may retry with smaller tiles."""


class CancelledError(MMRealSRError):
    """Raised by a progress callback to stop a long run between tiles."""


class ConversionError(ModelLoadError):
    """A foreign-format model (e.g. an ncnn .param/.bin pair) that cannot be converted; says where and why."""
