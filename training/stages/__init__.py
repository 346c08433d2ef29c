"""Training stages: one class each, selected by ``run.stage`` (see :mod:`.base` for what a stage is)."""

from __future__ import annotations

from .base import MMRealSRStage, Stage
from .estimator import EstimatorStage
from .generator import GanStage, GeneratorStage

STAGES: dict[str, type[Stage]] = {stage.name: stage for stage in (GeneratorStage, GanStage, EstimatorStage)}
"""``run.stage`` -> the stage class; a new stage adds itself here (and its name to ``run.stage``'s choices)."""

__all__ = ["STAGES", "EstimatorStage", "GanStage", "GeneratorStage", "MMRealSRStage", "Stage"]
