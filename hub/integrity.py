"""Content checks for downloaded files: the Hub client checks only sizes, so a same-size corruption passes it.

The expected digest is, in order: a sha256 pinned in the registry; else the blob name in the
Hugging Face cache, which is the file's etag (sha256 for LFS files, git blob sha1 for small
regular files); else the etag the server reports (for ``local_dir`` downloads).
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from ..errors import IntegrityError

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_SHA1 = re.compile(r"^[0-9a-f]{40}$")


def digest_kind(expected: str) -> str | None:
    """``sha256`` or ``git-sha1`` for a digest string we can check; None otherwise."""
    if _SHA256.match(expected):
        return "sha256"
    if _SHA1.match(expected):
        return "git-sha1"
    return None


def file_digest(path: Path, kind: str, chunk: int = 1 << 20) -> str:
    """sha256 of the content, or the git blob sha1 (``blob <size>\\0`` + content) for regular Hub files."""
    if kind == "sha256":
        digest = hashlib.sha256()
    else:
        digest = hashlib.sha1(b"blob %d\0" % path.stat().st_size)
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def cache_etag(path: Path) -> str | None:
    """The etag a cached snapshot file was stored under (the name of the blob its link points to)."""
    name = Path(os.path.realpath(path)).name
    return name if digest_kind(name) else None


def remove_bad_file(path: Path) -> list[Path]:
    """Delete a file and, when it is a cache link, the blob behind it; returns what was deleted."""
    removed = []
    real = Path(os.path.realpath(path))
    for victim in dict.fromkeys([real, Path(path)]):
        if victim.is_symlink() or victim.exists():
            victim.unlink()
            removed.append(victim)
    return removed


def verify_file(path: Path, expected: str, what: str, delete: bool = True) -> None:
    """Raise :class:`IntegrityError` (after deleting the file when ``delete``) if ``path`` does not hash to ``expected``."""
    kind = digest_kind(expected)
    if kind is None:
        raise ValueError(f"{what}: cannot check against {expected!r}; expected a sha256 or git sha1 hex digest")
    actual = file_digest(path, kind)
    if actual == expected:
        return
    if delete:
        removed = remove_bad_file(path)
        action = "deleted " + ", ".join(str(p) for p in removed) + "; run the same command again to download it afresh"
    else:
        action = f"the file was left in place: replace {path} with a good copy"
    raise IntegrityError(
        f"{what}: {kind} of {path} is {actual}, expected {expected} (corrupted or tampered file); {action}"
    )
