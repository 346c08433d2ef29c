"""The Hub plugin: remote models (Hub references, registry entries with a ``repo_id``), publishing, ``mmrealsr hub``.

It answers the core's hooks; the core never imports this package. Light to import: huggingface_hub (and torch,
for pushes that convert a checkpoint) are imported when a hook is called.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mmrealsr_plugin.hookspecs import hookimpl
from mmrealsr_plugin.registry import ModelLocation, RegistryEntry


@hookimpl
def mmrealsr_add_commands(commands: Any) -> None:
    commands.add("hub", "push to or download from the Hugging Face Hub", "mmrealsr_plugin.hub.cli")


@hookimpl
def mmrealsr_resolve_source(source: str | RegistryEntry, local_dir: Path | None, progress: Any | None) -> Path | None:
    from .download import download

    return download(source, local_dir=local_dir, tqdm_class=progress)


@hookimpl
def mmrealsr_locate_source(entry: RegistryEntry) -> ModelLocation | None:
    from huggingface_hub import try_to_load_from_cache

    from .reference import from_entry

    ref = from_entry(entry)
    cached = try_to_load_from_cache(ref.repo_id, ref.filename, revision=ref.revision)
    if isinstance(cached, str):
        return ModelLocation("cached", cached, "")
    return ModelLocation("remote", None, f"downloaded on first use from {ref} (or now: mmrealsr hub download "
                                         f"{entry.name})")


@hookimpl
def mmrealsr_publish(weights: Path, repo_id: str, card: Mapping[str, Any], metrics: Mapping[str, Any], private: bool,
                     commit_message: str) -> str | None:
    from .push import push_model

    return push_model(weights, repo_id, card=card, metrics=metrics, private=private,
                      commit_message=commit_message).commit_url
