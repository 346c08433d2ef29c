"""Read an ncnn RRDBNet (ESRGAN / Real-ESRGAN) ``.param`` + ``.bin`` pair into trunk tensors, without ncnn.

Format facts used (ncnn param format v2):

* ``.param`` is text: the magic ``7767517``, then ``layer_count blob_count``, then one line per layer:
  ``type name n_in n_out in_blobs... out_blobs... key=value ...``. Keys ``<= -23300`` hold arrays
  (``-23300-id=count,v1,v2...``). Convolution keys: 0 num_output, 1 kernel_w, 11 kernel_h, 2 dilation,
  3 stride, 4 pad, 5 bias_term, 6 weight_data_size, 8 int8 scale term, 9 fused activation (2 = LeakyReLU,
  slope in array 10).
* ``.bin`` holds, per weighted layer in ``.param`` order: a 4-byte little-endian storage tag
  (``0x01306B47`` = fp16 follows, padded to 4 bytes; ``0`` = fp32 follows) and the weights (out, in, kh, kw),
  then, when bias_term is set, the fp32 bias with no tag.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import ConversionError
from .rrdbnet import CONVS_PER_BLOCK, TAIL_KEYS, rrdb_trunk_keys

MAGIC = 7767517
TAG_FP16 = 0x01306B47
TAG_FP32 = 0
_OTHER_TAGS = {0x000D4B38: "int8-quantised", 0x0002C056: "raw fp32 with extra data"}
WEIGHTLESS_TYPES = frozenset({"Input", "Split", "Concat", "Eltwise", "BinaryOp", "Interp"})
"""Layer types an RRDBNet graph may contain besides Convolution; none stores data in the ``.bin``."""
LEAKY_RELU = 2


@dataclass(frozen=True)
class NcnnLayer:
    """One ``.param`` line: type, name, blob names and raw ``key -> value`` strings (arrays as lists)."""

    type: str
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    params: dict[int, str | list[str]] = field(default_factory=dict)
    line: int = 0

    def int_param(self, key: int, default: int) -> int:
        value = self.params.get(key, str(default))
        if isinstance(value, list):
            raise ConversionError(f"layer {self.name!r}: parameter {key} is an array, expected a number")
        return int(float(value))

    def float_array(self, key: int) -> list[float]:
        value = self.params.get(key, [])
        return [float(v) for v in value] if isinstance(value, list) else [float(value)]


def read_ncnn_param(path: str | Path) -> list[NcnnLayer]:
    """Parse a format-v2 ``.param`` file; errors name the file and line."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="ascii").splitlines()
    except FileNotFoundError:
        raise ConversionError(f"ncnn param file {str(path)!r} does not exist") from None
    except UnicodeDecodeError as exc:
        raise ConversionError(
            f"{path}: not a text ncnn .param file (byte {exc.start} is not ASCII); binary .param.bin files are "
            "not supported"
        ) from None
    if not lines or lines[0].strip() != str(MAGIC):
        found = lines[0].strip()[:20] if lines else "an empty file"
        raise ConversionError(f"{path}: line 1: expected the ncnn param magic {MAGIC}, found {found!r}")
    try:
        layer_count, _blob_count = (int(v) for v in lines[1].split())
    except (IndexError, ValueError):
        raise ConversionError(f"{path}: line 2: expected 'layer_count blob_count', found {lines[1:2]!r}") from None
    layers = [_parse_layer(path, number, text) for number, text in enumerate(lines[2:], start=3) if text.strip()]
    if len(layers) != layer_count:
        raise ConversionError(f"{path}: header declares {layer_count} layers but the file has {len(layers)}")
    return layers


def _parse_layer(path: Path, number: int, text: str) -> NcnnLayer:
    fields = text.split()
    try:
        n_in, n_out = int(fields[2]), int(fields[3])
        blobs_end = 4 + n_in + n_out
        if len(fields) < blobs_end:
            raise ValueError("too few blob names")
        params: dict[int, str | list[str]] = {}
        for item in fields[blobs_end:]:
            key_text, value = item.split("=", 1)
            key = int(key_text)
            if key <= -23300:
                count, *values = value.split(",")
                if int(count) != len(values):
                    raise ValueError(f"array {key_text} declares {count} values, has {len(values)}")
                params[-key - 23300] = values
            else:
                params[key] = value
    except (IndexError, ValueError) as exc:
        raise ConversionError(f"{path}: line {number}: malformed layer line ({exc}): {text[:120]!r}") from None
    return NcnnLayer(
        fields[0], fields[1], tuple(fields[4 : 4 + n_in]), tuple(fields[4 + n_in : blobs_end]), params, number
    )


