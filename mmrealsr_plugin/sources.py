"""Where a model comes from: a model argument (a path, a registry name, a remote reference) -> a local file.

Local files and registry data are the core's own business; a remote model (a Hub reference, a registry entry
with a ``repo_id``) is fetched by whichever plugin answers :func:`~mmrealsr_plugin.hookspecs.mmrealsr_resolve_source`
(the Hub plugin), so the core never imports the Hub package and works without it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pluggy

from . import settings
from .errors import ModelNotFoundError
from .integrity import verify_file
from .plugins import DISABLE_PLUGINS_ENV, get_plugin_manager
from .registry import ModelLocation, RegistryEntry, load_registry
from .suffixes import MODEL_FILE_SUFFIXES

HUB_SCHEME = "hf://"
NO_FETCHER = (f"no installed plugin fetches remote models (the Hub plugin, mmrealsr_plugin.hub, is missing or "
              f"blocked by {DISABLE_PLUGINS_ENV})")


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


def fetch_remote(source: str | RegistryEntry, *, local_dir: str | Path | None = None, progress: Any | None = None,
                 manager: pluggy.PluginManager | None = None) -> Path:
    """The verified local file of a remote model, fetched by the plugin that knows the source (the Hub plugin).

    Registry entries without a ``repo_id`` (official GitHub releases) are fetched by nobody: the error says
    where to put a manually downloaded copy. ``local_dir`` and ``progress`` are passed to the plugin (a host's
    models folder and its progress bar class).
    """
    if isinstance(source, RegistryEntry) and not source.repo_id:
        where = Path(settings.models_dir()) / (source.filename or f"{source.name}.pth")
        fetch = f"download {source.url} and save it as {where}" if source.url else f"save its file as {where}"
        raise ModelNotFoundError(
            f"model {source.name!r} is not on the Hugging Face Hub and not found locally: {fetch} "
            f"(set {settings.HOME_ENV} to move that folder), or pass the file's path"
        )
    folder = Path(local_dir) if local_dir is not None else None
    path = (manager or get_plugin_manager()).hook.mmrealsr_resolve_source(source=source, local_dir=folder,
                                                                           progress=progress)
    if path is None:
        what = f"model {source.name!r}" if isinstance(source, RegistryEntry) else repr(source)
        raise ModelNotFoundError(f"{what} is a remote model, but {NO_FETCHER}")
    return Path(path)


def resolve_model(source: str | Path | None, manager: pluggy.PluginManager | None = None) -> tuple[Path, str | None]:
    """Turn a model argument into a local weights file and, when it was a name, that name.

    Order: None -> the default model; an existing path; a registry name; a missing path (an error, see
    :func:`looks_like_path`); a remote (Hub) reference.
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
        if entry.base is not None:
            return _assembled(entry, manager), text
        local = entry.verified_local()
        return (local if local is not None else fetch_remote(entry, manager=manager)), text
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
        return fetch_remote(text, manager=manager), None
    names = ", ".join(sorted(registry.entries)) or "none"
    raise ModelNotFoundError(
        f"model {text!r} is neither an existing file, a registry name ({names}) nor a Hub reference "
        "(hf://ORG/REPO/FILE[@REVISION])"
    )


def _assembled(entry: RegistryEntry, manager: pluggy.PluginManager | None) -> Path:
    """The whole file of an overlay entry: assembled once from its base model and packaged overlay, then verified
    on every use like any pinned file (a bad copy is deleted, so the next use assembles it again)."""
    target = entry.assembled_path()
    if not target.is_file():
        overlay = entry.packaged_path()
        if overlay is None or not overlay.is_file():
            raise ModelNotFoundError(f"model {entry.name!r}: packaged overlay {overlay} is missing; reinstall "
                                     "mmrealsr-plugin")
        from .overlay import assemble_overlay  # reads tensors: torch, which listing models must not import

        base, _ = resolve_model(entry.base, manager)
        target.parent.mkdir(parents=True, exist_ok=True)
        assemble_overlay(base, overlay, target)
    verify_file(target, str(entry.sha256).lower(), f"model {entry.name!r}")
    return target


def locate(entry: RegistryEntry, manager: pluggy.PluginManager | None = None) -> ModelLocation:
    """Where a registry model is on this machine and how to get it; never touches the network."""
    if entry.base is not None:
        target = entry.assembled_path()
        return ModelLocation("packaged", str(target) if target.is_file() else None,
                             f"assembled on first use from {entry.base!r} and {entry.file} into {target}")
    packaged = entry.packaged_path()
    if packaged is not None:
        if packaged.is_file():
            return ModelLocation("packaged", str(packaged), "")
        return ModelLocation("missing", None, "reinstall mmrealsr-plugin")
    local = entry.find_local()
    if local is not None:
        return ModelLocation("local", str(local), "")
    if entry.repo_id:
        found = (manager or get_plugin_manager()).hook.mmrealsr_locate_source(entry=entry)
        return found if found is not None else ModelLocation("remote", None, NO_FETCHER)
    target = entry.local_candidates()[-1]
    source = f"download {entry.url} and " if entry.url else ""
    return ModelLocation("manual", None, f"{source}save it as {target}")
