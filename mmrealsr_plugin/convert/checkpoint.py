"""The checkpoint layout of a model folder: ``model.safetensors`` (config in its metadata) plus ``config.json``.

It is the layout of a Hub model repository, but converting into it is local work (``mmrealsr convert``):
``convert_checkpoint`` turns any supported weights file into it: official ``.pth`` files (``params_ema``
preferred, then ``params``, bare, ``module.`` prefixes), safetensors, and Real-ESRGAN RRDBNet weights
(``.pth`` or ncnn ``.param`` + ``.bin``), which become an MM-RealSR initialisation (:mod:`.realesrgan_init`):
the trunk is copied, the modulation starts as the identity and the estimator is fresh, so it restores like the
source at any knob setting until trained.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from ..archs.mmrealsr import REQUIRED_KEYS, MMRealSRConfig
from ..atomic import atomic_path
from ..errors import ModelLoadError
from ..integrity import sha256_of
from ..weights import architecture_of, read_state_dict, save_safetensors
from .ncnn import read_ncnn_rrdb
from .realesrgan_init import mmrealsr_from_rrdb

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
MODEL_TYPE = "mmrealsr"


@dataclass(frozen=True)
class LoadedWeights:
    tensors: dict[str, torch.Tensor]
    config: MMRealSRConfig
    origin: str
    """``mmrealsr`` (an MM-RealSR file) or ``rrdb-init`` (built from an RRDBNet trunk)."""
    container_key: str | None


@dataclass(frozen=True)
class Checkpoint:
    weights: Path
    config_file: Path
    config: MMRealSRConfig


def config_json(config: MMRealSRConfig, provenance: dict | None = None) -> dict:
    """``config.json`` content: the architecture fields at top level, plus model type and provenance."""
    data = {"model_type": MODEL_TYPE, "architecture": "MMRealSR", **config.to_dict()}
    if provenance:
        data["provenance"] = provenance
    return data


def read_config_json(path: str | Path) -> MMRealSRConfig:
    """The architecture of a ``config.json`` written by :func:`config_json`."""
    data = json.loads(Path(path).read_text("utf-8"))
    if data.get("model_type") != MODEL_TYPE:
        raise ModelLoadError(f"{path}: model_type is {data.get('model_type')!r}, expected {MODEL_TYPE!r}")
    fields = set(MMRealSRConfig.__dataclass_fields__)
    return MMRealSRConfig.from_dict({k: v for k, v in data.items() if k in fields})


def _from_rrdb(rrdb: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], MMRealSRConfig]:
    """An MM-RealSR initialisation around a Real-ESRGAN RRDBNet trunk (see :mod:`.realesrgan_init`)."""
    model = mmrealsr_from_rrdb(rrdb)
    return model.state_dict(), model.config


def _read_ncnn(param: Path) -> dict[str, torch.Tensor]:
    bin_path = param.with_suffix(".bin")
    if not bin_path.is_file():
        raise ModelLoadError(f"{param}: the ncnn weights {bin_path} must sit beside the .param file")
    return read_ncnn_rrdb(param, bin_path)


def load_weights(path: str | Path) -> LoadedWeights:
    """Read any supported input into an MM-RealSR state dict and its architecture."""
    path = Path(path)
    if path.suffix.lower() == ".param":
        tensors, config = _from_rrdb(_read_ncnn(path))
        return LoadedWeights(tensors, config, "rrdb-init", None)
    state = read_state_dict(path)
    if all(k in state.tensors for k in REQUIRED_KEYS):
        return LoadedWeights(state.tensors, architecture_of(state, str(path)), MODEL_TYPE, state.container_key)
    tensors, config = _from_rrdb(state.tensors)
    return LoadedWeights(tensors, config, "rrdb-init", state.container_key)


def write_checkpoint(weights: LoadedWeights, output_dir: str | Path, provenance: dict) -> Checkpoint:
    """Write ``model.safetensors`` and ``config.json`` into ``output_dir`` (atomically, each)."""
    output_dir = Path(output_dir)
    meta = {"format": "pt", "origin": weights.origin}
    target = save_safetensors(weights.tensors, output_dir / WEIGHTS_NAME, config=weights.config.to_dict(), metadata=meta)
    config_path = output_dir / CONFIG_NAME
    with atomic_path(config_path) as tmp:
        tmp.write_text(json.dumps(config_json(weights.config, provenance), indent=2, sort_keys=True) + "\n", "utf-8")
    return Checkpoint(target, config_path, weights.config)


def convert_checkpoint(source: str | Path, output_dir: str | Path) -> Checkpoint:
    """Convert ``source`` into the Hub layout in ``output_dir``; the source file is only read."""
    source = Path(source)
    weights = load_weights(source)
    provenance = {"source_file": source.name, "source_sha256": sha256_of(source), "origin": weights.origin}
    if weights.container_key:
        provenance["container_key"] = weights.container_key
    return write_checkpoint(weights, output_dir, provenance)
