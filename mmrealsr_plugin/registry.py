"""The model registry: named models (packaged, Hub-hosted or official releases) read from TOML data.

Data only: which models exist and where a local copy is looked for. Turning a model argument into a file
(and fetching remote ones through a plugin) is :mod:`.sources`.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal, NamedTuple

from . import settings
from .dataconfig import from_dict
from .errors import ConfigError, ModelNotFoundError
from .integrity import verify_file

PACKAGE_WEIGHTS = "weights"


class ModelLocation(NamedTuple):
    """Where a registry model is on this machine (``mmrealsr models``), found without any network access."""

    status: Literal["packaged", "local", "cached", "remote", "manual", "missing"]
    path: str | None
    """The local file, when there is one."""
    how: str
    """How to get it, when it is not here."""


@dataclass(frozen=True)
class RegistryEntry:
    """One named model. Either ``file`` (shipped in the package) or a Hub ``repo_id`` locates it."""

    name: str
    description: str = ""
    file: str | None = None
    repo_id: str | None = None
    filename: str | None = None
    revision: str | None = None
    sha256: str | None = None
    url: str | None = None
    license: str | None = None
    source: str | None = None
    base: str | None = None
    """``file`` is an overlay on the registry model named here (:mod:`.overlay`): only the tensors that differ.
    The whole file is assembled into the models folder on first use and checked against ``sha256``."""

    def __post_init__(self) -> None:
        if self.base is not None and not (self.file and self.sha256):
            raise ValueError(f"model {self.name!r}: an entry with 'base' needs 'file' (the overlay) and 'sha256' "
                             "(of the whole file)")

    def packaged_path(self) -> Path | None:
        if not self.file:
            return None
        return Path(str(resources.files("mmrealsr_plugin") / PACKAGE_WEIGHTS / self.file))

    def local_candidates(self) -> list[Path]:
        """Where a manually downloaded copy is looked for, in order, in the models folder.

        ``<models dir>/<NAME>.safetensors``, ``<NAME>.pth``, and for entries not on the Hub also the
        release file name (``filename``). The models folder is ``$MMREALSR_HOME/models``.
        """
        folder = Path(settings.models_dir())
        names = [f"{self.name}.safetensors", f"{self.name}.pth"]
        if not self.repo_id and self.filename:
            names.append(Path(self.filename).name)
        return [folder / n for n in dict.fromkeys(names)]

    def find_local(self) -> Path | None:
        """The first existing manually downloaded copy, if any."""
        return next((p for p in self.local_candidates() if p.is_file()), None)

    def assembled_path(self) -> Path:
        """Where an overlay entry's whole file is assembled (the first of :meth:`local_candidates`)."""
        return self.local_candidates()[0]

    def verified_local(self) -> Path | None:
        """The packaged file, else a manually downloaded copy, checked against ``sha256`` when pinned.

        None when the model must come from the Hub. A mismatch is an ``IntegrityError``; the file is
        kept (it is not ours to delete) and the message says how to replace it.
        """
        packaged = self.packaged_path()
        if packaged is not None:
            if not packaged.is_file():
                raise ModelNotFoundError(f"model {self.name!r}: packaged file {packaged} is missing; "
                                         "reinstall mmrealsr-plugin")
            remedy = "reinstall mmrealsr-plugin (pip install --force-reinstall mmrealsr-plugin)"
            return self._verified(packaged, remedy)
        local = self.find_local()
        return None if local is None else self._verified(local, None)

    def _verified(self, path: Path, remedy: str | None) -> Path:
        if self.sha256:
            verify_file(path, self.sha256.lower(), f"model {self.name!r}", delete=False, remedy=remedy)
        return path


@dataclass(frozen=True)
class Registry:
    entries: dict[str, RegistryEntry]
    default: str | None


@dataclass(frozen=True)
class _Document:
    """A registry TOML file: ``default = "NAME"`` and one ``[models.NAME]`` table per entry."""

    default: str = ""
    models: dict[str, dict[str, Any]] = field(default_factory=dict)


def _entries_from(data: dict[str, Any], origin: str) -> tuple[dict[str, RegistryEntry], str]:
    """The entries and the default name ("" when not set) of one registry document, read strictly."""
    document = from_dict(_Document, data, label="registry", source=origin)
    entries = {name: from_dict(RegistryEntry, table, label="registry", prefix=f"models.{name}", source=origin,
                               given={"name": name})
               for name, table in document.models.items()}
    return entries, document.default


def load_registry() -> Registry:
    """The packaged registry, extended (and overridden by name) by the user's file if set."""
    packaged = tomllib.loads((resources.files("mmrealsr_plugin") / "models.toml").read_text("utf-8"))
    entries, default = _entries_from(packaged, "mmrealsr_plugin/models.toml")
    user_file = settings.user_models_file()
    if user_file:
        path = Path(user_file)
        try:
            user = tomllib.loads(path.read_text("utf-8"))
        except FileNotFoundError:
            raise ModelNotFoundError(
                f"{settings.MODELS_CONFIG_ENV}={user_file!r}: file not found; unset the variable or create the file"
            ) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{user_file}: invalid TOML ({exc})") from exc
        user_entries, user_default = _entries_from(user, user_file)
        entries.update(user_entries)
        default = user_default or default
    return Registry(entries, default or None)
