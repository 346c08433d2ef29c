"""The public plugin contract: every hook a plugin may implement, with its arguments and its answer.

Plugins are plain modules or objects implementing some of these hooks. The backends, the core's own CLI
commands, the Hub, training and GIMP plugins are registered like third-party ones (see
:mod:`mmrealsr_plugin.plugins`), which register under the ``mmrealsr`` entry-point group. A ``firstresult`` hook
asks one question: implementations return None for requests that are not theirs (another backend's name, a file
type they do not read) and the first non-None answer is the answer. The other hooks are called on every plugin
(their answers, if any, are collected into a list). A plugin module imports nothing heavy (torch, onnxruntime,
huggingface_hub) at import time: the plugin manager imports every plugin to start ``mmrealsr --help``.

Arrays are numpy float32, channels first, values in [0, 1].
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from .cli.commands import Commands
    from .registry import ModelLocation, RegistryEntry
    from .types import LoadedModel, LoadOptions

PROJECT = "mmrealsr"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def mmrealsr_backend_names() -> list[str]:
    """Names of the backends this plugin provides (e.g. ``["torch"]``).

    Not firstresult: the answers of every plugin are collected (a list of lists), for messages and for
    refusing an unknown ``backend=`` early.
    """
    raise NotImplementedError


@hookspec(firstresult=True)
def mmrealsr_load_model(source: Path | Any, options: LoadOptions) -> LoadedModel | None:
    """Load a model for running: its descriptor and the backend's :class:`~mmrealsr_plugin.types.Runner`.

    The runner only runs one tile and estimates scores on its device; the engine does everything else
    (padding, tiling, blending, the non-finite check and float32 retry, the out-of-memory retry), identically
    for every backend.

    :param source: a local file (names and Hub references are resolved before this hook), or an
        :class:`~mmrealsr_plugin.archs.mmrealsr.MMRealSR` network already in memory.
    :param options: backend, device and precision; return None when ``options.backend`` names
        another backend or the source is not one you load.
    :returns: the loaded model. firstresult: the first non-None answer is used.
    """
    raise NotImplementedError


@hookspec
def mmrealsr_add_commands(commands: Commands) -> None:
    """Add this plugin's subcommands to the ``mmrealsr`` command line, by name (as pytest plugins add options).

    Call ``commands.add(name, help, module)``: ``module`` is imported, and its ``register(subparsers)`` called,
    only when that command runs, so ``mmrealsr --help`` imports none of them. Not firstresult: every plugin is
    called.
    """


@hookspec(firstresult=True)
def mmrealsr_resolve_source(source: str | RegistryEntry, local_dir: Path | None, progress: Any | None) -> Path | None:
    """Fetch a remote model (a Hub reference such as ``hf://ORG/REPO/FILE``, or a registry entry with a
    ``repo_id``) and return its verified local file.

    :param local_dir: a host's own models folder to download into instead of a shared cache (None: the cache).
    :param progress: a tqdm-compatible class a host shows download progress with (None: the plugin's default).
    :returns: the local path, or None when the source is not one this plugin fetches. firstresult: the first
        non-None answer is used; failures are raised as :class:`~mmrealsr_plugin.errors.HubError` subclasses.
    """


@hookspec(firstresult=True)
def mmrealsr_locate_source(entry: RegistryEntry) -> ModelLocation | None:
    """Where a remote registry model is on this machine, without any network access (for ``mmrealsr models``).

    :returns: a :class:`~mmrealsr_plugin.registry.ModelLocation` (``cached`` with its path, or ``remote`` with
        how it will be fetched), or None when the entry is not one this plugin fetches. firstresult: the first
        non-None answer is used.
    """


@hookspec(firstresult=True)
def mmrealsr_publish(weights: Path, repo_id: str, card: Mapping[str, Any], metrics: Mapping[str, Any],
                     private: bool, commit_message: str) -> str | None:
    """Publish trained weights with a model card (the trainer's ``hub.repo`` / ``--push-to-hub``).

    :returns: the URL of what was published, or None when ``repo_id`` is not a destination of this plugin.
        firstresult: the first non-None answer is used; failures are raised as
        :class:`~mmrealsr_plugin.errors.HubError` subclasses, and local files are never changed.
    """