def _expected_activation(key: str) -> bool:
    """Whether RRDBNet follows this conv with LeakyReLU(0.2) (ncnn fuses it into the conv)."""
    if key.startswith("body."):
        return not key.endswith("conv5")
    return key in ("conv_up1", "conv_up2", "conv_hr")


def _check_graph(path: Path, layers: list[NcnnLayer]) -> list[NcnnLayer]:
    unexpected = sorted({layer.type for layer in layers} - WEIGHTLESS_TYPES - {"Convolution"})
    if unexpected:
        raise ConversionError(
            f"{path}: layer types {unexpected} do not occur in an RRDBNet (ESRGAN/Real-ESRGAN) graph; only "
            f"Convolution and {sorted(WEIGHTLESS_TYPES)} are expected"
        )
    convs = [layer for layer in layers if layer.type == "Convolution"]
    if len(convs) < 21 or (len(convs) - 6) % CONVS_PER_BLOCK:
        raise ConversionError(
            f"{path}: found {len(convs)} Convolution layers; an RRDBNet has 1 + 15*num_block + 5 "
            "(351 for 23 blocks)"
        )
    for layer in convs:
        kernel_w = layer.int_param(1, 0)
        shape = (kernel_w, layer.int_param(11, kernel_w), layer.int_param(2, 1), layer.int_param(3, 1),
                 layer.int_param(4, 0), layer.int_param(5, 0), layer.int_param(8, 0))
        if shape != (3, 3, 1, 1, 1, 1, 0):
            raise ConversionError(
                f"{path}: line {layer.line}: Convolution {layer.name!r} has kernel {shape[0]}x{shape[1]}, dilation "
                f"{shape[2]}, stride {shape[3]}, pad {shape[4]}, bias_term {shape[5]}, int8 {shape[6]}; expected a "
                "3x3 conv with dilation 1, stride 1, pad 1, bias and no int8 quantisation"
            )
    interps = [layer for layer in layers if layer.type == "Interp"]
    if len(interps) != 2 or any(
        layer.int_param(0, 0) != 1 or layer.float_array(1) != [2.0] or layer.float_array(2) != [2.0]
        for layer in interps
    ):
        raise ConversionError(
            f"{path}: expected exactly two nearest-neighbour x2 Interp layers (the x4 RRDBNet tail), found "
            f"{[(layer.name, layer.params) for layer in interps]}"
        )
    return convs


def _conv_shapes(path: Path, convs: list[NcnnLayer], keys: list[str]) -> list[tuple[int, int]]:
    """(out, in) per conv, checked against the RRDBNet wiring; in-channels come from weight_data_size."""
    num_feat = convs[0].int_param(0, 0)
    num_grow = convs[1].int_param(0, 0)
    shapes: list[tuple[int, int]] = []
    for index, (layer, key) in enumerate(zip(convs, keys)):
        out_ch, size = layer.int_param(0, 0), layer.int_param(6, 0)
        if out_ch < 1 or size % (out_ch * 9):
            raise ConversionError(
                f"{path}: line {layer.line}: Convolution {layer.name!r} (#{index}, {key}): weight_data_size {size} "
                f"is not a multiple of num_output*3*3 = {out_ch * 9}"
            )
        in_ch = size // (out_ch * 9)
        if key.startswith("body."):
            k = int(key[-1])
            expected = (num_feat if k == 5 else num_grow, num_feat + (k - 1) * num_grow)
        elif key in TAIL_KEYS[:-1]:
            expected = (num_feat, num_feat)
        elif key == "conv_last":
            expected = (out_ch, num_feat)
        else:
            expected = (num_feat, in_ch)
        if (out_ch, in_ch) != expected:
            raise ConversionError(
                f"{path}: line {layer.line}: Convolution {layer.name!r} (#{index}) maps to {key}: expected "
                f"(out, in) = {expected} for num_feat {num_feat}, num_grow_ch {num_grow}; found {(out_ch, in_ch)}"
            )
        fused = layer.int_param(9, 0)
        slope = layer.float_array(10)
        if _expected_activation(key) != (fused == LEAKY_RELU and slope == [0.2]) or fused not in (0, LEAKY_RELU):
            want = "LeakyReLU(0.2) (9=2, -23310=1,0.2)" if _expected_activation(key) else "no activation"
            raise ConversionError(
                f"{path}: line {layer.line}: Convolution {layer.name!r} maps to {key} which needs {want}; found "
                f"activation type {fused} with parameters {slope}"
            )
        shapes.append((out_ch, in_ch))
    return shapes


