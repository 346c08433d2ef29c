"""Download one weights file from the Hub (or find it in the cache) and check its content before use.

Uses huggingface_hub's shared cache unless the host passes ``local_dir`` (e.g. ComfyUI's models
folder). Honours ``HF_HUB_OFFLINE=1`` and ``local_files_only``. Tokens come from ``token=``, else
the user's ``HF_TOKEN`` / ``hf auth login``; nothing here stores one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import HubAuthError, HubError, HubNotFoundError, HubOfflineError, ModelNotFoundError
from ..registry import RegistryEntry
from .integrity import cache_etag, verify_file
from .reference import HubReference, as_reference

LIBRARY_NAME = "mmrealsr-plugin"


def library_version() -> str:
    from .. import __version__

    return __version__


def hub_error(exc: Exception, ref: HubReference, offline: bool) -> HubError:
    """Turn a huggingface_hub exception into one of ours, with what to do about it."""
    from huggingface_hub import constants
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    revision = ref.revision or "main"
    if isinstance(exc, LocalEntryNotFoundError):
        if offline:
            return HubOfflineError(
                f"{ref.filename} of {ref.repo_id}@{revision} is not in the local cache and offline mode is on "
                "(HF_HUB_OFFLINE=1 or local_files_only): download it once while online "
                f"(`mmrealsr hub download {ref}`), or unset HF_HUB_OFFLINE"
            )
        return HubError(
            f"could not reach the Hub at {constants.ENDPOINT} to download {ref.filename} of {ref.repo_id}@{revision}, "
            f"and it is not cached: check the network (or HF_ENDPOINT), then retry ({exc.__cause__ or exc})"
        )
    if isinstance(exc, GatedRepoError):
        return HubAuthError(
            f"{ref.repo_id} is gated: accept its conditions on the Hub, then log in (`hf auth login`) or set HF_TOKEN"
        )
    if isinstance(exc, RevisionNotFoundError):
        return HubNotFoundError(f"{ref.repo_id} has no revision {revision!r}: use a branch, tag or commit that exists")
    if isinstance(exc, RepositoryNotFoundError):
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status == 401:
            return HubAuthError(
                f"repository {ref.repo_id} was not found or is private and no valid token was sent: check the name, "
                "then log in (`hf auth login`) or set HF_TOKEN"
            )
        return HubNotFoundError(f"repository {ref.repo_id} does not exist (or your token cannot see it)")
    if isinstance(exc, EntryNotFoundError):
        return HubNotFoundError(f"{ref.repo_id}@{revision} has no file {ref.filename!r}: check the path in the repo")
    return HubError(f"download of {ref} failed: {exc}")


def _server_etag(ref: HubReference, token: str | bool | None) -> str | None:
    """The digest the Hub reports for the file (LFS sha256, else git blob sha1)."""
    from huggingface_hub import HfApi

    infos = HfApi(library_name=LIBRARY_NAME, library_version=library_version()).get_paths_info(
        ref.repo_id, [ref.filename], revision=ref.revision, token=token
    )
    for info in infos:
        if getattr(info, "path", None) == ref.filename:
            lfs = getattr(info, "lfs", None)
            return lfs.sha256 if lfs is not None else info.blob_id
    return None


def download(
    reference: str | RegistryEntry | HubReference,
    local_dir: str | Path | None = None,
    tqdm_class: Any | None = None,
    token: str | bool | None = None,
    *,
    local_files_only: bool = False,
    cache_dir: str | Path | None = None,
) -> Path:
    """Fetch the file ``reference`` names (see :mod:`.reference` for the forms) and verify its content.

    :param local_dir: write a real file into this folder (a host's models folder) instead of the shared cache.
    :param tqdm_class: a tqdm subclass the host uses to show progress in its own UI.
    :param token: passed through to the Hub; None uses the user's login or ``HF_TOKEN``.
    :raises HubOfflineError: offline and not cached. :raises IntegrityError: content mismatch (file deleted).
    """
    from huggingface_hub import hf_hub_download, is_offline_mode

    ref = as_reference(reference)
    offline = local_files_only or is_offline_mode()
    try:
        path = Path(
            hf_hub_download(
                ref.repo_id, ref.filename, revision=ref.revision, local_dir=local_dir, cache_dir=cache_dir,
                tqdm_class=tqdm_class, token=token, local_files_only=local_files_only,
                library_name=LIBRARY_NAME, library_version=library_version(),
            )
        )
    except Exception as exc:
        from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError

        if isinstance(exc, (HfHubHTTPError, EntryNotFoundError)):
            raise hub_error(exc, ref, offline) from exc
        raise
    expected = ref.sha256
    if expected is None and local_dir is None:
        expected = cache_etag(path)
    if expected is None and local_dir is not None and not offline:
        try:
            expected = _server_etag(ref, token)
        except Exception as exc:
            raise HubError(f"downloaded {path} but could not ask the Hub for its checksum to verify it: {exc}") from exc
    if expected is not None:
        verify_file(path, expected, f"{ref}" + (f" (model {ref.name!r})" if ref.name else ""))
    return path


def resolve_remote(source: str | RegistryEntry | HubReference) -> Path:
    """The local weights file for a registry entry or Hub reference, downloading it when needed.

    Entries without a ``repo_id`` (official GitHub releases) cannot be fetched from the Hub: the
    error says where to put a manually downloaded copy.
    """
    if isinstance(source, RegistryEntry) and not source.repo_id:
        from .. import settings

        where = Path(settings.models_dir()) / (source.filename or f"{source.name}.pth")
        fetch = f"download {source.url} and save it as {where}" if source.url else f"save its file as {where}"
        raise ModelNotFoundError(
            f"model {source.name!r} is not on the Hugging Face Hub and not found locally: {fetch} "
            f"(set {settings.HOME_ENV} to move that folder), or pass the file's path"
        )
    return download(source)
