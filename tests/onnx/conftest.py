"""Session-scoped exports: exporting is slow, so each graph pair is made once per test run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from mmrealsr_plugin.archs.mmrealsr import OFFICIAL_CONFIG, MMRealSR
from mmrealsr_plugin.cli import main as cli_main
from mmrealsr_plugin.export.onnx import graph_paths
from mmrealsr_plugin.testing import TINY_CONFIG, random_model
from mmrealsr_plugin.weights import read_network, save_safetensors

OFFICIAL_STD = 0.02
"""Weight spread that keeps a random 23-block official-size model's outputs finite and O(0.1)."""


@dataclass(frozen=True)
class Exported:
    weights: Path
    torch_model: MMRealSR
    generator: Path
    estimator: Path
    fp16_generator: Path | None = None
    fp16_estimator: Path | None = None


@pytest.fixture(scope="session")
def tiny_export(tmp_path_factory: pytest.TempPathFactory) -> Exported:
    """The tiny model exported through the CLI, float32 and float16 (two exports)."""
    folder = tmp_path_factory.mktemp("tiny-onnx")
    weights = save_safetensors(random_model(TINY_CONFIG, seed=3).state_dict(), folder / "tiny.safetensors",
                               config=TINY_CONFIG.to_dict())
    assert cli_main(["export-onnx", str(weights), str(folder / "out"), "--fp16"]) == 0
    generator, estimator = graph_paths(folder / "out", "tiny")
    fp16_generator, fp16_estimator = graph_paths(folder / "out", "tiny", "float16")
    model = read_network(weights)
    return Exported(weights, model, generator, estimator, fp16_generator, fp16_estimator)


@pytest.fixture(scope="session")
def official_export(tmp_path_factory: pytest.TempPathFactory) -> Exported:
    """An official-size model with random weights, exported once through the Python API (about 2 min)."""
    from mmrealsr_plugin.export.onnx import export_checkpoint

    folder = tmp_path_factory.mktemp("official-onnx")
    weights = save_safetensors(random_model(OFFICIAL_CONFIG, seed=1, std=OFFICIAL_STD).state_dict(),
                               folder / "official.safetensors", config=OFFICIAL_CONFIG.to_dict())
    (pair,) = export_checkpoint(weights, folder / "out")
    model = read_network(weights)
    return Exported(weights, model, pair.generator, pair.estimator)
