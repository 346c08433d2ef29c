"""``mmrealsr gimp install`` / ``uninstall``: copy the GIMP 3 plug-in into a profile, with how to reach the worker.

GIMP runs plug-ins in its own Python, which cannot import torch from this environment. ``install`` copies the
plug-in folder into a GIMP 3 profile and records in a JSON file next to it the command that starts this
environment's worker (:mod:`.worker`).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
from importlib import resources
from pathlib import Path

from mmrealsr_plugin import settings
from mmrealsr_plugin.atomic import atomic_path

from .mmrealsr_gimp.channel import CONFIG_NAME, PROTOCOL

PLUGIN_NAME = "mmrealsr_gimp"
PLUGIN_FILES = ("mmrealsr_gimp.py", "channel.py", "gimp_pixels.py", "live_preview.py")
"""What is copied into the profile (the package's __init__.py is not needed by GIMP)."""


def default_profile() -> Path:
    """GIMP 3's user profile: ``$XDG_CONFIG_HOME/GIMP/3.0`` or ``~/.config/GIMP/3.0``."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "GIMP" / "3.0"


def plugin_folder(profile: Path | None) -> Path:
    return (profile or default_profile()).expanduser() / "plug-ins" / PLUGIN_NAME


def worker_command() -> list[str]:
    """This interpreter (the venv's own path, not resolved, so the venv stays active) running the worker module,
    which imports only what one call needs."""
    return [sys.executable, "-m", "mmrealsr_plugin.nodes.gimp.worker"]


def install(profile: Path | None, model: str | None, device: str | None) -> Path:
    """Copy the plug-in into ``profile`` and record how to reach this environment; returns the folder."""
    source = resources.files(__package__) / PLUGIN_NAME
    target = plugin_folder(profile)
    target.mkdir(parents=True, exist_ok=True)
    for name in PLUGIN_FILES:
        with atomic_path(target / name) as tmp:
            tmp.write_bytes((source / name).read_bytes())
    main = target / f"{PLUGIN_NAME}.py"
    main.chmod(main.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH | stat.S_IRGRP | stat.S_IROTH)
    config = {"protocol": PROTOCOL, "command": worker_command(), "model": model, "device": device,
              "max_pixels": settings.max_pixels(), "warm": True}
    with atomic_path(target / CONFIG_NAME) as tmp:
        tmp.write_text(json.dumps(config, indent=2) + "\n", "utf-8")
    return target


def uninstall(profile: Path | None) -> Path | None:
    """Remove the plug-in folder (only one that holds our config); returns it, or None if absent."""
    target = plugin_folder(profile)
    if not target.exists():
        return None
    if not (target / CONFIG_NAME).is_file():
        raise FileExistsError(
            f"{target} was not installed by `mmrealsr gimp install` (no {CONFIG_NAME}); remove it by hand"
        )
    shutil.rmtree(target)
    return target
