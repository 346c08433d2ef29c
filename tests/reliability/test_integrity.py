"""The packaged model's pinned sha256 is checked on use; the verdict is cached so later runs cost nothing."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from mmrealsr_plugin import write_image
from mmrealsr_plugin.errors import IntegrityError
from mmrealsr_plugin.integrity import verify_file
from mmrealsr_plugin.registry import load_registry
from mmrealsr_plugin.sources import resolve_model
from mmrealsr_plugin.integrity import sha256_of

CHECKOUT = Path(__file__).resolve().parents[2]


def _package_copy(root: Path) -> Path:
    """This checkout's package installed as plain files under ``root`` (hub/, nodes/, training/ linked in)."""
    package = root / "mmrealsr_plugin"
    shutil.copytree(CHECKOUT / "mmrealsr_plugin", package, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("hub", "nodes", "training"):
        (package / name).symlink_to(CHECKOUT / name, target_is_directory=True)
    return package


def test_a_flipped_byte_in_the_packaged_model_is_refused(tmp_path: Path, python) -> None:
    """Issue 13 item 7: restore ran with exit 0 on a corrupted default model."""
    package = _package_copy(tmp_path / "site")
    weights = package / "weights" / str(load_registry().entries[load_registry().default].file)
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))
    image = tmp_path / "in.png"
    write_image(image, np.full((8, 8, 3), 0.5, np.float32))
    env = {"PYTHONPATH": str(tmp_path / "site")}
    where = python("-c", "import mmrealsr_plugin; print(mmrealsr_plugin.__file__)", env=env)
    assert where.stdout.strip() == str(package / "__init__.py"), where.stderr
    result = python("-m", "mmrealsr_plugin", "restore", str(image), "-o", str(tmp_path / "out"), "--device", "cpu",
                    env=env)
    assert result.returncode == 3, result.stderr
    assert "sha256" in result.stderr and str(weights) in result.stderr and "reinstall" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
    assert weights.is_file(), "a packaged file is reported, never deleted"


def test_a_packaged_file_with_a_wrong_pin_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    registry = load_registry()
    packaged = registry.entries[registry.default]
    models = tmp_path / "models.toml"
    models.write_text(f'[models.pinned-wrong]\nfile = "{packaged.file}"\nsha256 = "{"0" * 64}"\n')
    monkeypatch.setenv("MMREALSR_MODELS_FILE", str(models))
    with pytest.raises(IntegrityError, match="reinstall"):
        resolve_model("pinned-wrong")


_WATCHED: list[tuple[str, list[str]]] = []


def _audit(event: str, args: tuple) -> None:
    if event == "open" and args and _WATCHED and str(args[0]) == _WATCHED[-1][0]:
        _WATCHED[-1][1].append(event)


sys.addaudithook(_audit)  # hooks cannot be removed; this one only counts while a test watches a path


def _opens_of(path: Path, action) -> int:
    """How many times ``action()`` opens ``path``."""
    _WATCHED.append((str(path), []))
    try:
        action()
    finally:
        _, seen = _WATCHED.pop()
    return len(seen)


def test_the_verdict_is_cached_by_size_and_mtime(tmp_path: Path, user_cache: Path) -> None:
    path = tmp_path / "weights.bin"
    path.write_bytes(b"x" * 100_000)
    digest = sha256_of(path)
    assert _opens_of(path, lambda: verify_file(path, digest, "test file", delete=False)) == 1
    assert _opens_of(path, lambda: verify_file(path, digest, "test file", delete=False)) == 0, "hashed again"
    assert list((user_cache / "mmrealsr").rglob("*.json")), "no verdict stored in the user cache folder"
    data = bytearray(path.read_bytes())
    data[5] ^= 0x01
    path.write_bytes(bytes(data))  # same size, new mtime and ctime
    with pytest.raises(IntegrityError, match="left in place"):
        verify_file(path, digest, "test file", delete=False)


def test_default_model_resolution_costs_nothing_once_verified() -> None:
    registry = load_registry()
    packaged = registry.entries[registry.default].packaged_path()
    assert packaged is not None
    resolve_model(None)
    assert _opens_of(packaged, lambda: resolve_model(None)) == 0
