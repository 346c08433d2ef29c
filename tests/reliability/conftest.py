"""Fixtures for the hostile-input tests: real files, the real CLI, fresh interpreters where memory or signals matter."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from mmrealsr_plugin import write_image


@pytest.fixture(autouse=True)
def user_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private user cache folder, so verdicts and exports never leak between tests."""
    cache = tmp_path / "xdg-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    return cache


def _photo(path: Path, h: int = 20, w: int = 24, c: int = 3, seed: int = 0) -> Path:
    return write_image(path, np.random.default_rng(seed).random((h, w, c), dtype=np.float32))


@pytest.fixture
def photo() -> Callable[..., Path]:
    """``photo(path, h, w, c, seed)``: a small random image written with the project's own writer."""
    return _photo


@pytest.fixture
def python(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run Python code (``-c``) or the CLI (``-m mmrealsr_plugin ...``) in a fresh interpreter.

    The child gets this test's cache folder and no third-party plugins; ``env`` entries override
    (None removes one). Runs in ``tmp_path`` so the checkout never shadows the installed package.
    """

    def run(*args: str, env: dict[str, str | None] | None = None, timeout: float = 180,
            **kwargs: object) -> subprocess.CompletedProcess[str]:
        environment = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "MMREALSR_"))}
        environment.update({"MMREALSR_DISABLE_PLUGIN_AUTOLOAD": "1", "HF_HUB_OFFLINE": "1",
                            "XDG_CACHE_HOME": str(tmp_path / "xdg-cache"), "PYTHONWARNINGS": "ignore"})
        for key, value in (env or {}).items():
            if value is None:
                environment.pop(key, None)
            else:
                environment[key] = value
        return subprocess.run([sys.executable, *args], cwd=tmp_path, env=environment, capture_output=True,
                              text=True, timeout=timeout, **kwargs)  # type: ignore[call-overload]

    return run


@pytest.fixture(scope="session")
def silent_endpoint() -> type:
    """``SilentEndpoint`` of tests/hub/hub_server.py: a Hub that accepts connections and never answers."""
    path = Path(__file__).resolve().parents[1] / "hub" / "hub_server.py"
    spec = importlib.util.spec_from_file_location("mmrealsr_reliability_tests_hub_server", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.SilentEndpoint
