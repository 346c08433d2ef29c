"""Hugging Face Hub integration: resolve, download, verify and push MM-RealSR models.

huggingface_hub is imported only when a function here runs, so ``HF_*`` settings made by a host
before the first call still apply.
"""

from .download import download, resolve_remote
from .push import PushResult, push_model
from .reference import HubReference, parse_reference

__all__ = [
    "HubReference", "PushResult", "download", "parse_reference", "push_model", "resolve_remote",
]
