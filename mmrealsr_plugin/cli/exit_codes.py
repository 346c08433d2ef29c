"""The command line's exit codes, decided by the class of the exception that ended a command (one table).

The README's "Exit codes" table is this one; tests/core/test_exit_codes.py holds them together.
"""

from __future__ import annotations

from ..errors import CancelledError, ConfigError, InvalidScoreError, MMRealSRError, ModelNotFoundError, UsageError

EXIT_OK = 0
"""Everything asked for was done."""
EXIT_PARTIAL = 1
"""Some inputs of a batch failed; the others were written (returned by batch commands, not raised)."""
EXIT_USAGE = 2
"""The command as given cannot work: a bad flag or config value, an unknown model; nothing was started."""
EXIT_FAILED = 3
"""Nothing could be done: the model did not load, every input failed, a download or a write failed."""
EXIT_INTERRUPTED = 130
"""Stopped by the user (^C)."""

EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (KeyboardInterrupt, EXIT_INTERRUPTED),
    (CancelledError, EXIT_INTERRUPTED),
    (UsageError, EXIT_USAGE),
    (InvalidScoreError, EXIT_USAGE),
    (ConfigError, EXIT_USAGE),
    (ModelNotFoundError, EXIT_USAGE),
    (MMRealSRError, EXIT_FAILED),
    (ValueError, EXIT_USAGE),
    (OSError, EXIT_USAGE),
)
"""Exception class -> exit code. The first class of the exception's MRO that is listed decides, so a subclass
(``HubNotFoundError``, a ``ModelNotFoundError``) gets its own row's code before its base's. Python's own
``ValueError``/``OSError`` (a bad value, a file that exists and needs ``--overwrite``) are usage errors; an
exception of any other class is a bug and ends with Python's traceback."""


def exit_code(exc: BaseException) -> int | None:
    """The exit code for ``exc``, or None when no row of :data:`EXIT_CODES` covers it."""
    codes = dict(EXIT_CODES)
    return next((codes[cls] for cls in type(exc).__mro__ if cls in codes), None)
