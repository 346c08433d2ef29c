"""The one file hasher and the content check of model files.

A model file is checked against a digest before use: a sha256 pinned in the registry (packaged and
manually downloaded files, and Hub downloads); the Hub plugin also passes the etag recorded when a file
was downloaded (sha256 for LFS files, git blob sha1 for small regular files), since the Hub client
checks only sizes and a same-size corruption passes it.

Hashing a large file on every use would cost seconds, so each digest computed is remembered in the
user cache folder, keyed by the file's path, size, mtime, ctime and inode. Any write changes mtime
and ctime (and ctime cannot be set back), so a changed file is always hashed again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from . import settings
from .atomic import atomic_path
from .errors import IntegrityError

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_SHA1 = re.compile(r"^[0-9a-f]{40}$")


def digest_kind(expected: str) -> str | None:
    """``sha256`` or ``git-sha1`` for a digest string we can check; None otherwise."""
    if _SHA256.match(expected):
        return "sha256"
    if _SHA1.match(expected):
        return "git-sha1"
    return None


def _fingerprint(path: Path) -> dict[str, object]:
    stat = os.stat(path)
    return {"path": os.path.realpath(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
            "ctime_ns": stat.st_ctime_ns, "inode": stat.st_ino, "device": stat.st_dev}


def _verdict_file(path: Path) -> Path:
    key = hashlib.sha256(os.fsencode(os.path.realpath(path))).hexdigest()[:32]
    return settings.cache_dir() / "verified" / f"{key}.json"


def _remembered(path: Path, kind: str, fingerprint: dict[str, object]) -> str | None:
    try:
        record = json.loads(_verdict_file(path).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("file") != fingerprint:
        return None
    digest = record.get("digests", {}).get(kind)
    return digest if isinstance(digest, str) else None


def _remember(path: Path, kind: str, digest: str, fingerprint: dict[str, object]) -> None:
    """Store a digest for this exact file state; a cache that cannot be written only costs a re-hash later."""
    try:
        with atomic_path(_verdict_file(path)) as tmp:
            tmp.write_text(json.dumps({"file": fingerprint, "digests": {kind: digest}}), "utf-8")
    except OSError:
        pass


def file_digest(path: Path, kind: str = "sha256", chunk: int = 1 << 20) -> str:
    """sha256 of the content, or the git blob sha1 (``blob <size>\\0`` + content) for regular Hub files."""
    if kind == "sha256":
        digest = hashlib.sha256()
    else:
        digest = hashlib.sha1(b"blob %d\0" % path.stat().st_size)
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def sha256_of(path: str | Path) -> str:
    """The sha256 of a file's content (hex)."""
    return file_digest(Path(path), "sha256")


def remove_bad_file(path: Path) -> list[Path]:
    """Delete a file and, when it is a cache link, the blob behind it; returns what was deleted."""
    removed = []
    real = Path(os.path.realpath(path))
    for victim in dict.fromkeys([real, Path(path)]):
        if victim.is_symlink() or victim.exists():
            victim.unlink()
            removed.append(victim)
    return removed


def verify_file(path: Path, expected: str, what: str, delete: bool = True, remedy: str | None = None) -> None:
    """Raise :class:`IntegrityError` (after deleting the file when ``delete``) if ``path`` does not hash to ``expected``.

    A digest computed earlier for the same file state (see the module docstring) is reused.
    ``remedy`` replaces the default advice for a file that is kept.
    """
    kind = digest_kind(expected)
    if kind is None:
        raise ValueError(f"{what}: cannot check against {expected!r}; expected a sha256 or git sha1 hex digest")
    fingerprint = _fingerprint(path)
    actual = _remembered(path, kind, fingerprint)
    if actual is None:
        actual = file_digest(path, kind)
        if actual == expected:
            _remember(path, kind, actual, fingerprint)
    if actual == expected:
        return
    if delete:
        removed = remove_bad_file(path)
        action = "deleted " + ", ".join(str(p) for p in removed) + "; run the same command again to download it afresh"
    else:
        action = f"the file was left in place: {remedy or f'replace {path} with a good copy'}"
    raise IntegrityError(
        f"{what}: {kind} of {path} is {actual}, expected {expected} (corrupted or tampered file); {action}"
    )
