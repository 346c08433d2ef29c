"""Atomic file writes: write beside the target, fsync, then rename, so no half-written file is ever visible."""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import MMRealSRError, OutputError

_NAME_TRIES = 100


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def writable_folder(folder: str | Path, what: str = "output folder") -> Path:
    """Create ``folder`` if needed and prove that a file can be created in it; else :class:`OutputError`.

    Called before any work starts, so a run never computes for minutes and then fails to save. A real
    probe file is written: permission bits say nothing for root or on read-only mounts.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(f"{what} {folder} is not a folder (a file of that name exists); choose another") from None
    except OSError as exc:
        raise OutputError(f"{what} {folder} cannot be created: {_reason(exc)}; choose another") from exc
    try:
        fd, probe = tempfile.mkstemp(prefix=".mmrealsr-write-test-", dir=folder)
    except OSError as exc:
        raise OutputError(f"{what} {folder} is not writable: {_reason(exc)}; choose another") from exc
    os.close(fd)
    os.unlink(probe)
    return folder


@contextlib.contextmanager
def atomic_path(target: str | Path, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success it replaces ``target``.

    On any exception the temporary file is removed and ``target`` is left as it was. With
    ``overwrite=False`` an existing target is an error (checked again at rename time). A failed
    write (disk full, read-only folder) is an :class:`OutputError` naming ``target``, never the
    temporary name.
    """
    target = Path(target)
    if not overwrite and target.exists():
        raise FileExistsError(f"{target} already exists; refusing to overwrite it")
    tmp: Path | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = _create_beside(target)
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        if overwrite:
            os.replace(tmp, target)
        else:
            try:
                os.link(tmp, target)  # fails if target appeared meanwhile
            except FileExistsError:
                raise FileExistsError(f"{target} already exists; refusing to overwrite it") from None
            tmp.unlink()
    except BaseException as exc:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        if _is_write_failure(exc, tmp, target):
            raise OutputError(f"cannot write {target}: {_reason(exc)}") from exc  # type: ignore[arg-type]
        raise


def _create_beside(target: Path) -> Path:
    """A new empty hidden file next to ``target``, created with the mode ``open()`` gives (0666 less the umask).

    The kernel applies the umask at creation, so the process's umask is never read or changed (``mkstemp``
    would create 0600 and a later chmod would need the umask).
    """
    for _ in range(_NAME_TRIES):
        path = target.parent / f".{target.name}.{secrets.token_hex(4)}.part{target.suffix}"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return path
    raise FileExistsError(f"no free temporary name next to {target} after {_NAME_TRIES} tries")


def _is_write_failure(exc: BaseException, tmp: Path | None, target: Path) -> bool:
    """An OS error of the write itself (not one the caller's own code raised about some other file)."""
    if not isinstance(exc, OSError) or isinstance(exc, MMRealSRError):
        return False
    if isinstance(exc, FileExistsError) and exc.filename is None:
        return False  # our own "already exists" refusal (the OS always names the file)
    if exc.filename is None:
        return True
    named = Path(os.fsdecode(exc.filename))
    return named in (tmp, target) or named in target.parents
