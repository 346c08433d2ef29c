"""Client-side steps the Hub tests run in a fresh interpreter, so ``HF_*`` settings apply before import.

Usage: ``python hub_client.py JSON_PLAN`` with a plan ``[[step, args, kwargs], ...]`` run in order in one
interpreter (one torch import for several steps); prints one JSON list with, per step, ``{"ok": value}``
or ``{"error": class name, "bases": [...], "message": text}``.
"""

from __future__ import annotations

import json
import sys


def push(weights: str, repo_id: str, **kwargs) -> dict:
    from mmrealsr_plugin.hub import push_model

    result = push_model(weights, repo_id, **kwargs)
    return {"commit_url": result.commit_url, "oid": result.oid, "files": list(result.files)}


def push_model(weights: str, repo_id: str, **kwargs) -> str:
    from mmrealsr_plugin.hub import push_model as push

    return push(weights, repo_id, **kwargs).commit_url


def download(reference: str, **kwargs) -> str:
    from mmrealsr_plugin.hub import download as fetch

    return str(fetch(reference, **kwargs))


def download_with_progress(reference: str, **kwargs) -> dict:
    """Download through a host's own tqdm class and report what it was told."""
    from tqdm.auto import tqdm

    from mmrealsr_plugin.hub import download as fetch

    seen = {"instances": 0, "bytes": 0}

    class HostProgress(tqdm):
        def __init__(self, *args, **kw):
            seen["instances"] += 1
            super().__init__(*args, **{**kw, "disable": True})

        def update(self, n=1):
            seen["bytes"] += n or 0
            return super().update(n)

    path = fetch(reference, tqdm_class=HostProgress, **kwargs)
    return {"path": str(path), **seen}


def load(reference: str) -> dict:
    import numpy as np

    import mmrealsr_plugin

    model = mmrealsr_plugin.load_model(reference, device="cpu")
    image = np.linspace(0, 1, 16 * 16 * 3, dtype=np.float32).reshape(16, 16, 3)
    result = mmrealsr_plugin.restore(model, image, blur=0.5, noise=0.5, tile=0)
    return {"source": model.descriptor.source, "sha256": model.descriptor.sha256, "shape": list(result.image.shape),
            "checksum": float(result.image.sum())}


def api(method: str, *args, **kwargs):
    """Call an ``HfApi`` method and return a JSON-friendly view of its answer."""
    from huggingface_hub import HfApi

    answer = getattr(HfApi(), method)(*args, **kwargs)
    if method == "model_info":
        return {"sha": answer.sha, "siblings": sorted(s.rfilename for s in answer.siblings or []),
                "pipeline_tag": answer.pipeline_tag, "library_name": answer.library_name, "tags": answer.tags,
                "private": answer.private}
    if method == "list_repo_refs":
        return {"branches": {b.name: b.target_commit for b in answer.branches},
                "tags": {t.name: t.target_commit for t in answer.tags}}
    if method == "list_repo_commits":
        return [c.commit_id for c in answer]
    if method == "list_repo_files":
        return sorted(answer)
    if method == "whoami":
        return answer["name"]
    return None if answer is None else str(answer)


def models() -> dict:
    """Registry name -> [status, local path] as ``mmrealsr models`` reports it."""
    from mmrealsr_plugin.registry import load_registry
    from mmrealsr_plugin.sources import locate

    return {name: list(locate(entry)[:2]) for name, entry in load_registry().entries.items()}


def cli(*argv: str) -> int:
    from mmrealsr_plugin.cli import main

    return main(list(argv))


STEPS = {f.__name__: f for f in (push, push_model, download, download_with_progress, load, api, models, cli)}


def call(step: str, args: list, kwargs: dict) -> dict:
    try:
        return {"ok": STEPS[step](*args, **kwargs)}
    except Exception as exc:  # reported to the test, which asserts on the class and message
        return {"error": type(exc).__name__, "bases": [c.__name__ for c in type(exc).__mro__], "message": str(exc)}


if __name__ == "__main__":
    plan = json.loads(sys.argv[1])
    print(json.dumps([call(step, args, kwargs) for step, args, kwargs in plan]))
    sys.stdout.flush()
