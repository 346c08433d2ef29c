"""ComfyUI nodes for MM-RealSR, in ComfyUI's V3 node schema (``comfy_api.latest``, ComfyUI >= 0.3.48).

ComfyUI loads the pack through the repository root's ``__init__.py``, which re-exports
:func:`comfy_entrypoint`; the V3 classes (``schema``) are imported only when ComfyUI calls it, so importing
this package needs torch and mmrealsr_plugin but not ComfyUI (tests, docs tools, ComfyUI-Manager's scanners).
The pack registers through ``comfy_entrypoint`` only: a module that also exports ``NODE_CLASS_MAPPINGS`` is
loaded by ComfyUI's V1 path, which ignores the entry point.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from comfy_api.latest import ComfyExtension


async def comfy_entrypoint() -> ComfyExtension:
    """ComfyUI's V3 entry point: the extension listing this pack's nodes."""
    from .schema import MMRealSRExtension

    return MMRealSRExtension()


__all__ = ["comfy_entrypoint"]
