"""Read weights files without executing code: safetensors, or ``torch.load(weights_only=True)``."""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .archs.mmrealsr import MMRealSR, MMRealSRConfig, fitted_network
from .errors import ModelLoadError, ModelNotFoundError
from .suffixes import PICKLE_SUFFIXES, SAFETENSORS_SUFFIXES, WEIGHT_SUFFIXES


CONTAINER_KEYS = ("params_ema", "params", "state_dict", "model_state_dict", "model", "net_g")
"""Checked in this order: the EMA weights of a BasicSR checkpoint are the ones meant for inference."""

CONFIG_METADATA_KEY = "mmrealsr_config"
"""Safetensors metadata entry holding the architecture as JSON (written by this project)."""

ZIP_MAGIC = b"PK\x03\x04"
"""How every ``torch.save`` file since PyTorch 1.6 starts."""
PICKLE_PROTOCOL_OPCODE = b"\x80"
"""How a legacy (pre-zip) torch checkpoint starts: a pickle PROTO opcode."""


@dataclass(frozen=True)
class StateDict:
    """A state dict as read from a file, with where it came from inside the container."""

    tensors: dict[str, torch.Tensor]
    container_key: str | None
    """``params_ema``, ``params`` ... or None for a bare state dict."""
    metadata: dict[str, str] = field(default_factory=dict)


def _is_tensor_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and bool(obj) and all(isinstance(v, torch.Tensor) for v in obj.values())


def unwrap(obj: Any, source: str) -> tuple[dict[str, torch.Tensor], str | None]:
    """Find the state dict inside a checkpoint container and strip DataParallel ``module.`` prefixes."""
    if not isinstance(obj, Mapping):
        raise ModelLoadError(f"{source}: expected a state dict (a mapping of names to tensors), got {type(obj).__name__}")
    key: str | None = None
    if not _is_tensor_dict(obj):
        for candidate in CONTAINER_KEYS:
            if _is_tensor_dict(obj.get(candidate)):
                key, obj = candidate, obj[candidate]
                break
        else:
            raise ModelLoadError(
                f"{source}: no state dict found; top-level keys are {sorted(map(str, obj))[:10]}, expected tensors "
                f"or one of the containers {list(CONTAINER_KEYS)}"
            )
    tensors = {str(k): v for k, v in obj.items()}
    if tensors and all(k.startswith("module.") for k in tensors):
        tensors = {k[len("module."):]: v for k, v in tensors.items()}
    return tensors, key


def read_state_dict(path: str | Path) -> StateDict:
    """Read ``path`` (.safetensors first-class; .pth/.pt/.ckpt/.bin through ``weights_only``)."""
    path = Path(path)
    if not path.is_file():
        raise ModelNotFoundError(f"weights file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix in SAFETENSORS_SUFFIXES:
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as handle:
                metadata = dict(handle.metadata() or {})
                tensors = {k: handle.get_tensor(k) for k in handle.keys()}
        except Exception as exc:  # safetensors raises its own error types for corrupt headers
            raise ModelLoadError(f"{path}: not a readable safetensors file ({exc})") from exc
        tensors, _ = unwrap(tensors, str(path)) if tensors else (tensors, None)
        return StateDict(tensors, None, metadata)
    if suffix in PICKLE_SUFFIXES:
        with path.open("rb") as handle:
            magic = handle.read(4)
        if not (magic.startswith(ZIP_MAGIC) or magic[:1] == PICKLE_PROTOCOL_OPCODE):
            raise ModelLoadError(
                f"{path}: not a PyTorch checkpoint (it is neither a zip archive nor a pickle; first bytes "
                f"{magic.hex() or 'none: the file is empty'}); the file may be truncated, corrupt or of another kind"
            )
        try:
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            raise ModelLoadError(
                f"{path}: refused to load: the file needs arbitrary code to unpickle ({exc}). Only plain tensor "
                "checkpoints are loaded; convert it to .safetensors in a trusted environment."
            ) from exc
        except Exception as exc:
            raise ModelLoadError(f"{path}: not a readable PyTorch checkpoint ({exc})") from exc
        tensors, key = unwrap(obj, str(path))
        return StateDict(tensors, key)
    raise ModelLoadError(f"{path}: unsupported weights file type {suffix!r}; expected one of {list(WEIGHT_SUFFIXES)}")


def config_from_metadata(metadata: Mapping[str, str]) -> dict[str, Any] | None:
    """The architecture stored in a safetensors header, if any; malformed JSON is a :class:`ModelLoadError`.

    The message does not name the file: callers prefix it.
    """
    raw = metadata.get(CONFIG_METADATA_KEY)
    if not raw:
        return None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ModelLoadError(f"its metadata {CONFIG_METADATA_KEY} is not valid JSON ({exc}); remove or rewrite it "
                             "(`mmrealsr convert` writes it from the tensors)") from None
    if not isinstance(data, dict):
        raise ModelLoadError(f"its metadata {CONFIG_METADATA_KEY} must be a JSON object, got {type(data).__name__}")
    return data


def checked_network(state: StateDict, source: str) -> MMRealSR:
    """The network of a state dict read from ``source``, on the meta device, every tensor checked to fit it.

    The tensors decide; the stored metadata only adds the estimator's strides (see
    :func:`fitted_network`). Errors name ``source``.
    """
    try:
        return fitted_network(state.tensors, config_from_metadata(state.metadata))
    except ModelLoadError as exc:
        raise type(exc)(f"{source}: {exc}") from None


def network_from_state(state: StateDict, source: str) -> MMRealSR:
    """The one way a network is built from weights: checked (:func:`checked_network`), then given the tensors.

    The network is made on the meta device and takes the state's tensors (as float32) as its parameters, so
    nothing is allocated beyond the tensors already read and no random init is spent. Returned in eval mode
    without gradients; a trainer turns both back on.
    """
    network = checked_network(state, source)
    tensors = {k: v.float() if v.is_floating_point() else v for k, v in state.tensors.items()}
    network.load_state_dict(tensors, strict=True, assign=True)
    return network.eval().requires_grad_(False)


def read_network(path: str | Path) -> MMRealSR:
    """The network stored in the weights file ``path`` (see :func:`read_state_dict`, :func:`network_from_state`)."""
    return network_from_state(read_state_dict(path), str(path))


def architecture_of(state: StateDict, source: str) -> MMRealSRConfig:
    """The checked architecture of a state dict read from ``source`` (see :func:`checked_network`)."""
    return checked_network(state, source).config


def save_safetensors(
    tensors: Mapping[str, torch.Tensor],
    path: str | Path,
    config: Mapping[str, Any] | None = None,
    metadata: Mapping[str, str] | None = None,
    dtype: torch.dtype | None = None,
) -> Path:
    """Write a state dict atomically as safetensors, with the architecture config in its metadata."""
    from safetensors.torch import save_file

    from .atomic import atomic_path

    meta = dict(metadata or {})
    if config is not None:
        meta[CONFIG_METADATA_KEY] = json.dumps(dict(config), sort_keys=True)
    prepared = {
        k: (v.to(dtype) if dtype is not None and v.is_floating_point() else v).detach().cpu().contiguous()
        for k, v in tensors.items()
    }
    with atomic_path(path) as tmp:
        mode = os.stat(tmp).st_mode & 0o777  # what atomic_path created: 0666 less the umask
        save_file(prepared, str(tmp), metadata=meta)
        os.chmod(tmp, mode)  # safetensors writes through a private (0600) temporary file of its own
    return Path(path)
