"""The model registry: named models (packaged, Hub-hosted or official releases) read from TOML data."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path

from . import settings
from .errors import ModelNotFoundError
from .weights import WEIGHT_SUFFIXES

PACKAGE_WEIGHTS = "weights"


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
            from .hub.integrity import verify_file

            verify_file(path, self.sha256.lower(), f"model {self.name!r}", delete=False, remedy=remedy)
        return path


@dataclass(frozen=True)
class Registry:
    entries: dict[str, RegistryEntry]
    default: str | None


def _entries_from(data: dict, origin: str) -> dict[str, RegistryEntry]:
    """Registry entries of one TOML document; every field is text, anything else is an error naming it."""
    known = {f.name for f in fields(RegistryEntry)} - {"name"}
    models = data.get("models", {})
    if not isinstance(models, dict):
        raise ValueError(f"{origin}: 'models' must be a table of [models.NAME] entries, got {models!r}")
    if not isinstance(data.get("default", ""), str):
        raise ValueError(f"{origin}: 'default' must be a model name in quotes, got {data['default']!r}")
    entries = {}
    for name, raw in models.items():
        if not isinstance(raw, dict):
            raise ValueError(f"{origin}: models.{name} must be a table ([models.{name}]), got {raw!r}")
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"{origin}: model {name!r} has unknown fields {unknown}; known fields: {sorted(known)}")
        for key, value in raw.items():
            if not isinstance(value, str):
                raise ValueError(f"{origin}: models.{name}.{key} must be text in quotes, got {value!r}")
        entries[name] = RegistryEntry(name=name, **raw)
    return entries


def load_registry() -> Registry:
    """The packaged registry, extended (and overridden by name) by the user's file if set."""
    packaged = tomllib.loads((resources.files("mmrealsr_plugin") / "models.toml").read_text("utf-8"))
    entries = _entries_from(packaged, "mmrealsr_plugin/models.toml")
    default = packaged.get("default")
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
            raise ValueError(f"{user_file}: invalid TOML ({exc})") from exc
        entries.update(_entries_from(user, user_file))
        default = user.get("default", default)
    return Registry(entries, default)


HUB_SCHEME = "hf://"
MODEL_FILE_SUFFIXES = (*WEIGHT_SUFFIXES, ".onnx", ".param")


def looks_like_path(text: str) -> bool:
    """Whether a model argument names a local file rather than a Hub repository.

    It does when it starts like a path (``./``, ``../``, ``/``, ``~``), when its folder exists here,
    or, unless it is an ``ORG/REPO:FILE`` reference, when it ends in a model file suffix. Such an
    argument that names no file is a missing file, never a Hub lookup.
    """
    if text.startswith(HUB_SCHEME):
        return False
    if text.startswith((".", "/", "~", "\\")):
        return True
    path = Path(text).expanduser()
    if len(path.parts) > 1 and path.parent.is_dir():
        return True
    return ":" not in text and path.suffix.lower() in MODEL_FILE_SUFFIXES


def _could_be_repo(text: str) -> bool:
    return text.count("/") == 1 and not Path(text).suffix and not text.startswith((".", "/", "~"))


def resolve_model(source: str | Path | None) -> tuple[Path, str | None]:
    """Turn a model argument into a local weights file and, when it was a name, that name.

    Order: None -> the default model; an existing path; a registry name; a missing path (an error, see
    :func:`looks_like_path`); a Hub reference.
    """
    registry = load_registry()
    if source is None:
        if registry.default is None:
            raise ModelNotFoundError(
                "no default model is configured yet: pass a model (a .safetensors/.pth path, a registry name from "
                "`mmrealsr models`, or a Hub reference hf://ORG/REPO/FILE[@REVISION])"
            )
        source = registry.default
    text = str(source)
    path = Path(text).expanduser()
    if path.is_file():
        return path, None
    entry = registry.entries.get(text)
    if entry is not None:
        local = entry.verified_local()
        if local is not None:
            return local, text
        from .hub import resolve_remote

        return resolve_remote(entry), text
    if path.is_dir():
        inside = path / "model.safetensors"
        hint = f"; did you mean {inside}?" if inside.is_file() else ""
        raise ModelNotFoundError(f"model {text!r} is a folder, not a weights file{hint}")
    if looks_like_path(text):
        hint = f"; for the Hub repository of that name write hf://{text}" if _could_be_repo(text) else ""
        raise ModelNotFoundError(
            f"model {text!r} does not exist: no such file (looked for {path.absolute()}); check the path{hint}"
        )
    if text.startswith(HUB_SCHEME) or "/" in text:
        from .hub import resolve_remote

        return resolve_remote(text), None
    names = ", ".join(sorted(registry.entries)) or "none"
    raise ModelNotFoundError(
        f"model {text!r} is neither an existing file, a registry name ({names}) nor a Hub reference "
        "(hf://ORG/REPO/FILE[@REVISION])"
    )
