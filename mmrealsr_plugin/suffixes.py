"""Model file kinds by suffix, in a module that imports nothing: the registry, the CLI and the backends share them."""

from __future__ import annotations

SAFETENSORS_SUFFIXES = (".safetensors",)
PICKLE_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin")
"""Read only with ``torch.load(weights_only=True)``: no code in them ever runs."""
WEIGHT_SUFFIXES = SAFETENSORS_SUFFIXES + PICKLE_SUFFIXES
ONNX_SUFFIX = ".onnx"
NCNN_PARAM_SUFFIX = ".param"
MODEL_FILE_SUFFIXES = (*WEIGHT_SUFFIXES, ONNX_SUFFIX, NCNN_PARAM_SUFFIX)
"""Everything that names a model file; an argument ending in one of these is a path, never a Hub lookup."""
