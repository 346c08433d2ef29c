"""The ONNX Runtime backend plugin: exported graph pairs, and weights files when asked for by name.

It takes ``<stem>.generator.onnx`` files (with ``<stem>.estimator.onnx`` beside them), and ``.safetensors``/``.pth``
weights when asked for by name (``load_model(..., backend="onnx")`` or ``MMREALSR_BACKEND=onnx``); see
:mod:`.onnx_runner`. Its load hook runs before the torch backend's (``tryfirst``) so that ``MMREALSR_BACKEND=onnx``
wins for weights files. ``onnxruntime`` (and torch, for exports) are imported only when a model is loaded, so this
module (and the plugin manager) imports on machines without them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..hookspecs import hookimpl
from ..types import LoadedModel, LoadOptions

NAME = "onnx"


@hookimpl
def mmrealsr_backend_names() -> list[str]:
    return [NAME]


@hookimpl(tryfirst=True)
def mmrealsr_load_model(source: Path | Any, options: LoadOptions) -> LoadedModel | None:
    if options.backend not in (None, NAME) or not isinstance(source, Path):
        return None
    from .onnx_runner import load

    return load(source, options)
