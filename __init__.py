"""ComfyUI entry point: this repository's root is the node pack folder (custom_nodes/<this repo>).

The pack uses ComfyUI's V3 schema and registers through ``comfy_entrypoint`` (ComfyUI >= 0.3.48); there is
deliberately no ``NODE_CLASS_MAPPINGS`` here, since ComfyUI would then take its V1 path and ignore the entry point.

ComfyUI imports this folder as a package under a name of its own, so the nodes are imported
relatively (ComfyUI has its own top-level ``nodes`` module). The node code calls the core library
``mmrealsr_plugin``, which must be pip-installed into ComfyUI's Python; ComfyUI-Manager and
``comfy node install`` do that from requirements.txt.
"""

import logging
import tomllib
from importlib import metadata
from pathlib import Path

if __package__:
    # Not when executed as a plain file: pytest collecting a checkout whose folder name is not an identifier
    # (``mmrealsr-plugin``) imports this file on its own, where relative imports cannot work and no ComfyUI
    # looks for the entry point.
    try:
        from .nodes.comfyui import comfy_entrypoint
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.startswith(__name__):  # a file of this pack is missing: a real bug
            raise
        raise ImportError(
            f"MM-RealSR nodes: {exc.name!r} is not installed in ComfyUI's Python. Install the pack's requirements "
            f"with that Python: `python -m pip install -r requirements.txt` run inside {Path(__file__).parent} "
            "(ComfyUI-Manager does this on install)."
        ) from exc

WEB_DIRECTORY = "./web"


def _warn_on_version_mismatch() -> None:
    """A pack folder updated without reinstalling runs stale node code: say so in ComfyUI's log."""
    pyproject = Path(__file__).with_name("pyproject.toml")
    try:
        wanted = tomllib.loads(pyproject.read_text("utf-8"))["project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return
    try:
        installed = metadata.version("mmrealsr-plugin")
    except metadata.PackageNotFoundError:
        return
    if wanted != installed:
        logging.warning(
            "MM-RealSR nodes: this folder is version %s but ComfyUI's Python has mmrealsr-plugin %s installed; "
            "rerun `python -m pip install -r requirements.txt` inside %s",
            wanted, installed, pyproject.parent,
        )


_warn_on_version_mismatch()

__all__ = ["WEB_DIRECTORY", "comfy_entrypoint"]
