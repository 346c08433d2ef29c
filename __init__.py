"""ComfyUI entry point: this repository's root is the node pack folder (custom_nodes/<this repo>).

The nodes live in the installed package ``mmrealsr_plugin`` (nodes/comfyui/ in this repository), so
the project must be pip-installed into ComfyUI's Python; ComfyUI-Manager and ``comfy node install``
do that from requirements.txt. Only this file is imported by ComfyUI directly.
"""

import logging
import tomllib
from pathlib import Path

try:
    import mmrealsr_plugin
    from mmrealsr_plugin.nodes.comfyui import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
except ModuleNotFoundError as exc:
    raise ImportError(
        f"MM-RealSR nodes: {exc.name!r} is not installed in ComfyUI's Python. Install the pack's requirements with "
        f"that Python: `python -m pip install -r requirements.txt` run inside {Path(__file__).parent} "
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
    if wanted != mmrealsr_plugin.__version__:
        logging.warning(
            "MM-RealSR nodes: this folder is version %s but ComfyUI's Python has mmrealsr-plugin %s installed; "
            "rerun `python -m pip install -r requirements.txt` inside %s",
            wanted, mmrealsr_plugin.__version__, pyproject.parent,
        )


_warn_on_version_mismatch()

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
