"""The Hugging Face Hub client as this plugin calls it: who we are, one deadline for a silent Hub, and the one place
where the client's exceptions become the project's errors.

Every call into ``huggingface_hub`` (downloads, pushes) goes through :func:`hub_call`, so a caller (the CLI, the
trainer, a host) only ever sees a :class:`~mmrealsr_plugin.errors.HubError` subclass whose message says what to do,
whatever transport the installed client uses (requests or httpx) and however it fails.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from mmrealsr_plugin import __version__, settings
from mmrealsr_plugin.errors import (
    HubAuthError,
    HubError,
    HubNotFoundError,
    HubOfflineError,
    MMRealSRError,
)

from .reference import HubReference

LIBRARY_NAME = "mmrealsr-plugin"
LIBRARY_VERSION = __version__
PROBE_TIMEOUT_S = 10.0
"""Longest single wait for an answer inside :func:`ensure_answering`'s deadline."""
LOGIN = "log in (`hf auth login`) or set HF_TOKEN"


def ensure_answering(url: str, token: str | bool | None, what: str) -> None:
    """Fail within ``MMREALSR_HUB_TIMEOUT`` seconds (default 25) unless the Hub at ``url`` answers at all.

    huggingface_hub retries a request that times out with a fixed 60 s timeout, six times: a Hub that
    accepts connections and never answers took 400 s to fail, and ``HF_HUB_ETAG_TIMEOUT`` does not
    shorten that. This probe runs first with short requests and backoff under one deadline. Any HTTP
    answer (even 404 or 401) counts: the real call then reports what it means.
    """
    from huggingface_hub import constants
    from huggingface_hub.utils import build_hf_headers, get_session

    limit = settings.hub_timeout()
    deadline = time.monotonic() + limit
    headers = build_hf_headers(token=token, library_name=LIBRARY_NAME, library_version=LIBRARY_VERSION)
    wait, last = 1.0, None
    while True:
        remaining = deadline - time.monotonic()
        try:
            get_session().head(url, headers=headers, timeout=max(1.0, min(PROBE_TIMEOUT_S, remaining)))
            return
        except Exception as exc:  # transport errors differ between client versions (requests, httpx)
            last = exc
        remaining = deadline - time.monotonic()
        if remaining <= wait:
            break
        time.sleep(wait)
        wait *= 2
    raise HubError(
        f"the Hub at {constants.ENDPOINT} did not answer within {limit} s ({settings.HUB_TIMEOUT_ENV}) while trying "
        f"to {what}: check the network, HF_ENDPOINT or a proxy, then retry ({type(last).__name__}: {last})"
    )


@contextlib.contextmanager
def hub_call(what: str, *, ref: HubReference | None = None, offline: bool = False,
             failure: type[HubError] = HubError, afterwards: str = "") -> Iterator[None]:
    """Run calls into the Hub client; any exception but the project's own leaves as a :class:`HubError`.

    :param what: the action in words, for the message ("download X of ORG/REPO@main", "push to ORG/REPO").
    :param ref: the file being fetched: names it in not-found and offline messages.
    :param failure: the class of errors that are neither "not found" nor "not allowed" (a push's
        :class:`HubUploadError`).
    :param afterwards: a sentence appended to every message (what did or did not happen locally).
    """
    try:
        yield
    except MMRealSRError:
        raise
    except Exception as exc:
        raise _translated(exc, what, ref, offline, failure, afterwards) from exc


def _translated(exc: Exception, what: str, ref: HubReference | None, offline: bool, failure: type[HubError],
                afterwards: str) -> HubError:
    from huggingface_hub import constants
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    cause = exc.__cause__ if isinstance(exc, RuntimeError) and exc.__cause__ else exc  # the client wraps LFS failures
    status = getattr(getattr(cause, "response", None), "status_code", None)
    detail = str(exc) if cause is exc else f"{exc} ({cause})"
    then = f". {afterwards}" if afterwards else ""
    revision = (ref.revision if ref else None) or "main"
    if ref is not None and isinstance(exc, LocalEntryNotFoundError):
        if offline:
            return HubOfflineError(
                f"{ref.filename} of {ref.repo_id}@{revision} is not in the local cache and offline mode is on "
                "(HF_HUB_OFFLINE=1 or local_files_only): download it once while online "
                f"(`mmrealsr hub download {ref}`), or unset HF_HUB_OFFLINE"
            )
        return HubError(
            f"could not reach the Hub at {constants.ENDPOINT} to {what}, and it is not cached: check the network "
            f"(or HF_ENDPOINT), then retry ({exc.__cause__ or exc})"
        )
    if isinstance(exc, GatedRepoError):
        repo = ref.repo_id if ref else "the repository"
        return HubAuthError(f"{repo} is gated: accept its conditions on the Hub, then {LOGIN}{then}")
    if ref is not None and isinstance(exc, RevisionNotFoundError):
        return HubNotFoundError(f"{ref.repo_id} has no revision {revision!r}: use a branch, tag or commit that exists")
    if ref is not None and isinstance(exc, RepositoryNotFoundError):
        if status == 401:
            return HubAuthError(f"repository {ref.repo_id} was not found or is private and no valid token was sent: "
                                f"check the name, then {LOGIN}")
        return HubNotFoundError(f"repository {ref.repo_id} does not exist (or your token cannot see it)")
    if ref is not None and isinstance(exc, EntryNotFoundError):
        return HubNotFoundError(f"{ref.repo_id}@{revision} has no file {ref.filename!r}: check the path in the repo")
    if status in (401, 403):
        return HubAuthError(f"{what} failed: {detail}{then}. Log in with a write token (`hf auth login`) or set "
                            "HF_TOKEN")
    return failure(f"{what} failed: {detail}{then}")
