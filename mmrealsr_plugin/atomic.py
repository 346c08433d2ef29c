"""Atomic file writes: write beside the target, fsync, then rename, so no half-written file is ever visible."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()  # read once, at import, while nothing else runs


@contextlib.contextmanager
def atomic_path(target: str | Path, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success it replaces ``target``.

    On any exception the temporary file is removed and ``target`` is left as it was. With
    ``overwrite=False`` an existing target is an error (checked again at rename time).
    """
    target = Path(target)
    if not overwrite and target.exists():
        raise FileExistsError(f"{target} already exists; refusing to overwrite it")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part" + target.suffix, dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the file the mode open() would
        if overwrite:
            os.replace(tmp, target)
        else:
            os.link(tmp, target)  # fails if target appeared meanwhile
            tmp.unlink()
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
