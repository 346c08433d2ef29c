"""ComfyUI entry point: this repository's root is the node pack folder (custom_nodes/<this repo>).

ComfyUI imports this folder as a package under a name of its own, so the nodes are imported
relatively (ComfyUI has its own top-level ``nodes`` module). The node code calls the core library
``mmrealsr_plugin``, which must be pip-installed into ComfyUI's Python; ComfyUI-Manager and
``comfy node install`` do that from requirements.txt.
"""

import logging
import tomllib
from importlib import metadata
from pathlib import Path

if not __package__:
    # Executed as a plain file, not as ComfyUI's package: e.g. pytest collecting a checkout whose folder name
    # is not an identifier (``mmrealsr-plugin``) imports this file on its own. Relative imports cannot work
    # there and no ComfyUI reads the mappings.
    NODE_CLASS_MAPPINGS: dict = {}
    NODE_DISPLAY_NAME_MAPPINGS: dict = {}
else:
    try:
        from .nodes.comfyui import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
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

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
