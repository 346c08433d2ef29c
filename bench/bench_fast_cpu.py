"""Candidates for a fast CPU path (issue 15 item 1) and the fp32 default backend (item 2), measured in one run.

The packaged default model (official size), centre crops of real photos (``eval_real/RealSet65``, even-numbered
files; calibration uses the odd-numbered ones), 2 threads. Every candidate's time is a ratio to spandrel's fp32
time on the same crops in the same run (round-robin), and its output is compared with the fp32 path (clipped to
[0, 1], in 1/255 units: mean, p99, max) at three knob settings. Bounds: time <= 0.5x spandrel, mean <= 1/255,
p99 <= 4/255.

Candidates: torch fp32 and ONNX Runtime fp32 (the engine, whole crop), torch bfloat16, ONNX Runtime static int8
(QDQ, per-channel int8 weights, uint8 activations) with several choices of what stays float and how activations
are calibrated, with and without cross-layer equalization of every dense block first, ONNX Runtime dynamic int8
(ConvInteger), and two exact rewrites of one dense block timed alone (fused partial convolutions without
concatenation; Winograd F(4x4, 3x3), two ways). Diagnostics (accuracy only): the trunk's weights rounded to int8 as static
quantization rounds them (and per 3x3 kernel), or perturbed by relative Gaussian noise, with float activations; and
uint8 activations with 16-bit weights: each side's share of the error.

    python bench/bench_fast_cpu.py --size 96 --crops 3
    python bench/bench_fast_cpu.py --rewrites-only 64 128 192 384     # the exact rewrites alone, by size
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402

PHOTOS = Path("/work/shared/data/eval_real/RealSet65")
KNOBS = ((0.0, 0.0), (0.5, 0.5), (1.0, 1.0))
CALIBRATION_KNOBS = ((0.0, 0.0), (0.5, 0.5), (1.0, 1.0), (0.2, 0.8), (0.8, 0.2))


def centre_crops(files: list[Path], size: int) -> list[np.ndarray]:
    from mmrealsr_plugin.imageio import read_image

    crops = []
    for path in files:
        rgb = read_image(path).rgb()
        h, w = rgb.shape[:2]
        if min(h, w) >= size:
            crops.append(np.ascontiguousarray(rgb[(h - size) // 2 : (h + size) // 2, (w - size) // 2 : (w + size) // 2]))
    return crops


DENSE_CONV = re.compile(r"body\.(\d+)\.rdb(\d)\.conv(\d)")
DENSE_SLICES = ((0, 64), (64, 96), (96, 128), (128, 160), (160, 192))
"""Channels of a dense block's last concatenation: the block input x (the residual stream), then x1..x4."""


def position(weight: str) -> tuple[int, int, int] | None:
    """(RRDB, dense block, conv) of a trunk convolution's weight initializer; None outside the trunk."""
    match = DENSE_CONV.search(weight)
    return tuple(map(int, match.groups())) if match else None  # type: ignore[return-value]


def calibration_feeds(calibration: list[np.ndarray]) -> list[dict[str, np.ndarray]]:
    return [{"image": np.ascontiguousarray(c.transpose(2, 0, 1)[None]),
             "scores": np.array([CALIBRATION_KNOBS[i % len(CALIBRATION_KNOBS)]], np.float32)}
            for i, c in enumerate(calibration)]


def dense_blocks(graph: Any) -> dict[tuple[int, int], dict[str, Any]]:
    """Each dense block's five convolutions, its input tensor x and the concatenations that read x."""
    blocks: dict[tuple[int, int], dict[str, Any]] = {}
    for node in graph.node:
        where = position(node.input[1]) if node.op_type == "Conv" else None
        if where:
            blocks.setdefault(where[:2], {"convs": [None] * 5})["convs"][where[2] - 1] = node
    for block in blocks.values():
        x, feeds = block["convs"][0].input[0], {conv.input[0] for conv in block["convs"]}
        block["x"] = x
        block["concats"] = [n for n in graph.node if n.op_type == "Concat" and n.input[0] == x and n.output[0] in feeds]
        if None in block["convs"] or len(block["concats"]) != 4:
            raise RuntimeError("the exported graph's dense blocks are not five convs reading four concatenations of x")
    return blocks


