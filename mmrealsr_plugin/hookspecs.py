"""The public plugin contract: every hook a plugin may implement, with its arguments and its answer.

Plugins are plain modules or objects implementing some of these hooks; the built-in backends are registered
like third-party ones (see :mod:`mmrealsr_plugin.plugins`), which register under the ``mmrealsr`` entry-point
group. A ``firstresult`` hook asks one question: implementations return None for requests that are not theirs
(another backend's name, a file type they do not read) and the first non-None answer is the answer. The other
hooks collect the answers of every plugin into a list.

Arrays are numpy float32, channels first, values in [0, 1].
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
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
