"""A small Hugging Face Hub-compatible HTTP server for tests (standard library only).

It implements the routes huggingface_hub 2.x calls for model repositories: repo create/delete,
whoami, model info, tree, paths-info, refs, commits, branches, tags, preupload, NDJSON commits,
the git-LFS batch API with a basic-transfer PUT and verify, and file resolve (HEAD/GET, Range,
ETag/X-Repo-Commit/X-Linked-*, X-Error-Code on 404). Private repos answer 401 without a token.

State lives in memory; file contents live on disk under ``root`` (``objects/<sha256>`` for LFS
files, ``blobs/<git-sha1>`` for regular ones) so a test can corrupt a stored object on purpose.
Start it with ``HubServer(root, tokens={"token": "user"}).start()`` and point ``HF_ENDPOINT`` at
``server.url``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

LFS_THRESHOLD = 10 * 1024 * 1024
"""Files this large or with binary content go to LFS, as on the real Hub."""
INITIAL_FILES = {".gitattributes": b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n*.onnx filter=lfs diff=lfs merge=lfs -text\n"}


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass(frozen=True)
class StoredFile:
    size: int
    git_oid: str
    """git blob sha1 of the content (regular files) or of the LFS pointer (LFS files)."""
    lfs_sha256: str | None = None


@dataclass
class Commit:
    oid: str
    parent: str | None
    title: str
    message: str
    files: dict[str, StoredFile]
    date: float


@dataclass
class Repo:
    repo_id: str
    private: bool
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    def resolve(self, revision: str) -> Commit | None:
        oid = self.branches.get(revision) or self.tags.get(revision)
        if oid is None and re.fullmatch(r"[0-9a-f]{40}", revision):
            oid = revision if revision in self.commits else None
        return self.commits.get(oid) if oid else None


def _lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def _front_matter(text: str) -> dict:
    """Top-level ``key: value`` and ``key:`` + ``- item`` lists of a README's YAML header (enough for card data)."""
    if not text.startswith("---"):
        return {}
    end = text.find("\n---", 3)
    if end < 0:
        return {}
    data: dict = {}
    current: str | None = None
    for line in text[3:end].splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.startswith(("- ", "  - ")) and current is not None:
            data.setdefault(current, [])
            if isinstance(data[current], list):
                data[current].append(line.split("- ", 1)[1].strip().strip("'\""))
            continue
        if not line.startswith(" ") and ":" in line:
            key, value = line.split(":", 1)
            current = key.strip()
            value = value.strip().strip("'\"")
            data[current] = value if value else []
    return data


class HubState:
    """All repositories, guarded by one lock; blobs on disk under ``root``."""

    def __init__(self, root: Path, tokens: dict[str, str]) -> None:
        self.root = Path(root)
        (self.root / "objects").mkdir(parents=True, exist_ok=True)
        (self.root / "blobs").mkdir(parents=True, exist_ok=True)
        self.tokens = dict(tokens)
        self.repos: dict[str, Repo] = {}
        self.lock = threading.RLock()
        self.upload_secret = secrets.token_bytes(16)
        self.max_object_size: int | None = None
        """Set by a test to make LFS PUTs above this size fail with 413."""
        self.requests: list[tuple[str, str]] = []

    def object_path(self, sha256: str) -> Path:
        return self.root / "objects" / sha256

    def blob_path(self, git_oid: str) -> Path:
        return self.root / "blobs" / git_oid

    def read(self, stored: StoredFile) -> Path:
        return self.object_path(stored.lfs_sha256) if stored.lfs_sha256 else self.blob_path(stored.git_oid)

    def store_regular(self, data: bytes) -> StoredFile:
        oid = git_blob_sha1(data)
        path = self.blob_path(oid)
        if not path.exists():
            path.write_bytes(data)
        return StoredFile(len(data), oid)

    def new_commit(self, repo: Repo, parent: str | None, title: str, message: str, files: dict[str, StoredFile]) -> Commit:
        seed = json.dumps([repo.repo_id, parent, title, sorted((k, v.git_oid) for k, v in files.items()), time.time_ns()])
        commit = Commit(hashlib.sha1(seed.encode()).hexdigest(), parent, title, message, files, time.time())
        repo.commits[commit.oid] = commit
        return commit

    def create_repo(self, repo_id: str, private: bool) -> Repo:
        repo = Repo(repo_id, private)
        files = {path: self.store_regular(data) for path, data in INITIAL_FILES.items()}
        repo.branches["main"] = self.new_commit(repo, None, "initial commit", "", files).oid
        self.repos[repo_id] = repo
        return repo

    def sign_upload(self, oid: str, size: int) -> str:
        return hmac.new(self.upload_secret, f"{oid}:{size}".encode(), "sha256").hexdigest()