class _BinReader:
    """Sequential reader over the ``.bin`` bytes with offset-precise errors."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.data = path.read_bytes()
        except FileNotFoundError:
            raise ConversionError(f"ncnn weights file {str(path)!r} does not exist") from None
        self.offset = 0

    def _take(self, nbytes: int, what: str) -> bytes:
        end = self.offset + nbytes
        if end > len(self.data):
            raise ConversionError(
                f"{self.path}: truncated at byte offset {self.offset}: {what} needs {nbytes} bytes, only "
                f"{len(self.data) - self.offset} remain (file size {len(self.data)})"
            )
        chunk = self.data[self.offset : end]
        self.offset = end
        return chunk

    def weights(self, count: int, what: str) -> np.ndarray:
        start = self.offset
        tag = int.from_bytes(self._take(4, f"the storage tag of {what}"), "little")
        if tag == TAG_FP16:
            padded = (count * 2 + 3) // 4 * 4
            return np.frombuffer(self._take(padded, f"{count} fp16 weights of {what}"), "<f2", count).astype(
                np.float32
            )
        if tag == TAG_FP32:
            return np.frombuffer(self._take(count * 4, f"{count} fp32 weights of {what}"), "<f4").copy()
        kind = _OTHER_TAGS.get(tag, "unknown")
        raise ConversionError(
            f"{self.path}: byte offset {start}: storage tag of {what} is 0x{tag:08X} ({kind}); expected 0x{TAG_FP16:08X} "
            f"(fp16) or 0x{TAG_FP32:08X} (fp32). Is the .bin from a different .param, or quantised?"
        )

    def raw_fp32(self, count: int, what: str) -> np.ndarray:
        return np.frombuffer(self._take(count * 4, f"{count} fp32 values of {what}"), "<f4").copy()

    def finish(self) -> None:
        if self.offset != len(self.data):
            raise ConversionError(
                f"{self.path}: {len(self.data) - self.offset} unread bytes after the last convolution (read up to "
                f"byte offset {self.offset} of {len(self.data)}); the .bin does not belong to this .param"
            )


def read_ncnn_rrdb(param_path: str | Path, bin_path: str | Path | None = None) -> dict[str, torch.Tensor]:
    """Convert an ncnn RRDBNet pair into fp32 trunk tensors keyed like MM-RealSR (``conv_first.weight`` ...).

    ``bin_path`` defaults to ``param_path`` with the suffix ``.bin``. Everything is checked: layer types,
    conv count (1 + 15*num_block + 5), each conv's shape against the RRDBNet wiring, fused activations,
    storage tags, and that the ``.bin`` is consumed exactly.
    """
    param_path = Path(param_path)
    bin_path = Path(bin_path) if bin_path is not None else param_path.with_suffix(".bin")
    convs = _check_graph(param_path, read_ncnn_param(param_path))
    keys = rrdb_trunk_keys((len(convs) - 6) // CONVS_PER_BLOCK)
    shapes = _conv_shapes(param_path, convs, keys)
    reader = _BinReader(bin_path)
    state: dict[str, torch.Tensor] = {}
    for layer, key, (out_ch, in_ch) in zip(convs, keys, shapes):
        what = f"Convolution {layer.name!r} ({key})"
        weight = reader.weights(out_ch * in_ch * 9, what)
        bias = reader.raw_fp32(out_ch, f"the bias of {what}")
        state[f"{key}.weight"] = torch.from_numpy(weight.reshape(out_ch, in_ch, 3, 3))
        state[f"{key}.bias"] = torch.from_numpy(bias)
    reader.finish()
    return state
