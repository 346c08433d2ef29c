"""Fixtures for the Hub tests: a real Hub-compatible server on loopback and a client in a fresh interpreter."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).parent
TOKEN = "hf_test_write_token"
USER = "tester"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"mmrealsr_hub_tests_{name}", HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


hub_server = _load("hub_server")


class Client:
    """Runs ``hub_client.py`` steps with the HF_* environment set before huggingface_hub is imported."""

    def __init__(self, endpoint: str, home: Path) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_", "MMREALSR_"))}
        self.env.update({
            "HF_ENDPOINT": endpoint, "HF_HUB_DISABLE_XET": "1", "HF_TOKEN": TOKEN, "HF_HOME": str(home / "hf"),
            "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1", "HF_HUB_ETAG_TIMEOUT": "2",
            "HF_HUB_DOWNLOAD_TIMEOUT": "2", "MMREALSR_HOME": str(home / "mmrealsr"),
            "MMREALSR_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONWARNINGS": "ignore",
        })

    def many(self, *steps: tuple, env: dict[str, str | None] | None = None) -> list[dict]:
        """Run ``(step, *args[, kwargs])`` steps in one fresh interpreter; one answer per step.

        An answer is ``{"ok": ...}`` or ``{"error": ..., "bases": [...], "message": ...}``.
        """
        environment = dict(self.env)
        for key, value in (env or {}).items():
            if value is None:
                environment.pop(key, None)
            else:
                environment[key] = value
        plan = []
        for step, *args in steps:
            kwargs = args.pop() if args and isinstance(args[-1], dict) else {}
            plan.append([step, args, kwargs])
        proc = subprocess.run([sys.executable, str(HERE / "hub_client.py"), json.dumps(plan)], env=environment,
                              capture_output=True, text=True, timeout=180)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("[")]
        assert lines, f"client printed no answer (rc {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        return json.loads(lines[-1])

    def run(self, step: str, *args, env: dict[str, str | None] | None = None, **kwargs) -> dict:
        return self.many((step, *args, kwargs), env=env)[0]

    def all(self, *steps: tuple, env: dict[str, str | None] | None = None) -> list:
        """Like :meth:`many` for steps that must all succeed; returns their values."""
        answers = self.many(*steps, env=env)
        failed = [a for a in answers if "ok" not in a]
        assert not failed, failed
        return [a["ok"] for a in answers]

    def ok(self, step: str, *args, env: dict[str, str | None] | None = None, **kwargs):
        answer = self.run(step, *args, env=env, **kwargs)
        assert "ok" in answer, f"step {step} failed: {answer}"
        return answer["ok"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    with hub_server.HubServer(tmp_path_factory.mktemp("hub-storage"), {TOKEN: USER}) as running:
        yield running


@pytest.fixture
def client(server, tmp_path: Path) -> Client:
    return Client(server.url, tmp_path)


@pytest.fixture(scope="session")
def silent_endpoint() -> type:
    """``hub_server.SilentEndpoint``: a Hub that accepts connections and never answers."""
    return hub_server.SilentEndpoint


@pytest.fixture(scope="session")
def hang_up_endpoint() -> type:
    """``hub_server.HangUpEndpoint``: a Hub that answers probes and drops every other request."""
    return hub_server.HangUpEndpoint
