"""Weights stored as the difference from another model: how a retired default stays loadable without doubling
the package.

Two packaged models that share most tensors (every default model shares Real-ESRGAN x4plus's trunk) need not
both ship whole: the older one ships as an *overlay*, a safetensors file holding only its tensors that differ
from the base model's, plus the whole file's header. On first use the whole file is rebuilt byte for byte (the
header as it was, each tensor's bytes from the overlay or the base) and checked against the registry's pinned
sha256 of the original, so what loads is exactly the file that was published.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from .atomic import atomic_path
from .errors import ModelLoadError
from .weights import read_state_dict, save_safetensors

HEADER_KEY = "mmrealsr_overlay_header"
"""Overlay metadata: the whole file's header (JSON text with its padding), which fixes names, order and bytes."""


def _raw_header(path: Path) -> str:
    with open(path, "rb") as handle:
        size = int.from_bytes(handle.read(8), "little")
        return handle.read(size).decode("utf-8")


def write_overlay(whole: Path, base: Path, out: Path) -> Path:
    """Write the tensors of ``whole`` that are not bit-identical in ``base`` (same name, dtype, shape and bytes:
    -0.0 and 0.0 are equal numbers but not equal bytes)."""
    model, reference = read_state_dict(whole).tensors, read_state_dict(base).tensors
    differing = {name: tensor for name, tensor in model.items()
                 if name not in reference or reference[name].dtype != tensor.dtype
                 or reference[name].shape != tensor.shape or not torch.equal(_bytes(reference[name]), _bytes(tensor))}
    return save_safetensors(differing, out, metadata={HEADER_KEY: _raw_header(whole)})


def _bytes(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.contiguous().view(torch.uint8) if tensor.numel() else tensor.new_empty(0, dtype=torch.uint8)


def assemble_overlay(base: Path, overlay: Path, out: Path) -> Path:
    """Rebuild the whole file from ``base`` and ``overlay`` (atomically); the caller checks its digest."""
    patch = read_state_dict(overlay)
    header_text = patch.metadata.get(HEADER_KEY)
    if header_text is None:
        raise ModelLoadError(f"{overlay} is not a weights overlay (no {HEADER_KEY!r} in its metadata)")
    tensors = dict(read_state_dict(base).tensors)
    tensors.update(patch.tensors)
    entries = {k: v for k, v in json.loads(header_text).items() if k != "__metadata__"}
    header = header_text.encode("utf-8")
    with atomic_path(out) as tmp, open(tmp, "wb") as handle:
        handle.write(len(header).to_bytes(8, "little"))
        handle.write(header)
        for name, info in sorted(entries.items(), key=lambda item: item[1]["data_offsets"][0]):
            tensor = tensors.get(name)
            if tensor is None or list(tensor.shape) != info["shape"]:
                raise ModelLoadError(f"overlay {overlay} on {base}: tensor {name!r} is missing or has another shape")
            data = _bytes(tensor).numpy().tobytes()
            start, end = info["data_offsets"]
            if len(data) != end - start:
                raise ModelLoadError(f"overlay {overlay} on {base}: tensor {name!r} has another dtype")
            handle.write(data)
    return out
