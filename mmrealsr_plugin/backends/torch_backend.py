"""The PyTorch backend plugin: weights files (and networks already in memory) -> a :class:`TorchRunner`.

torch is imported only when a model is loaded, so the plugin manager (and ``mmrealsr --help``) starts without it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..hookspecs import hookimpl
from ..suffixes import WEIGHT_SUFFIXES
from ..types import LoadedModel, LoadOptions, ModelDescriptor

NAME = "torch"


@hookimpl
def mmrealsr_backend_names() -> list[str]:
    return [NAME]


@hookimpl
def mmrealsr_load_model(source: Path | Any, options: LoadOptions) -> LoadedModel | None:
    if options.backend not in (None, NAME):
        return None
    if isinstance(source, Path) and source.suffix.lower() not in WEIGHT_SUFFIXES:
        return None
    from .torch_runner import TorchRunner

    if isinstance(source, Path):
        from ..integrity import sha256_of
        from ..weights import network_from_state, read_state_dict

        state = read_state_dict(source)
        network = network_from_state(state, str(source))
        descriptor = ModelDescriptor(network.config, str(source), sha256_of(source), state.container_key)
    else:  # an MMRealSR network in memory: run as it is (moved and cast in place)
        network = source
        descriptor = ModelDescriptor(network.config, f"<in-memory {type(network).__name__}>", "")
    return LoadedModel(descriptor, TorchRunner(network, options.device, options.precision))
