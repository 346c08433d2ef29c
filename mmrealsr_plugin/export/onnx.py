"""Export MM-RealSR to ONNX: the generator and the estimator as two single-file graphs.

Two graphs, not one, because the engine estimates the scores once on the whole image and then
holds them fixed over every tile: the generator takes ``image`` (B, 3, H, W) and ``scores``
(B, 2) = [blur, noise]; the estimator takes ``image`` and returns ``scores``. Batch, height and
width are dynamic. Inputs and outputs are float32 in both variants; the float16 variant casts
inside the graph, so callers never change their arrays.

File naming (what the ONNX backend looks for): ``<stem>.generator.onnx`` beside
``<stem>.estimator.onnx``; the float16 variant uses the stem ``<stem>.fp16``. Each graph carries
in its ``metadata_props`` the architecture config (JSON), the scale, the precision and the
sha256 of the checkpoint it came from.
"""

from __future__ import annotations

import json
import logging
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn

from ..archs.mmrealsr import MMRealSR, MMRealSRConfig
from ..atomic import atomic_path
from ..errors import ExportError

GraphKind = Literal["generator", "estimator"]
ExportPrecision = Literal["float32", "float16"]

FORMAT_VERSION = "1"
"""Bumped when the graph interface changes; cached exports with another version are redone."""
DEFAULT_OPSET = 18
"""Opset 17 exported by dynamo fails in ONNX Runtime (``Split`` num_outputs); 18 is the minimum."""

META_CONFIG = "mmrealsr_config"
META_SCALE = "mmrealsr_scale"
META_SHA256 = "mmrealsr_source_sha256"
META_GRAPH = "mmrealsr_graph"
META_PRECISION = "mmrealsr_precision"
META_FORMAT = "mmrealsr_onnx_format"

GENERATOR_SUFFIX = ".generator.onnx"
ESTIMATOR_SUFFIX = ".estimator.onnx"
FP16_TAG = ".fp16"

CHECK_TOLERANCE = {"float32": 1e-4, "float16": 5e-2}
"""Max abs difference between ORT and torch accepted by the post-export check (float16: relative to the output range)."""


@dataclass(frozen=True)
class ExportedPair:
    """The two graph files of one export."""

    generator: Path
    estimator: Path
    precision: ExportPrecision
    max_abs_diff: dict[str, float] | None = None
    """Post-export ORT-vs-torch check per graph; None when the check was skipped."""


def graph_paths(output_dir: str | Path, stem: str, precision: ExportPrecision = "float32") -> tuple[Path, Path]:
    """Where an export of ``stem`` at ``precision`` goes: (generator, estimator)."""
    base = Path(output_dir) / (stem + (FP16_TAG if precision == "float16" else ""))
    return base.with_name(base.name + GENERATOR_SUFFIX), base.with_name(base.name + ESTIMATOR_SUFFIX)


def sibling_estimator(generator: Path) -> Path:
    """The estimator graph that belongs to a ``<stem>.generator.onnx`` file."""
    name = generator.name
    if not name.endswith(GENERATOR_SUFFIX):
        raise ValueError(f"{generator}: a generator graph must be named <stem>{GENERATOR_SUFFIX}")
    return generator.with_name(name[: -len(GENERATOR_SUFFIX)] + ESTIMATOR_SUFFIX)


