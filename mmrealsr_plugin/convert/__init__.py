"""Converters from other formats into MM-RealSR state dicts (no foreign runtime needed)."""

from .ncnn import NcnnLayer, read_ncnn_param, read_ncnn_rrdb
from .realesrgan_init import identity_modulation_, mmrealsr_from_rrdb
from .rrdbnet import RRDBNet, rrdb_config, rrdb_trunk_keys

__all__ = [
    "NcnnLayer", "RRDBNet", "identity_modulation_", "mmrealsr_from_rrdb", "read_ncnn_param", "read_ncnn_rrdb",
    "rrdb_config", "rrdb_trunk_keys",
]