class HubError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: HubHTTPServer

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - keep test output quiet
        return

    # -- plumbing -------------------------------------------------------------------------------
    @property
    def state(self) -> HubState:
        return self.server.state

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _json_body(self) -> dict:
        raw = self._body()
        if "application/x-www-form-urlencoded" in self.headers.get("Content-Type", ""):
            return {k: v for k, v in parse_qs(raw.decode()).items()}
        return json.loads(raw or b"{}")

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None,
              content_type: str = "application/json") -> None:
        """Send a reply; a HEAD reply announces the body's length but sends no body."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _json(self, data, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(data).encode(), headers)

    def _error(self, exc: HubError) -> None:
        headers = {"X-Error-Message": exc.message}
        if exc.code:
            headers["X-Error-Code"] = exc.code
        self._send(exc.status, json.dumps({"error": exc.message}).encode(), headers)

    def _user(self) -> str | None:
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return None
        user = self.state.tokens.get(auth[len("Bearer "):])
        if user is None:
            raise HubError(401, "Invalid credentials in Authorization header")
        return user

    def _repo(self, repo_id: str, write: bool = False) -> Repo:
        user = self._user()
        repo = self.state.repos.get(repo_id)
        if repo is None or (repo.private and user is None):
            status = 401 if user is None else 404
            raise HubError(status, f"Repository {repo_id} not found", "RepoNotFound")
        if write and (user is None or repo_id.split("/")[0] != user):
            raise HubError(403, f"You don't have the rights to write to {repo_id}")
        return repo

    def _revision(self, repo: Repo, revision: str) -> Commit:
        commit = repo.resolve(revision)
        if commit is None:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return commit

    def _dispatch(self) -> None:
        split = urlsplit(self.path)
        self.query = parse_qs(split.query)
        parts = [unquote(p) for p in split.path.split("/")[1:]]
        self.state.requests.append((self.command, split.path))
        try:
            with self.state.lock:
                self._route(parts)
        except HubError as exc:
            self._error(exc)
        except (KeyError, ValueError, json.JSONDecodeError) as exc:
            self._error(HubError(400, f"bad request: {exc!r}"))

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _dispatch

    def _route(self, parts: list[str]) -> None:
        method = self.command
        if parts[:2] == ["api", "whoami-v2"]:
            return self._whoami()
        if parts[:2] == ["api", "validate-yaml"]:
            self._body()
            return self._json({"errors": [], "warnings": []})
        if parts[:2] == ["api", "repos"] and parts[2:] == ["create"] and method == "POST":
            return self._create_repo()
        if parts[:2] == ["api", "repos"] and parts[2:] == ["delete"] and method == "DELETE":
            return self._delete_repo()
        if parts[:2] == ["api", "models"] and len(parts) >= 4:
            repo_id, rest = f"{parts[2]}/{parts[3]}", parts[4:]
            return self._model_api(repo_id, rest)
        if len(parts) >= 2 and parts[1].endswith(".git") and parts[2:5] == ["info", "lfs", "objects"]:
            return self._lfs(f"{parts[0]}/{parts[1][:-4]}", parts[5:])
        if parts[:1] == ["__lfs_upload"] and method == "PUT" and len(parts) == 2:
            return self._lfs_put(parts[1])
        if len(parts) >= 5 and parts[2] == "resolve" and method in ("GET", "HEAD"):
            return self._resolve(f"{parts[0]}/{parts[1]}", parts[3], "/".join(parts[4:]))
        raise HubError(404, f"no route for {method} /{'/'.join(parts)}")

    # -- account and repositories ---------------------------------------------------------------
    def _whoami(self) -> None:
        user = self._user()
        if user is None:
            raise HubError(401, "Invalid username or password.")
        self._json({"type": "user", "name": user, "fullname": user, "orgs": [],
                    "auth": {"type": "access_token", "accessToken": {"displayName": "test", "role": "write"}}})

    def _create_repo(self) -> None:
        body = self._json_body()
        user = self._user()
        if user is None:
            raise HubError(401, "You must be authenticated to create a repository")
        namespace = body.get("organization") or user
        repo_id = f"{namespace}/{body['name']}"
        if body.get("type", "model") != "model":
            raise HubError(400, "this test server only hosts model repositories")
        if namespace != user:
            raise HubError(403, f"You don't have the rights to create a repository under {namespace}")
        url = f"{self.server.url}/{repo_id}"
        if repo_id in self.state.repos:
            return self._json({"error": "You already created this model repo", "url": url}, 409)
        private = body.get("private") is True or body.get("visibility") == "private"
        self.state.create_repo(repo_id, private)
        self._json({"url": url, "name": repo_id, "id": repo_id})

    def _delete_repo(self) -> None:
        body = self._json_body()
        repo_id = f"{body.get('organization') or self._user()}/{body['name']}"
        self._repo(repo_id, write=True)
        del self.state.repos[repo_id]
        self._json({})

    # -- /api/models/{repo} ----------------------------------------------------------------------
    def _model_api(self, repo_id: str, rest: list[str]) -> None:
        method = self.command
        if not rest and method == "GET":
            return self._model_info(repo_id, "main")
        if rest[:1] == ["revision"] and len(rest) == 2:
            return self._model_info(repo_id, rest[1])
        if rest[:1] == ["tree"] and len(rest) >= 2:
            return self._tree(repo_id, rest[1], "/".join(rest[2:]))
        if rest[:1] == ["paths-info"] and len(rest) == 2 and method == "POST":
            return self._paths_info(repo_id, rest[1])
        if rest == ["refs"]:
            return self._refs(repo_id)
        if rest[:1] == ["commits"] and len(rest) == 2:
            return self._commits(repo_id, rest[1])
        if rest[:1] == ["branch"] and len(rest) == 2:
            return self._branch(repo_id, rest[1])
        if rest[:1] == ["tag"] and len(rest) == 2:
            return self._tag(repo_id, rest[1])
        if rest[:1] == ["preupload"] and len(rest) == 2 and method == "POST":
            return self._preupload(repo_id, rest[1])
        if rest[:1] == ["commit"] and len(rest) == 2 and method == "POST":
            return self._commit(repo_id, rest[1])
        raise HubError(404, f"no route for {method} /api/models/{repo_id}/{'/'.join(rest)}")

    def _entry(self, path: str, stored: StoredFile, expand: bool = False) -> dict:
        entry: dict = {"type": "file", "oid": stored.git_oid, "size": stored.size, "path": path}
        if stored.lfs_sha256:
            entry["lfs"] = {"oid": stored.lfs_sha256, "size": stored.size,
                            "pointerSize": len(_lfs_pointer(stored.lfs_sha256, stored.size))}
        if expand:
            entry["lastCommit"] = None
        return entry

    def _model_info(self, repo_id: str, revision: str) -> None:
        repo = self._repo(repo_id)
        commit = self._revision(repo, revision)
        blobs = self.query.get("blobs", ["false"])[0].lower() == "true"
        siblings = []
        for path, stored in sorted(commit.files.items()):
            sibling: dict = {"rfilename": path}
            if blobs:
                sibling.update(size=stored.size, blobId=stored.git_oid)
                if stored.lfs_sha256:
                    sibling["lfs"] = {"sha256": stored.lfs_sha256, "size": stored.size,
                                      "pointerSize": len(_lfs_pointer(stored.lfs_sha256, stored.size))}
            siblings.append(sibling)
        card: dict = {}
        if "README.md" in commit.files:
            card = _front_matter(self.state.read(commit.files["README.md"]).read_text("utf-8", "replace"))
        tags = card.get("tags") if isinstance(card.get("tags"), list) else []
        self._json({
            "_id": hashlib.md5(repo_id.encode()).hexdigest()[:24], "id": repo_id, "modelId": repo_id,
            "author": repo_id.split("/")[0], "sha": commit.oid, "private": repo.private, "disabled": False,
            "gated": False, "downloads": 0, "likes": 0, "tags": tags, "siblings": siblings,
            "pipeline_tag": card.get("pipeline_tag"), "library_name": card.get("library_name"),
            "cardData": card or None, "lastModified": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(commit.date)),
            "createdAt": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(commit.date)),
        })

    def _tree(self, repo_id: str, revision: str, prefix: str) -> None:
        commit = self._revision(self._repo(repo_id), revision)
        recursive = self.query.get("recursive", ["false"])[0].lower() in ("true", "1")
        expand = self.query.get("expand", ["false"])[0].lower() in ("true", "1")
        base = prefix.strip("/")
        if base and base in commit.files:
            raise HubError(404, f"{base} is a file, not a directory", "EntryNotFound")
        start = f"{base}/" if base else ""
        entries, folders = [], set()
        for path, stored in sorted(commit.files.items()):
            if not path.startswith(start):
                continue
            inner = path[len(start):]
            if "/" in inner and not recursive:
                folders.add(start + inner.split("/")[0])
                continue
            if recursive:
                parts = inner.split("/")[:-1]
                folders.update(start + "/".join(parts[: i + 1]) for i in range(len(parts)))
            entries.append(self._entry(path, stored, expand))
        if base and not entries and not folders:
            raise HubError(404, f"{base} does not exist at {revision}", "EntryNotFound")
        listing = [{"type": "directory", "oid": git_blob_sha1(f.encode()), "size": 0, "path": f} for f in sorted(folders)]
        self._json(listing + entries)

    def _paths_info(self, repo_id: str, revision: str) -> None:
        commit = self._revision(self._repo(repo_id), revision)
        body = self._json_body()
        paths = body.get("paths", [])
        expand = str((body.get("expand") or ["false"])[0] if isinstance(body.get("expand"), list) else body.get("expand"))
        result = []
        for path in paths if isinstance(paths, list) else [paths]:
            if path in commit.files:
                result.append(self._entry(path, commit.files[path], expand.lower() == "true"))
            elif any(f.startswith(path.rstrip("/") + "/") for f in commit.files):
                result.append({"type": "directory", "oid": git_blob_sha1(path.encode()), "size": 0, "path": path})
        self._json(result)

    def _refs(self, repo_id: str) -> None:
        repo = self._repo(repo_id)
        self._json({
            "branches": [{"name": b, "ref": f"refs/heads/{b}", "targetCommit": o} for b, o in sorted(repo.branches.items())],
            "tags": [{"name": t, "ref": f"refs/tags/{t}", "targetCommit": o} for t, o in sorted(repo.tags.items())],
            "converts": [],
        })

    def _commits(self, repo_id: str, revision: str) -> None:
        repo = self._repo(repo_id)
        commit: Commit | None = self._revision(repo, revision)
        history = []
        while commit is not None:
            history.append({"id": commit.oid, "title": commit.title, "message": commit.message,
                            "authors": [{"user": repo_id.split("/")[0]}],
                            "date": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(commit.date))})
            commit = repo.commits.get(commit.parent) if commit.parent else None
        self._json(history)

    def _branch(self, repo_id: str, branch: str) -> None:
        repo = self._repo(repo_id, write=True)
        if self.command == "DELETE":
            if branch not in repo.branches or branch == "main":
                raise HubError(404 if branch not in repo.branches else 403, f"cannot delete branch {branch}",
                               "RevisionNotFound" if branch not in repo.branches else None)
            del repo.branches[branch]
            return self._json({})
        body = self._json_body()
        if branch in repo.branches:
            raise HubError(409, f"Reference already exists: refs/heads/{branch}")
        start = self._revision(repo, body.get("startingPoint") or "main")
        repo.branches[branch] = start.oid
        self._json({})

    def _tag(self, repo_id: str, name: str) -> None:
        repo = self._repo(repo_id, write=True)
        if self.command == "DELETE":
            if name not in repo.tags:
                raise HubError(404, f"tag {name} not found", "RevisionNotFound")
            del repo.tags[name]
            return self._json({})
        body = self._json_body()
        tag = body["tag"]
        if tag in repo.tags:
            raise HubError(409, f"Reference already exists: refs/tags/{tag}")
        repo.tags[tag] = self._revision(repo, name).oid
        self._json({})

    # -- uploads -------------------------------------------------------------------------------------
    def _preupload(self, repo_id: str, revision: str) -> None:
        repo = self._repo(repo_id, write=True)
        commit = self._revision(repo, revision)
        answers = []
        for item in self._json_body()["files"]:
            sample = base64.b64decode(item["sample"])
            binary = b"\0" in sample
            try:
                sample.decode("utf-8")
            except UnicodeDecodeError:
                binary = True
            lfs = item["size"] >= LFS_THRESHOLD or binary
            remote = commit.files.get(item["path"])
            oid = None
            if remote is not None:
                oid = remote.lfs_sha256 if (lfs and remote.lfs_sha256) else (None if lfs else remote.git_oid)
            answers.append({"path": item["path"], "uploadMode": "lfs" if lfs else "regular",
                            "shouldIgnore": False, "oid": oid})
        self._json({"files": answers, "commitOid": commit.oid})

    def _commit(self, repo_id: str, revision: str) -> None:
        repo = self._repo(repo_id, write=True)
        if revision not in repo.branches:
            raise HubError(404, f"Invalid rev id: {revision} (commits go to a branch)", "RevisionNotFound")
        head = repo.commits[repo.branches[revision]]
        lines = [json.loads(line) for line in self._body().splitlines() if line.strip()]
        header = next(item["value"] for item in lines if item["key"] == "header")
        parent = header.get("parentCommit")
        if parent and parent != head.oid:
            raise HubError(412, f"A commit has happened since: parent {parent} is not the head {head.oid} of {revision}")
        files = dict(head.files)
        for item in lines:
            key, value = item["key"], item["value"]
            if key == "file":
                if value.get("encoding", "base64") != "base64":
                    raise HubError(400, f"unsupported encoding {value.get('encoding')!r}")
                files[value["path"]] = self.state.store_regular(base64.b64decode(value["content"]))
            elif key == "lfsFile":
                oid = value["oid"]
                obj = self.state.object_path(oid)
                if not obj.exists():
                    raise HubError(422, f"LFS object {oid} for {value['path']} was never uploaded")
                size = obj.stat().st_size
                files[value["path"]] = StoredFile(size, git_blob_sha1(_lfs_pointer(oid, size)), oid)
            elif key == "deletedFile":
                if value["path"] not in files:
                    raise HubError(404, f"A file with this name doesn't exist: {value['path']}", "EntryNotFound")
                del files[value["path"]]
            elif key == "deletedFolder":
                prefix = value["path"].rstrip("/") + "/"
                files = {p: s for p, s in files.items() if not p.startswith(prefix)}
            elif key != "header":
                raise HubError(400, f"unknown commit operation {key!r}")
        commit = self.state.new_commit(repo, head.oid, header.get("summary", ""), header.get("description", ""), files)
        repo.branches[revision] = commit.oid
        self._json({"success": True, "commitOid": commit.oid, "commitUrl": f"{self.server.url}/{repo_id}/commit/{commit.oid}",
                    "commitMessage": commit.title, "hookOutput": "", "pullRequestUrl": None})

    def _lfs(self, repo_id: str, rest: list[str]) -> None:
        repo = self._repo(repo_id, write=True)
        body = self._json_body()
        if rest == ["verify"]:
            obj = self.state.object_path(body["oid"])
            if not obj.exists() or obj.stat().st_size != body["size"]:
                raise HubError(404, f"object {body['oid']} of size {body['size']} not found")
            return self._json({"message": "ok"})
        if rest != ["batch"] or body.get("operation") != "upload":
            raise HubError(404, "only the upload batch operation is served")
        objects = []
        for item in body["objects"]:
            oid, size = item["oid"], int(item["size"])
            entry: dict = {"oid": oid, "size": size, "authenticated": True}
            obj = self.state.object_path(oid)
            if not (obj.exists() and obj.stat().st_size == size):
                href = f"{self.server.url}/__lfs_upload/{oid}?size={size}&sig={self.state.sign_upload(oid, size)}"
                entry["actions"] = {
                    "upload": {"href": href, "header": {}},
                    "verify": {"href": f"{self.server.url}/{quote(repo.repo_id)}.git/info/lfs/objects/verify"},
                }
            objects.append(entry)
        self._send(200, json.dumps({"transfer": "basic", "objects": objects}).encode(),
                   content_type="application/vnd.git-lfs+json")

    def _lfs_put(self, oid: str) -> None:
        size = int(self.query["size"][0])
        if not hmac.compare_digest(self.query["sig"][0], self.state.sign_upload(oid, size)):
            self._body()
            raise HubError(403, "bad upload signature")
        data = self._body()
        if self.state.max_object_size is not None and len(data) > self.state.max_object_size:
            raise HubError(413, f"object of {len(data)} bytes is over the {self.state.max_object_size}-byte limit")
        if len(data) != size or hashlib.sha256(data).hexdigest() != oid:
            raise HubError(400, f"uploaded content does not match oid {oid} / size {size}")
        self.state.object_path(oid).write_bytes(data)
        self._send(200)

    # -- downloads -----------------------------------------------------------------------------------
    def _resolve(self, repo_id: str, revision: str, path: str) -> None:
        repo = self._repo(repo_id)
        commit = self._revision(repo, revision)
        stored = commit.files.get(path)
        if stored is None:
            raise HubError(404, f"Entry not found: {path}", "EntryNotFound")
        data_path = self.state.read(stored)
        size = data_path.stat().st_size
        headers = {"X-Repo-Commit": commit.oid, "Accept-Ranges": "bytes",
                   "ETag": f'"{stored.lfs_sha256 or stored.git_oid}"'}
        if stored.lfs_sha256:
            headers.update({"X-Linked-Etag": f'"{stored.lfs_sha256}"', "X-Linked-Size": str(stored.size)})
        start, end, status = 0, size - 1, 200
        match = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", ""))
        if match and (match.group(1) or match.group(2)):
            if match.group(1):
                start = int(match.group(1))
                end = min(int(match.group(2)), size - 1) if match.group(2) else size - 1
            else:
                start = max(0, size - int(match.group(2)))
            if start >= size:
                headers["Content-Range"] = f"bytes */{size}"
                raise HubError(416, f"range start {start} is beyond the file size {size}")
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        with data_path.open("rb") as handle:
            handle.seek(start)
            body = handle.read(end - start + 1)
        self._send(status, body, headers, "application/octet-stream")


class HubHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    state: HubState
    url: str


class HubServer:
    """The server on 127.0.0.1 at a random port, served from a background thread."""

    def __init__(self, root: str | Path, tokens: dict[str, str]) -> None:
        self.state = HubState(Path(root), tokens)
        self.httpd = HubHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.state = self.state
        self.httpd.url = self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="hub-server", daemon=True)

    def start(self) -> HubServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()



class SilentEndpoint:
    """A Hub that accepts TCP connections on 127.0.0.1 and never answers a byte; counts the connections.

    The failure mode of a hung proxy or server: without bounded timeouts a client waits for minutes.
    """

    def __init__(self) -> None:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.connections: list = []
        self.thread = threading.Thread(target=self._accept, name="silent-endpoint", daemon=True)

    def _accept(self) -> None:
        while True:
            try:
                self.connections.append(self.sock.accept()[0])
            except OSError:
                return

    def __enter__(self) -> SilentEndpoint:
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.sock.close()
        for conn in self.connections:
            conn.close()


class HangUpEndpoint:
    """A Hub that answers HEAD probes and hangs up on every other request without a reply (a proxy or server that
    drops connections). The client then fails with its transport's own exception, which differs between clients."""

    class _Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args) -> None:  # noqa: A002 - keep test output quiet
            pass

        def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _hang_up(self) -> None:
            self.close_connection = True

        do_GET = do_POST = do_PUT = _hang_up

    def __init__(self) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="hang-up-endpoint", daemon=True)

    def __enter__(self) -> HangUpEndpoint:
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
