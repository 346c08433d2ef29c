"""Training stages: one class each, selected by ``run.stage`` (see :mod:`.base` for what a stage is)."""

from __future__ import annotations

from .base import GeneratorHolder, MMRealSRStage, Stage
from .distill import DistillStage
from .estimator import EstimatorStage
from .generator import GanStage, GeneratorStage
from .severity import SeverityStage

STAGES: dict[str, type[Stage]] = {
    stage.name: stage for stage in (GeneratorStage, GanStage, EstimatorStage, SeverityStage, DistillStage)
}
"""``run.stage`` -> the stage class; a new stage adds itself here (and its name to ``run.stage``'s choices)."""

__all__ = ["STAGES", "DistillStage", "EstimatorStage", "GanStage", "GeneratorHolder", "GeneratorStage", "MMRealSRStage",
           "SeverityStage", "Stage"]
