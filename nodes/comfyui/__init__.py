"""ComfyUI nodes for MM-RealSR (V1 node API, so they load on every ComfyUI version).

Importing this package needs torch and mmrealsr_plugin but not ComfyUI: ComfyUI's own modules
are imported lazily (see ``host``). ComfyUI loads the pack through the repository root's
``__init__.py``, which re-exports the mappings below.
"""

from __future__ import annotations

from .estimate import MMRealSREstimate
from .grid import MMRealSRModulationGrid
from .loader import LoadMMRealSRModel
from .restore import MMRealSRRestore

NODE_CLASS_MAPPINGS = {
    "LoadMMRealSRModel": LoadMMRealSRModel,
    "MMRealSREstimateDegradation": MMRealSREstimate,
    "MMRealSRRestore": MMRealSRRestore,
    "MMRealSRModulationGrid": MMRealSRModulationGrid,
}

NODE_DISPLAY_NAME_MAPPINGS = {
    "LoadMMRealSRModel": "Load MM-RealSR Model",
    "MMRealSREstimateDegradation": "Estimate Degradation (MM-RealSR)",
    "MMRealSRRestore": "MM-RealSR Restore",
    "MMRealSRModulationGrid": "MM-RealSR Modulation Grid",
}

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
