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


class UsageError(MMRealSRError, ValueError):
    """A command-line value or combination of values that cannot work (a bad flag value, a file name that escapes its
    folder); nothing was started."""


class ConfigError(MMRealSRError, ValueError):
    """A configuration value (a TOML file, a registry entry, a stored architecture) that is unknown, of the wrong type
    or out of range; the message names the key, the value and what is allowed."""


class InvalidScoreError(MMRealSRError, ValueError):
    """A manual noise/blur value outside [0, 1] (without ``extrapolate``) or not a finite number."""


class BackendError(MMRealSRError, RuntimeError):
    """No backend could serve a request, or a backend failed; the message names the backend."""


class BackendOutOfMemoryError(BackendError, MemoryError):
    """A backend ran out of (device) memory on one tile; callers may retry with smaller tiles."""


class CancelledError(MMRealSRError):
    """Raised by a progress callback to stop a long run between tiles."""


class ExportError(MMRealSRError, RuntimeError):
    """A model that could not be exported (e.g. to ONNX), or whose export does not match torch."""


class HubError(MMRealSRError, OSError):
    """A Hugging Face Hub transfer failed (server unreachable, bad reply); the message names repo and file."""


class HubNotFoundError(HubError, ModelNotFoundError):
    """A Hub repository, revision or file that does not exist (or is hidden from this token)."""


class HubAuthError(HubError, PermissionError):
    """The Hub refused the request: private or gated repository, missing or read-only token."""


class HubOfflineError(HubError, ModelNotFoundError):
    """Offline mode is on (``HF_HUB_OFFLINE=1`` or ``local_files_only``) and the file is not cached."""


class HubUploadError(HubError):
    """A push did not complete; the message lists what did not go up. Local files are never changed."""


class IntegrityError(HubError):
    """A file whose sha256 (or git blob sha1) does not match the expected one.

    Downloaded and cached files are deleted so the next run fetches them afresh; a file the user put
    in the models folder is left in place (the message says so).
    """


class ConversionError(ModelLoadError):
    """A foreign-format model (e.g. an ncnn .param/.bin pair) that cannot be converted; says where and why."""


class CheckpointError(MMRealSRError, RuntimeError):
    """A training checkpoint that is missing, incomplete or does not match the run's config."""


class TrainingConfigError(ConfigError):
    """A training/degradation config value that is unknown, of the wrong type or out of range; names the key."""


class DatasetError(MMRealSRError, ValueError):
    """A training image folder that is empty or holds an unreadable file; names the folder or file."""


class RunFolderError(MMRealSRError, FileExistsError):
    """A training run folder that holds an earlier run (started again without ``--resume``) or is in use."""


class TrainingDivergedError(MMRealSRError, ArithmeticError):
    """A training step whose losses are NaN or infinite; stopped before the weights reach a checkpoint."""


class OutputError(MMRealSRError, OSError):
    """An output file or folder that cannot be written (missing, read-only, disk full); names it as the user gave it.

    Raised before any work starts where possible; a write that fails midway leaves no partial file.
    """


class NonFiniteOutputError(BackendError):
    """The network produced NaN or infinity (knob values far outside [0, 1], or broken weights); nothing is written."""
