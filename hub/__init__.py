"""Hugging Face Hub integration: resolve, download, verify and push MM-RealSR models.

huggingface_hub is imported only when a function here runs, so ``HF_*`` settings made by a host
before the first call still apply.
"""

from .checkpoint import Checkpoint, convert_checkpoint, read_config_json
from .download import download, resolve_remote
from .push import PushResult, push_checkpoint, push_model
from .reference import HubReference, parse_reference

__all__ = [
    "Checkpoint", "HubReference", "PushResult", "convert_checkpoint", "download", "parse_reference", "push_checkpoint",
    "push_model", "read_config_json", "resolve_remote",
]
