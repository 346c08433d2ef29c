"""Push a checkpoint to a Hub model repository: weights, config, optional ONNX files and a model card.

One commit holds everything, so a failed push changes nothing remotely; local files are only
read (a ``.pth`` or a safetensors file without config metadata is converted in a temporary folder).
Unchanged files are skipped by the client's preupload oid check, and nothing at all is
committed when nothing changed.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmrealsr_plugin.convert import CONFIG_NAME, WEIGHTS_NAME, config_json, convert_checkpoint, load_weights
from mmrealsr_plugin.errors import HubUploadError, ModelNotFoundError
from mmrealsr_plugin.weights import CONFIG_METADATA_KEY, read_state_dict

from .card import model_card
from .client import LIBRARY_NAME, LIBRARY_VERSION, ensure_answering, hub_call


@dataclass(frozen=True)
class PushResult:
    commit_url: str
    oid: str
    files: tuple[str, ...]
    """Paths in the repository that the commit covers (unchanged ones were skipped by the client)."""

    def reference(self, repo_id: str) -> str:
        """A reproducible reference to the pushed weights, pinned to the commit."""
        return f"hf://{repo_id}/{WEIGHTS_NAME}@{self.oid}"


def _weights_file(path: Path) -> Path:
    if path.is_dir():
        path = path / WEIGHTS_NAME
    if not path.is_file():
        raise ModelNotFoundError(f"checkpoint {path} does not exist; pass a weights file or a folder with {WEIGHTS_NAME}")
    return path


def _ready_weights(path: Path, workdir: Path) -> Path:
    """The file to upload as model.safetensors: ``path`` itself when it already carries its config."""
    if path.suffix.lower() == ".safetensors" and CONFIG_METADATA_KEY in read_state_dict(path).metadata:
        return path
    return convert_checkpoint(path, workdir).weights


def push_model(
    weights_path: str | Path, repo_id: str, *, card: Mapping[str, Any] | None = None,
    metrics: Mapping[str, Any] | None = None, onnx_files: Iterable[str | Path] = (), private: bool = False,
    branch: str | None = None, commit_message: str | None = None, token: str | None = None,
) -> PushResult:
    """Push ``weights_path`` (a .safetensors/.pth file or a folder holding model.safetensors) to ``repo_id``.

    Uploads ``model.safetensors``, ``config.json``, ``README.md`` (model card built from ``card`` and
    ``metrics``) and ``onnx_files`` in one commit; creates the repo (``private``) and ``branch`` when missing.
    Returns the commit's URL and oid (pin downloads to the oid: :meth:`PushResult.reference`). Every failure is a
    :class:`~mmrealsr_plugin.errors.HubError` (:class:`HubUploadError`, :class:`HubAuthError`) that says what did
    not go up; local files are never changed.
    """
    from huggingface_hub import CommitOperationAdd, HfApi

    source = _weights_file(Path(weights_path))
    onnx = [Path(p) for p in onnx_files]
    for path in onnx:
        if not path.is_file() or path.suffix.lower() != ".onnx":
            raise ModelNotFoundError(f"ONNX file {path} does not exist or is not a .onnx file")
    extra = [p.with_name(p.name + ".data") for p in onnx if p.with_name(p.name + ".data").is_file()]
    with tempfile.TemporaryDirectory(prefix="mmrealsr-push-") as tmp:
        weights = _ready_weights(source, Path(tmp))
        config = load_weights(weights).config
        files = (WEIGHTS_NAME, CONFIG_NAME, "README.md", *(p.name for p in onnx + extra))
        readme = model_card(repo_id, config, card, metrics, files)
        provenance = {"source_file": source.name}
        operations = [
            CommitOperationAdd(WEIGHTS_NAME, str(weights)),
            CommitOperationAdd(CONFIG_NAME, (json.dumps(config_json(config, provenance), indent=2, sort_keys=True)
                                             + "\n").encode()),
            CommitOperationAdd("README.md", readme.encode()),
            *(CommitOperationAdd(p.name, str(p)) for p in onnx + extra),
        ]
        api = HfApi(token=token, library_name=LIBRARY_NAME, library_version=LIBRARY_VERSION)
        ensure_answering(f"{api.endpoint}/api/models/{repo_id}", token, f"push {source} to {repo_id} (nothing was sent)")
        untouched = (f"Nothing was committed: {', '.join(files)} did not go up; the local checkpoint {source} is "
                     "unchanged, so rerun the push once fixed")

        def attempt(step: str) -> contextlib.AbstractContextManager[None]:
            return hub_call(f"push to {repo_id} (step: {step})", failure=HubUploadError, afterwards=untouched)

        with attempt("create the repository"):
            api.create_repo(repo_id, private=private, exist_ok=True)
        if branch:
            with attempt(f"create branch {branch!r}"):
                api.create_branch(repo_id, branch=branch, exist_ok=True)
        with attempt("upload and commit"):
            info = api.create_commit(
                repo_id, operations, commit_message=commit_message or f"Upload MM-RealSR x{config.scale} checkpoint",
                revision=branch,
            )
    return PushResult(info.commit_url, info.oid, files)