def dense_input_ranges(fp32: Path, folder: Path, feeds: list[dict[str, np.ndarray]]) -> dict[tuple[int, int], np.ndarray]:
    """Per-channel max |value| of every dense block's conv5 input (x, x1..x4) over the calibration feeds."""
    import onnx

    from mmrealsr_plugin.backends.onnx_runner import create_session

    model = onnx.load(str(fp32))
    blocks = dense_blocks(model.graph)
    names = {key: block["convs"][4].input[0] for key, block in blocks.items()}
    for name in names.values():
        model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    probe = folder / "dense_inputs.onnx"
    onnx.save(model, str(probe))
    session = create_session(probe, "cpu")
    ranges: dict[tuple[int, int], np.ndarray] = {}
    for feed in feeds:
        for key, value in zip(names, session.run(list(names.values()), feed)):
            peak = np.abs(value).max(axis=(0, 2, 3))
            ranges[key] = np.maximum(ranges[key], peak) if key in ranges else peak
    return ranges


def equalized_generator(fp32: Path, folder: Path, feeds: list[dict[str, np.ndarray]]) -> Path:
    """The same function with every dense block cross-layer equalized, ready for per-tensor int8 activations.

    Each channel c of a block's concatenated input (x, x1..x4) is divided by s_c = sqrt(range_c / weight_c): range_c
    its calibrated max |value|, weight_c the largest |weight| that reads it (relative to each consumer's median
    column), so activation and weight ranges meet halfway (DFQ's balance). x1..x4 are divided inside the convs that
    make them (LeakyReLU is positively homogeneous), x by one per-channel Mul feeding the block's convolutions (the
    residual add keeps the unscaled x); every consumer's matching input weights are multiplied by s_c.
    """
    import onnx
    from onnx import numpy_helper

    target = folder / "equalized.onnx"
    if target.is_file():
        return target
    ranges = dense_input_ranges(fp32, folder, feeds)
    model = onnx.load(str(fp32))
    weights = {init.name: init for init in model.graph.initializer}
    for key, block in dense_blocks(model.graph).items():
        arrays = [[numpy_helper.to_array(weights[conv.input[i]]).copy() for i in (1, 2)] for conv in block["convs"]]
        column = np.zeros(192, np.float32)
        for w, _ in arrays:
            peak = np.abs(w).max(axis=(0, 2, 3))
            column[: len(peak)] = np.maximum(column[: len(peak)], peak / np.median(peak))
        s = np.sqrt(np.maximum(ranges[key], 1e-3) / np.maximum(column, 1e-3))
        s = (s / np.median(s)).astype(np.float32)
        for k, (conv, (w, bias)) in enumerate(zip(block["convs"], arrays)):
            w *= s[: w.shape[1]][None, :, None, None]
            if k < 4:
                produced = s[DENSE_SLICES[k + 1][0] : DENSE_SLICES[k + 1][1]]
                w /= produced[:, None, None, None]
                bias /= produced
            weights[conv.input[1]].CopyFrom(numpy_helper.from_array(w, conv.input[1]))
            weights[conv.input[2]].CopyFrom(numpy_helper.from_array(bias, conv.input[2]))
        tag = "_".join(map(str, key))
        model.graph.initializer.append(numpy_helper.from_array((1 / s[:64]).reshape(1, 64, 1, 1), f"equalize_{tag}"))
        scaled = f"equalized_x_{tag}"
        first = list(model.graph.node).index(block["convs"][0])
        model.graph.node.insert(first, onnx.helper.make_node("Mul", [block["x"], f"equalize_{tag}"], [scaled]))
        for node in (block["convs"][0], *block["concats"]):
            node.input[0] = scaled
    onnx.save(model, str(target))
    return target


def perturbed_weights(source: Path, folder: Path, name: str, how: str) -> Path:
    """Diagnostics, float activations: every trunk convolution's weights rounded to per-channel symmetric int8
    (``how="int8"``, what static int8 does to them), to int8 with one scale per 3x3 kernel (``"int8_kernel"``, finer
    than any int8 convolution kernel offers) or multiplied by 1 + eps * N(0, 1) (``"noise:EPS"``)."""
    import onnx
    from onnx import numpy_helper

    target = folder / f"{name}.onnx"
    if target.is_file():
        return target
    model = onnx.load(str(source))
    weights = {init.name: init for init in model.graph.initializer}
    rng = np.random.default_rng(0)
    for node in model.graph.node:
        if node.op_type != "Conv" or position(node.input[1]) is None:
            continue
        w = numpy_helper.to_array(weights[node.input[1]])
        if how.startswith("int8"):
            step = (np.abs(w).max(axis=(2, 3), keepdims=True) if how == "int8_kernel"
                    else np.abs(w).reshape(len(w), -1).max(1)[:, None, None, None]) / 127
            w = np.round(w / np.maximum(step, 1e-12)) * step
        else:
            w = w * (1 + float(how.split(":")[1]) * rng.standard_normal(w.shape))
        weights[node.input[1]].CopyFrom(numpy_helper.from_array(w.astype(np.float32), node.input[1]))
    onnx.save(model, str(target))
    return target