class _GeneratorGraph(nn.Module):
    """What the generator graph computes: float32 in, float32 out, network at its own dtype."""

    def __init__(self, model: MMRealSR, dtype: torch.dtype) -> None:
        super().__init__()
        self.model, self.dtype = model, dtype

    def forward(self, image: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        return self.model(image.to(self.dtype), scores.to(self.dtype)).float()


class _EstimatorGraph(nn.Module):
    def __init__(self, model: MMRealSR, dtype: torch.dtype) -> None:
        super().__init__()
        self.model, self.dtype = model, dtype

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.model.estimate(image.to(self.dtype)).float()


def _metadata(config: MMRealSRConfig, sha256: str, kind: GraphKind, precision: ExportPrecision) -> dict[str, str]:
    return {
        META_CONFIG: json.dumps(config.to_dict(), sort_keys=True),
        META_SCALE: str(config.scale),
        META_SHA256: sha256,
        META_GRAPH: kind,
        META_PRECISION: precision,
        META_FORMAT: FORMAT_VERSION,
    }


def read_metadata(path: str | Path) -> dict[str, str]:
    """The ``metadata_props`` of an ONNX file (reads the header and graph, not runtime state)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return {prop.key: prop.value for prop in model.metadata_props}


def _export_graph(
    module: nn.Module, example: tuple[torch.Tensor, ...], names: list[str], target: Path, opset: int,
    metadata: dict[str, str], align: int,
) -> None:
    """Trace ``module`` with dynamic batch/height/width, add metadata, write ``target`` atomically."""
    import onnx

    batch = torch.export.Dim("batch", min=1, max=1024)
    if align > 1:  # pixel-unshuffle needs sizes divisible by the factor: express H = align * h
        height = align * torch.export.Dim("h_units", min=1, max=16384 // align)
        width = align * torch.export.Dim("w_units", min=1, max=16384 // align)
    else:
        height = torch.export.Dim("height", min=1, max=16384)
        width = torch.export.Dim("width", min=1, max=16384)
    shapes: list[dict[int, object]] = [{0: batch, 2: height, 3: width}]
    if len(example) > 1:
        shapes.append({0: batch})
    with tempfile.TemporaryDirectory(prefix=".mmrealsr-export-", dir=target.parent) as tmp:
        raw = Path(tmp) / "graph.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            logging.getLogger("torch.onnx").setLevel(logging.ERROR)
            try:
                torch.onnx.export(
                    module, example, str(raw), dynamo=True, opset_version=opset, external_data=False,
                    input_names=names, output_names=["output"], dynamic_shapes=tuple(shapes), verbose=False,
                )
            except Exception as exc:
                raise ExportError(f"ONNX export of the {metadata[META_GRAPH]} failed: {exc}") from exc
        graph = onnx.load(str(raw))
    for key, value in metadata.items():
        entry = graph.metadata_props.add()
        entry.key, entry.value = key, value
    graph.producer_name = "mmrealsr-plugin"
    with atomic_path(target) as tmp_target:
        onnx.save(graph, str(tmp_target))


def _check(pair: ExportedPair, model: MMRealSR, align: int) -> dict[str, float]:
    """Run both graphs in ORT on a random input and compare with torch (the timm habit)."""
    import onnxruntime as ort

    generator = torch.Generator().manual_seed(0)
    size = 24 * align + align  # odd-ish size, different from the traced example
    image = torch.rand(2, model.config.in_channels, size, size - align, generator=generator)
    scores = torch.rand(2, model.config.num_degradation, generator=generator)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    diffs: dict[str, float] = {}
    with torch.inference_mode():
        expected_out = _GeneratorGraph(model, torch.float32)(image, scores).numpy()
        expected_scores = _EstimatorGraph(model, torch.float32)(image).numpy()
    for kind, path, feeds, expected in (
        ("generator", pair.generator, {"image": image.numpy(), "scores": scores.numpy()}, expected_out),
        ("estimator", pair.estimator, {"image": image.numpy()}, expected_scores),
    ):
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        try:
            (got,) = session.run(None, feeds)
        except Exception:
            if pair.precision == "float16":  # ORT's CPU kernels lack some float16 ops; the check needs CUDA then
                continue
            raise
        diff = float(np.max(np.abs(got - expected)))
        limit = CHECK_TOLERANCE[pair.precision] * max(1.0, float(np.max(np.abs(expected))))
        if not diff <= limit:
            raise ExportError(
                f"{path}: ONNX Runtime output differs from torch by {diff:.3g} (allowed {limit:.3g}); "
                "the export is wrong, please report it with the model's config"
            )
        diffs[kind] = diff
    return diffs


def export_onnx(
    model: MMRealSR,
    output_dir: str | Path,
    stem: str,
    *,
    source_sha256: str,
    precision: ExportPrecision = "float32",
    opset: int = DEFAULT_OPSET,
    check: bool = True,
) -> ExportedPair:
    """Export ``model`` to ``<output_dir>/<stem>[.fp16].{generator,estimator}.onnx``.

    :param source_sha256: sha256 of the checkpoint the weights came from (stored in the metadata).
    :param check: compare ONNX Runtime against torch on a random input after export.
    """
    if opset < 18:
        raise ExportError(f"opset {opset} is not supported: the dynamo exporter needs opset >= 18 for ONNX Runtime")
    if precision not in ("float32", "float16"):
        raise ExportError(f"precision must be float32 or float16 for ONNX export, got {precision!r}")
    dtype = torch.float16 if precision == "float16" else torch.float32
    net = MMRealSR(model.config)
    net.load_state_dict(model.state_dict())
    net = net.to(dtype).eval().requires_grad_(False)
    align = model.config.unshuffle
    generator_path, estimator_path = graph_paths(output_dir, stem, precision)
    generator_path.parent.mkdir(parents=True, exist_ok=True)
    image = torch.rand(2, model.config.in_channels, 16 * align, 20 * align)
    scores = torch.rand(2, model.config.num_degradation)
    config = model.config
    _export_graph(
        _GeneratorGraph(net, dtype), (image, scores), ["image", "scores"], generator_path, opset,
        _metadata(config, source_sha256, "generator", precision), align,
    )
    _export_graph(
        _EstimatorGraph(net, dtype), (image,), ["image"], estimator_path, opset,
        _metadata(config, source_sha256, "estimator", precision), align,
    )
    pair = ExportedPair(generator_path, estimator_path, precision)
    if not check:
        return pair
    diffs = _check(pair, net.float(), align)  # float16 graphs are checked against the float32 network
    return ExportedPair(generator_path, estimator_path, precision, diffs)


def export_checkpoint(
    path: str | Path,
    output_dir: str | Path,
    *,
    precisions: tuple[ExportPrecision, ...] = ("float32",),
    stem: str | None = None,
    opset: int = DEFAULT_OPSET,
    check: bool = True,
) -> list[ExportedPair]:
    """Export a weights file (.safetensors/.pth) at each precision; returns one pair per precision."""
    from ..integrity import sha256_of
    from ..weights import read_network

    path = Path(path)
    model = read_network(path)
    digest = sha256_of(path)
    name = stem or path.stem
    return [
        export_onnx(model, output_dir, name, source_sha256=digest, precision=p, opset=opset, check=check)
        for p in precisions
    ]
