"""Download one weights file from the Hub (or find it in the cache) and check its content before use.

Uses huggingface_hub's shared cache unless the host passes ``local_dir`` (e.g. ComfyUI's models
folder). Honours ``HF_HUB_OFFLINE=1`` and ``local_files_only``. Tokens come from ``token=``, else
the user's ``HF_TOKEN`` / ``hf auth login``; nothing here stores one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mmrealsr_plugin.atomic import writable_folder
from mmrealsr_plugin.errors import IntegrityError, OutputError
from mmrealsr_plugin.integrity import digest_kind, verify_file
from mmrealsr_plugin.registry import RegistryEntry

from .client import LIBRARY_NAME, LIBRARY_VERSION, ensure_answering, hub_call
from .reference import HubReference, as_reference

def _download_record(folder: Path, filename: str) -> tuple[bool, str | None]:
    """(a record exists, its etag if it still describes the file) for a file huggingface_hub put in ``folder``.

    huggingface_hub keeps one record per downloaded file under ``folder/.cache/huggingface``; it reports
    none once the file's mtime is newer than the download. The module is private but present in every
    client version this package allows (>= 0.34).
    """
    from huggingface_hub._local_folder import get_local_download_paths, read_download_metadata

    exists = get_local_download_paths(folder, filename).metadata_path.is_file()
    record = read_download_metadata(folder, filename) if exists else None
    return exists, (record.etag if record is not None else None)


def _refuse_foreign_file(folder: Path, ref: HubReference) -> None:
    """Never replace a file that no download of ``ref`` wrote (a user's own, or one edited since)."""
    target = folder / ref.filename
    if target.exists() and not _download_record(folder, ref.filename)[0]:
        raise OutputError(
            f"{target} exists but was not written by a download of {ref}; it is left untouched: move it away "
            "(or delete it) to download the file there"
        )


def cache_etag(path: Path) -> str | None:
    """The etag a cached snapshot file was stored under (the name of the blob its link points to)."""
    name = Path(os.path.realpath(path)).name
    return name if digest_kind(name) else None


def _recorded_etag(path: Path, folder: Path | None, ref: HubReference) -> str | None:
    """The digest the Hub announced when ``path`` was downloaded: the blob name in the cache, the record in a folder."""
    if folder is None:
        return cache_etag(path)
    exists, etag = _download_record(folder, ref.filename)
    if etag is None:
        why = "it was changed after it was downloaded" if exists else "its download record is missing"
        raise IntegrityError(
            f"{path} cannot be verified: {why} (record under {folder / '.cache' / 'huggingface'}); the file was left "
            f"in place: delete it and download {ref} again"
        )
    return etag


def _fetch(ref: HubReference, folder: Path | None, cache_dir: str | Path | None, token: str | bool | None,
           tqdm_class: Any | None, local_only: bool) -> Path:
    from huggingface_hub import hf_hub_download

    return Path(hf_hub_download(
        ref.repo_id, ref.filename, revision=ref.revision, local_dir=folder, cache_dir=cache_dir,
        tqdm_class=tqdm_class, token=token, local_files_only=local_only,
        library_name=LIBRARY_NAME, library_version=LIBRARY_VERSION,
    ))


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

    :param local_dir: write a real file into a host's models folder instead of the shared cache, at
        ``local_dir/ORG/REPO@REVISION/PATH`` (see :meth:`HubReference.local_folder`); a file there that no
        download wrote is never replaced (:class:`OutputError`).
    :param tqdm_class: a tqdm subclass the host uses to show progress in its own UI.
    :param token: passed through to the Hub; None uses the user's login or ``HF_TOKEN``.
    :raises HubOfflineError: offline and not cached. :raises IntegrityError: content mismatch (a downloaded
        file is deleted), or a file in ``local_dir`` changed since its download (kept).
    :raises HubError: the Hub did not answer within ``MMREALSR_HUB_TIMEOUT`` seconds and nothing is cached.
    """
    from huggingface_hub import hf_hub_url, is_offline_mode
    from huggingface_hub.errors import LocalEntryNotFoundError

    ref = as_reference(reference)
    offline = local_files_only or is_offline_mode()
    folder = None
    if local_dir is not None:
        folder = writable_folder(Path(local_dir), "download folder") / ref.local_folder()
        _refuse_foreign_file(folder, ref)
    what = f"download {ref.filename} of {ref.repo_id}@{ref.revision or 'main'}"
    with hub_call(what, ref=ref, offline=offline):
        try:
            path = _fetch(ref, folder, cache_dir, token, tqdm_class, local_only=True)
        except LocalEntryNotFoundError:
            if offline:
                raise
            ensure_answering(hf_hub_url(ref.repo_id, ref.filename, revision=ref.revision), token, what)
            path = _fetch(ref, folder, cache_dir, token, tqdm_class, local_only=False)
        else:
            if not offline and not ref.is_pinned:
                path = _fetch(ref, folder, cache_dir, token, tqdm_class, local_only=False)  # the revision may have moved
    expected = ref.sha256 or _recorded_etag(path, folder, ref)
    if expected is not None:
        verify_file(path, expected, f"{ref}" + (f" (model {ref.name!r})" if ref.name else ""))
    return path