def quantized_generator(source: Path, folder: Path, name: str, feeds: list[dict[str, np.ndarray]], method: str,
                        keep_float: str, weight_type: str = "QInt8") -> Path:
    """An int8 QDQ copy of a generator graph; ``keep_float``: which convolutions stay float. ``weight_type="QInt16"``
    isolates the activations' share of the error (ORT then runs those convolutions in float: accuracy only)."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType
    from onnxruntime.quantization import quantize_static

    target = folder / f"{name}.onnx"
    if target.is_file():
        return target
    graph = onnx.load(str(source), load_external_data=False)
    convs = [(node.name, node.input[1]) for node in graph.graph.node if node.op_type == "Conv"]
    quantized = {
        "nothing": lambda p: True,  # every node type, every layer
        "trunk": lambda p: p is not None,
        "conv1234": lambda p: p is not None and p[2] != 5,
        "conv234": lambda p: p is not None and p[2] in (2, 3, 4),
        "conv1": lambda p: p is not None and p[2] == 1,
    }[keep_float]
    ops = None if keep_float == "nothing" else ["Conv"]
    exclude = [] if keep_float == "nothing" else [n for n, w in convs if not quantized(position(w))]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter(feeds)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.items, None)

    extra = {"CalibPercentile": 99.99} if method == "percentile" else {}
    quantize_static(str(source), str(target), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=getattr(QuantType, weight_type), op_types_to_quantize=ops,
                    nodes_to_exclude=exclude, extra_options=extra,
                    calibrate_method={"minmax": CalibrationMethod.MinMax,
                                      "percentile": CalibrationMethod.Percentile}[method])
    return target


def dynamic_generator(fp32: Path, folder: Path) -> Path:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    target = folder / "dynamic_int8.onnx"
    if not target.is_file():
        quantize_dynamic(str(fp32), str(target), op_types_to_quantize=["Conv"], weight_type=QuantType.QUInt8)
    return target


def dense_block_rewrites(size: int, repeats: int) -> dict[str, float]:
    """Time one official-width dense block (64 features, growth 32) three ways; exact rewrites, max abs diff."""
    from torch.nn import functional as F

    from mmrealsr_plugin.archs.mmrealsr.blocks import ResidualDenseBlock

    torch.manual_seed(0)
    block = ResidualDenseBlock(64, 32).eval().to(memory_format=torch.channels_last)
    convs = [block.conv1, block.conv2, block.conv3, block.conv4, block.conv5]
    widths, starts, outs = [64, 32, 32, 32, 32], [0, 64, 96, 128, 160], [32, 32, 32, 32, 64]
    # fused: the part of the input made by step j feeds convs j..4 at once (one wide conv, no concatenation)
    fused = []
    for j in range(5):
        conv = torch.nn.Conv2d(widths[j], sum(outs[j:]), 3, 1, 1, bias=j == 0)
        conv.weight.data = torch.cat([convs[k].weight[:, starts[j] : starts[j] + widths[j]] for k in range(j, 5)])
        if j == 0:
            conv.bias.data = torch.cat([c.bias for c in convs])
        fused.append(conv.eval().to(memory_format=torch.channels_last))
    edges = [0, 32, 64, 96, 128, 192]

    def fused_block(x: torch.Tensor) -> torch.Tensor:
        acc = fused[0](x)
        for j in range(1, 5):
            acc[:, edges[j] :] += fused[j](F.leaky_relu(acc[:, edges[j - 1] : edges[j]], 0.2))
        return acc[:, 128:] * 0.2 + x

    # Winograd F(4x4, 3x3): each feature map transformed once, the dense input kept in the transformed domain
    f64 = torch.float64
    bt = torch.tensor([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0], [0, -2, -1, 2, 1, 0],
                       [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]], dtype=f64)
    g = torch.tensor([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6], [1 / 24, 1 / 12, 1 / 6],
                      [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]], dtype=f64)
    at = torch.tensor([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]], dtype=f64)
    k_in, k_out, k_w = torch.kron(bt, bt).float(), torch.kron(at, at).float(), torch.kron(g, g)
    weights = [(k_w @ c.weight.double().reshape(c.out_channels, c.in_channels, 9).permute(2, 1, 0)
                .reshape(9, -1)).reshape(36, c.in_channels, c.out_channels).float() for c in convs]

    def winograd_block(x: torch.Tensor) -> torch.Tensor:  # x: (B, H, W, C), H and W multiples of 4
        b, h, w, _ = x.shape
        th, tw, tiles = h // 4, w // 4, b * (h // 4) * (w // 4)
        dense = torch.empty(36, tiles, 192)
        padded = torch.zeros(b, h + 2, w + 2, 64)
        feats, filled = x, 0
        for k, conv in enumerate(convs):
            c = feats.shape[-1]
            padded[:, 1 : h + 1, 1 : w + 1, :c] = feats
            s = padded.stride()
            patches = padded[..., :c].as_strided((6, 6, b, th, tw, c), (s[1], s[2], s[0], 4 * s[1], 4 * s[2], 1))
            dense[:, :, filled : filled + c] = (k_in @ patches.reshape(36, tiles * c)).view(36, tiles, c)
            filled += c
            m = torch.bmm(dense[:, :, :filled], weights[k])
            y = (k_out @ m.view(36, -1)).view(4, 4, b, th, tw, -1).permute(2, 3, 0, 4, 1, 5).reshape(b, h, w, -1)
            y = y + conv.bias
            if k == 4:
                return y * 0.2 + x
            feats = F.leaky_relu(y, 0.2)
        raise AssertionError

    # the same Winograd with each feature map transformed by one strided 6x6 convolution (channels as the batch,
    # 36 fixed filters) straight into the layout the products read, the products summed per input piece (no dense
    # buffer), the bias added by the output transform's GEMM
    filters = k_in.view(36, 1, 6, 6)
    cuts = [0, 64, 96, 128, 160, 192]
    pieces = [[w[:, a:b].transpose(1, 2).contiguous() for a, b in zip(cuts, cuts[1 : 2 + k])] for k, w in enumerate(weights)]
    tiles = (size // 4) ** 2
    bias_rows = [c.bias.detach().repeat_interleave(tiles).view(1, -1) for c in convs]

    def winograd_strided_block(x: torch.Tensor) -> torch.Tensor:  # x: (1, C, H, W) contiguous, H and W multiples of 4
        h, w = x.shape[2:]

        def transform(f: torch.Tensor) -> torch.Tensor:  # (1, C, H, W) -> (36, C, tiles), a view
            c = f.shape[1]
            v = F.conv2d(F.pad(f, (1, 1, 1, 1)).view(c, 1, h + 2, w + 2), filters, stride=4)
            return v.view(c, 36, tiles).transpose(0, 1)

        transformed = [transform(x)]
        for k in range(5):
            m = torch.bmm(pieces[k][0], transformed[0])
            for u, v in zip(pieces[k][1:], transformed[1:]):
                m.baddbmm_(u, v)
            co = m.shape[1]
            y = torch.addmm(bias_rows[k], k_out, m.view(36, co * tiles)).view(4, 4, co, h // 4, w // 4)
            y = y.permute(2, 3, 0, 4, 1).reshape(1, co, h, w)
            if k == 4:
                return y * 0.2 + x
            transformed.append(transform(F.leaky_relu(y, 0.2)))
        raise AssertionError

    x = (torch.randn(1, 64, size, size) * 0.1).contiguous(memory_format=torch.channels_last)
    nhwc = x.permute(0, 2, 3, 1).contiguous()
    nchw = x.contiguous()
    with torch.inference_mode():
        reference = block(x)
        diffs = {"fused": float((fused_block(x) - reference).abs().max()),
                 "winograd": float((winograd_block(nhwc) - reference.permute(0, 2, 3, 1)).abs().max()),
                 "winograd_strided": float((winograd_strided_block(nchw) - reference).abs().max())}
        times = benchlib.interleaved({"dense_block": lambda: block(x), "fused": lambda: fused_block(x),
                                      "winograd": lambda: winograd_block(nhwc),
                                      "winograd_strided": lambda: winograd_strided_block(nchw)}, repeats, warmup=True)
    return {"size": size, "max_abs_diff": diffs,
            "time_over_dense_block": {k: round(v["min_s"] / times["dense_block"]["min_s"], 3) for k, v in times.items()},
            "timings": times}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=96, help="crop side in input pixels")
    parser.add_argument("--crops", type=int, default=3)
    parser.add_argument("--calibration", type=int, default=10, help="calibration crops (64 px)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--skip", nargs="*", default=[], help="candidates to leave out")
    parser.add_argument("--name", help="result file stem (default fast_cpu_SIZE)")
    parser.add_argument("--rewrites-only", type=int, nargs="+", metavar="SIZE",
                        help="only time the exact dense-block rewrites, at these feature-map sizes")
    args = parser.parse_args()
    benchlib.pin_threads(args.threads)
    if args.rewrites_only:
        info = benchlib.machine()
        benchlib.write_results(args.name or "fast_cpu_rewrites", {
            "benchmark": "exact rewrites of one official-width dense block vs the eager block (channels-last)",
            "command": " ".join(["python", "bench/bench_fast_cpu.py", *sys.argv[1:]]), "machine": info,
            "threads": args.threads, "rewrites": [dense_block_rewrites(size, 3) for size in args.rewrites_only]})
        return
    os.environ.setdefault("MMREALSR_ONNX_CACHE", str(benchlib.MODEL_CACHE / "onnx"))
    os.environ.setdefault("MMREALSR_DISABLE_PLUGIN_AUTOLOAD", "1")
    import spandrel

    from mmrealsr_plugin import engine
    from mmrealsr_plugin.backends.onnx_runner import OnnxRunner
    from mmrealsr_plugin.sources import resolve_model
    from mmrealsr_plugin.types import LoadedModel
    from mmrealsr_plugin.weights import read_state_dict

    info = benchlib.machine()
    weights, _ = resolve_model(None)
    photos = sorted(p for p in PHOTOS.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    crops = centre_crops(photos[0::2], args.size)[: args.crops]
    calibration = centre_crops(photos[1::2], 64)[: args.calibration]
    torch_model = engine.load_model(weights, backend="torch", device="cpu")
    bf16_model = engine.load_model(weights, backend="torch", device="cpu", precision="bfloat16")
    onnx_model = engine.load_model(weights, backend="onnx", device="cpu")
    reference = spandrel.ModelLoader(device="cpu").load_from_state_dict(read_state_dict(weights).tensors)
    reference.model.float().eval()
    fp32_graph = onnx_model.runner.paths["generator"]
    folder = fp32_graph.parent / "bench-int8"
    folder.mkdir(exist_ok=True)

    def onnx_variant(graph: Path) -> LoadedModel:
        runner = OnnxRunner(graph, onnx_model.runner.paths["estimator"], "cpu", "float32", torch_model.descriptor.config)
        return LoadedModel(torch_model.descriptor, runner)

    build_seconds: dict[str, float] = {}
    candidates: dict[str, LoadedModel] = {"torch_fp32": torch_model, "onnx_fp32": onnx_model, "torch_bf16": bf16_model}
    feeds = calibration_feeds(calibration)
    sources = {"fp32": lambda: fp32_graph, "equalized": lambda: equalized_generator(fp32_graph, folder, feeds)}
    recipes = {"int8_all_minmax": ("minmax", "nothing", "fp32"), "int8_trunk_minmax": ("minmax", "trunk", "fp32"),
               "int8_trunk_percentile": ("percentile", "trunk", "fp32"),
               "int8_conv234_minmax": ("minmax", "conv234", "fp32"), "int8_conv1_minmax": ("minmax", "conv1", "fp32"),
               "int8_trunk_equalized": ("minmax", "trunk", "equalized"),
               "int8_trunk_equalized_percentile": ("percentile", "trunk", "equalized"),
               "int8_conv1234_equalized": ("minmax", "conv1234", "equalized")}
    for name, (method, keep, source) in recipes.items():
        if name in args.skip:
            continue
        start = time.perf_counter()
        candidates[name] = onnx_variant(quantized_generator(sources[source](), folder, name, feeds, method, keep))
        build_seconds[name] = round(time.perf_counter() - start, 1)
    weight_diagnostics = {"weights_int8_trunk": ("fp32", "int8"),
                          "weights_int8_trunk_equalized": ("equalized", "int8"),
                          "weights_int8_per_kernel_trunk": ("fp32", "int8_kernel"),
                          "weights_noise_0.1pct": ("fp32", "noise:0.001"), "weights_noise_0.3pct": ("fp32", "noise:0.003")}
    diagnostics = {name: onnx_variant(perturbed_weights(sources[source](), folder, name, how))
                   for name, (source, how) in weight_diagnostics.items() if name not in args.skip}
    for name, source in (("activations_uint8_trunk", "fp32"), ("activations_uint8_trunk_equalized", "equalized")):
        if name not in args.skip:  # 16-bit weights: the uint8 activations' error alone
            graph = quantized_generator(sources[source](), folder, name, feeds, "minmax", "trunk", "QInt16")
            diagnostics[name] = onnx_variant(graph)
    if "int8_dynamic" not in args.skip:
        candidates["int8_dynamic"] = onnx_variant(dynamic_generator(fp32_graph, folder))
    candidates = {k: v for k, v in candidates.items() if k not in args.skip}

    def spandrel_run(crop: np.ndarray, knobs: tuple[float, float]) -> np.ndarray:
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(crop.transpose(2, 0, 1)[None]))
            return reference(x).clamp(0, 1)[0].permute(1, 2, 0).numpy()  # spandrel estimates the knobs itself

    def engine_run(model: LoadedModel, crop: np.ndarray, knobs: tuple[float, float]) -> np.ndarray:
        return engine.restore(model, crop, blur=knobs[0], noise=knobs[1], tile=0).image

    for model in candidates.values():  # first-run allocations at a cheap size
        engine_run(model, crops[0][:16, :16], KNOBS[0])
    spandrel_run(crops[0][:16, :16], KNOBS[0])
    diffs: dict[str, list[np.ndarray]] = {name: [] for name in candidates if name != "torch_fp32"}
    seconds: dict[str, float] = {name: 0.0 for name in ("spandrel", *candidates)}
    exacts: list[np.ndarray] = []
    for _ in range(args.repeats):
        for crop in crops:
            for knobs in KNOBS:
                start = time.perf_counter()
                spandrel_run(crop, knobs)
                seconds["spandrel"] += time.perf_counter() - start
                exact = None
                for name, model in candidates.items():
                    start = time.perf_counter()
                    out = engine_run(model, crop, knobs)
                    seconds[name] += time.perf_counter() - start
                    if name == "torch_fp32":
                        exact = out
                        exacts.append(out)
                    else:
                        diffs[name].append(np.abs(out - exact).ravel() * 255)
    for name, model in diagnostics.items():  # accuracy only, not speed candidates
        pairs = zip(exacts, [(crop, knobs) for crop in crops for knobs in KNOBS])
        diffs[name] = [np.abs(engine_run(model, crop, knobs) - exact).ravel() * 255 for exact, (crop, knobs) in pairs]

    def accuracy(name: str) -> dict[str, float]:
        d = np.concatenate(diffs[name])
        return {"mean_255": round(float(d.mean()), 3), "p99_255": round(float(np.percentile(d, 99)), 3),
                "max_255": round(float(d.max()), 1)}

    report = {}
    for name, took in seconds.items():
        row: dict[str, float] = {"time_over_spandrel": round(took / seconds["spandrel"], 3), "seconds": round(took, 2)}
        if "onnx_fp32" in seconds:
            row["time_over_onnx_fp32"] = round(took / seconds["onnx_fp32"], 3)
        if name in diffs:
            row.update(accuracy(name))
            row["meets_bounds"] = bool(row["time_over_spandrel"] <= 0.5 and row["mean_255"] <= 1 and row["p99_255"] <= 4)
        report[name] = row
    rewrites = dense_block_rewrites(args.size, 3) if "rewrites" not in args.skip else None
    benchlib.write_results(args.name or f"fast_cpu_{args.size}", {
        "benchmark": "fast CPU path candidates vs spandrel fp32 and vs the fp32 output, packaged default model",
        "command": " ".join(["python", "bench/bench_fast_cpu.py", *sys.argv[1:]]),
        "machine": info, "threads": args.threads, "crop": args.size, "crops": len(crops), "knobs": KNOBS,
        "calibration": {"crops": len(calibration), "size": 64, "knobs": CALIBRATION_KNOBS,
                        "source": "odd-numbered RealSet65 photos (evaluation uses the even-numbered)"},
        "int8_build_seconds": build_seconds,
        "candidates": report, "diagnostics": {name: accuracy(name) for name in diagnostics},
        "dense_block_rewrites": rewrites,
    })


if __name__ == "__main__":
    main()
