"""ONNX Runtime graphs give the same outputs and scores as the torch network (fp32: within 1e-4)."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest
import torch

from mmrealsr_plugin.export.onnx import META_CONFIG, META_GRAPH, META_PRECISION, META_SCALE, META_SHA256, read_metadata
from mmrealsr_plugin.integrity import sha256_of

TOLERANCE = 1e-4
TINY_SHAPES = [(1, 16, 16), (2, 17, 23), (1, 33, 9), (2, 40, 31), (1, 7, 5)]


def _session(path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _inputs(batch: int, height: int, width: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    image = rng.random((batch, 3, height, width), dtype=np.float32)
    scores = rng.random((batch, 2), dtype=np.float32)
    return image, scores


def _torch(model, image: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with torch.inference_mode():
        x = torch.from_numpy(image)
        return model(x, torch.from_numpy(scores)).numpy(), model.estimate(x).numpy()


@pytest.mark.parametrize("shape", TINY_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_tiny_fp32_matches_torch(tiny_export, shape) -> None:
    image, scores = _inputs(*shape, seed=sum(shape))
    expected_out, expected_scores = _torch(tiny_export.torch_model, image, scores)
    (out,) = _session(tiny_export.generator).run(None, {"image": image, "scores": scores})
    (est,) = _session(tiny_export.estimator).run(None, {"image": image})
    assert out.shape == (shape[0], 3, shape[1] * 4, shape[2] * 4)
    assert est.shape == (shape[0], 2)
    assert np.max(np.abs(out - expected_out)) <= TOLERANCE
    assert np.max(np.abs(est - expected_scores)) <= TOLERANCE


def test_tiny_fp16_variant_is_close_and_keeps_float32_io(tiny_export) -> None:
    image, scores = _inputs(2, 19, 21, seed=5)
    expected_out, expected_scores = _torch(tiny_export.torch_model, image, scores)
    (out,) = _session(tiny_export.fp16_generator).run(None, {"image": image, "scores": scores})
    (est,) = _session(tiny_export.fp16_estimator).run(None, {"image": image})
    assert out.dtype == np.float32 and est.dtype == np.float32
    scale = max(1.0, float(np.max(np.abs(expected_out))))
    assert np.max(np.abs(out - expected_out)) <= 1e-2 * scale
    assert np.max(np.abs(est - expected_scores)) <= 1e-2


def test_metadata_describes_the_source(tiny_export) -> None:
    digest = sha256_of(tiny_export.weights)
    for path, kind, precision in (
        (tiny_export.generator, "generator", "float32"), (tiny_export.estimator, "estimator", "float32"),
        (tiny_export.fp16_generator, "generator", "float16"),
    ):
        meta = read_metadata(path)
        assert meta[META_GRAPH] == kind and meta[META_PRECISION] == precision
        assert meta[META_SHA256] == digest
        assert meta[META_SCALE] == "4"
        assert json.loads(meta[META_CONFIG]) == tiny_export.torch_model.config.to_dict()


def test_graphs_are_single_file_opset18_with_dynamic_axes(tiny_export) -> None:
    import onnx

    model = onnx.load(str(tiny_export.generator), load_external_data=False)
    assert not list(tiny_export.generator.parent.glob("*.data"))
    assert max(op.version for op in model.opset_import if op.domain in ("", "ai.onnx")) >= 18
    image = {i.name: i for i in model.graph.input}["image"]
    dims = image.type.tensor_type.shape.dim
    assert [d.dim_value for d in dims][1] == 3
    assert all(d.dim_param for i, d in enumerate(dims) if i != 1)


@pytest.mark.slow
def test_official_config_matches_torch(official_export) -> None:
    image, scores = _inputs(1, 20, 27, seed=11)
    expected_out, expected_scores = _torch(official_export.torch_model, image, scores)
    (out,) = _session(official_export.generator).run(None, {"image": image, "scores": scores})
    (est,) = _session(official_export.estimator).run(None, {"image": image})
    assert np.max(np.abs(out - expected_out)) <= TOLERANCE
    assert np.max(np.abs(est - expected_scores)) <= TOLERANCE
    assert float(np.std(expected_out)) > 1e-3  # the random model is not degenerate
