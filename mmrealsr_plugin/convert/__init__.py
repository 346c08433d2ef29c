"""Converters from other formats into MM-RealSR state dicts (no foreign runtime needed), and the model-folder
layout (``model.safetensors`` + ``config.json``) that ``mmrealsr convert`` writes."""

from .checkpoint import (
    CONFIG_NAME,
    WEIGHTS_NAME,
    Checkpoint,
    config_json,
    convert_checkpoint,
    load_weights,
    read_config_json,
)
from .ncnn import NcnnLayer, read_ncnn_param, read_ncnn_rrdb
from .realesrgan_init import identity_modulation_, mmrealsr_from_rrdb
from .rrdbnet import RRDBNet, rrdb_config, rrdb_trunk_keys

__all__ = [
    "CONFIG_NAME", "WEIGHTS_NAME", "Checkpoint", "config_json", "convert_checkpoint", "load_weights", "read_config_json",
    "NcnnLayer", "RRDBNet", "identity_modulation_", "mmrealsr_from_rrdb", "read_ncnn_param", "read_ncnn_rrdb",
    "rrdb_config", "rrdb_trunk_keys",
]
