"""Hub references: the compact strings users type to name one weights file in one Hub repository.

Accepted forms (REVISION is a branch, a tag or a 40-hex commit; without it, ``main``):

- ``hf://ORG/REPO/PATH/IN/REPO.safetensors@REVISION``
- ``hf://ORG/REPO@REVISION`` (the file is ``model.safetensors``)
- ``ORG/REPO:PATH/IN/REPO.safetensors@REVISION``
- ``ORG/REPO`` or ``ORG/REPO@REVISION`` (the file is ``model.safetensors``)

Only a 40-hex commit is a reproducible pin: branches and tags can move.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from mmrealsr_plugin.errors import ModelNotFoundError
from mmrealsr_plugin.registry import RegistryEntry

DEFAULT_FILENAME = "model.safetensors"
SCHEME = "hf://"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")

FORMS = "hf://ORG/REPO[/PATH/IN/REPO][@REVISION] or ORG/REPO[:PATH/IN/REPO][@REVISION]"


@dataclass(frozen=True)
class HubReference:
    """One file in one Hub model repository, optionally pinned to a revision and a sha256."""

    repo_id: str
    filename: str = DEFAULT_FILENAME
    revision: str | None = None
    """None means ``main``."""
    sha256: str | None = None
    """Expected sha256 of the file (from the registry); None trusts the Hub's LFS etag."""
    name: str | None = None
    """Registry name, for messages."""

    def __str__(self) -> str:
        return f"{SCHEME}{self.repo_id}/{self.filename}" + (f"@{self.revision}" if self.revision else "")

    def local_folder(self) -> Path:
        """``ORG/REPO@REVISION`` (the revision %-quoted): where a download into a host's folder puts this file.

        Each repository and revision gets its own folder, so two repos' ``model.safetensors`` never share a
        name and a user's own files beside them are never touched. ``@`` cannot occur in repo names.
        """
        org, repo = self.repo_id.split("/")
        return Path(org) / f"{repo}@{quote(self.revision or 'main', safe='')}"

    @property
    def is_pinned(self) -> bool:
        """True when the revision is a commit sha, the only pin that cannot move."""
        return bool(self.revision and _COMMIT.match(self.revision))


def _check(text: str, repo_id: str, filename: str, revision: str | None) -> None:
    parts = repo_id.split("/")
    if len(parts) != 2 or not all(_NAME.match(p) for p in parts) or any(".." in p for p in parts):
        raise ModelNotFoundError(f"Hub reference {text!r}: {repo_id!r} is not ORG/REPO; expected {FORMS}")
    if not filename or filename.startswith("/") or ".." in filename.split("/"):
        raise ModelNotFoundError(f"Hub reference {text!r}: bad file path {filename!r} in the repository")
    if revision is not None and (not revision or revision.startswith("/") or ".." in revision):
        raise ModelNotFoundError(f"Hub reference {text!r}: bad revision {revision!r}")


def parse_reference(text: str) -> HubReference:
    """Parse one of the documented forms; anything else is a clear :class:`ModelNotFoundError`."""
    raw = text.strip()
    body = raw[len(SCHEME):] if raw.startswith(SCHEME) else raw
    revision = None
    if "@" in body:
        body, revision = body.rsplit("@", 1)
    if raw.startswith(SCHEME):
        parts = body.split("/")
        repo_id, filename = "/".join(parts[:2]), "/".join(parts[2:]) or DEFAULT_FILENAME
    elif ":" in body:
        repo_id, filename = body.split(":", 1)
    else:
        repo_id, filename = body, DEFAULT_FILENAME
    _check(text, repo_id, filename, revision)
    return HubReference(repo_id, filename, revision)


def from_entry(entry: RegistryEntry) -> HubReference:
    """A registry entry with a ``repo_id``; its ``sha256`` becomes the pin checked after download."""
    if not entry.repo_id:
        raise ModelNotFoundError(f"model {entry.name!r} has no repo_id: it is not hosted on the Hub")
    sha = entry.sha256.lower() if entry.sha256 else None
    if sha is not None and not _SHA256.match(sha):
        raise ValueError(f"model {entry.name!r}: sha256 {entry.sha256!r} is not 64 hex digits")
    filename = entry.filename or DEFAULT_FILENAME
    _check(entry.name, entry.repo_id, filename, entry.revision)
    return HubReference(entry.repo_id, filename, entry.revision, sha, entry.name)


def as_reference(source: str | RegistryEntry | HubReference) -> HubReference:
    if isinstance(source, HubReference):
        return source
    if isinstance(source, RegistryEntry):
        return from_entry(source)
    return parse_reference(str(source))
