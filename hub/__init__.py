"""Hugging Face Hub plugin: resolve, download, verify and push MM-RealSR models.

``push_model`` (which may convert a checkpoint with torch) is imported on first use (:mod:`mmrealsr_plugin.lazy`);
the rest is light, so the plugin manager registers :mod:`.plugin` cheaply. huggingface_hub itself is imported only
when a function here runs, so ``HF_*`` settings made by a host before the first call still apply.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mmrealsr_plugin.lazy import lazy_attributes

from .download import download
from .reference import HubReference, parse_reference

_LAZY = dict.fromkeys(["PushResult", "push_model"], ".push")
__all__ = sorted(["HubReference", "download", "parse_reference", *_LAZY])
__getattr__ = lazy_attributes(__name__, _LAZY)[0]


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from .push import PushResult, push_model
