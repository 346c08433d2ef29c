"""Write small RRDBNet models as ncnn .param/.bin pairs, laid out like the Real-ESRGAN ncnn exports."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from mmrealsr_plugin.archs.mmrealsr import MMRealSRConfig
from mmrealsr_plugin.convert import RRDBNet, rrdb_trunk_keys

SMALL_RRDB = MMRealSRConfig(num_feat=8, num_block=2, num_grow_ch=4)
LEAKY = "9=2 -23310=1,2.000000e-01"


def _param_text(config: MMRealSRConfig) -> str:
    """A graph with the same layer kinds and fused activations as the real export."""
    lines: list[str] = []
    blobs = iter(range(10_000))

    def add(kind: str, inputs: list[str], n_out: int = 1, params: str = "") -> list[str]:
        outputs = [f"b{next(blobs)}" for _ in range(n_out)]
        lines.append(f"{kind} L{len(lines)} {len(inputs)} {n_out} {' '.join(inputs + outputs)} {params}".rstrip())
        return outputs

    def conv(x: str, out_ch: int, in_ch: int, act: bool) -> str:
        params = f"0={out_ch} 1=3 4=1 5=1 6={out_ch * in_ch * 9}" + (f" {LEAKY}" if act else "")
        return add("Convolution", [x], 1, params)[0]

    feat, grow = config.num_feat, config.num_grow_ch
    (data,) = add("Input", [], 1)
    feat0 = conv(data, feat, config.in_channels, False)
    feat0, trunk = add("Split", [feat0], 2)
    for _ in range(config.num_block):
        block_in, x = add("Split", [trunk], 2)
        for _ in range(3):
            dense = [x]
            for k in range(1, 6):
                cat = add("Concat", dense)[0] if len(dense) > 1 else dense[0]
                out = conv(cat, feat if k == 5 else grow, feat + (k - 1) * grow, k < 5)
                dense = dense + [out] if k < 5 else dense
            x = add("Eltwise", [out, dense[0]], 1, "0=1 -23301=2,2.000000e-01,1.000000e+00")[0]
        trunk = add("Eltwise", [x, block_in], 1, "0=1 -23301=2,2.000000e-01,1.000000e+00")[0]
    x = add("BinaryOp", [feat0, conv(trunk, feat, feat, False)])[0]
    for name in ("up1", "up2"):
        x = add("Interp", [x], 1, "0=1 1=2.000000e+00 2=2.000000e+00")[0]
        x = conv(x, feat, feat, True)
    x = conv(x, feat, feat, True)
    conv(x, config.out_channels, feat, False)
    blob_count = next(blobs)
    return "\n".join(["7767517", f"{len(lines)} {blob_count}", *lines]) + "\n"


def write_ncnn_rrdb(model: RRDBNet, folder: Path, fp16: bool = True, name: str = "tiny") -> tuple[Path, Path]:
    """Write ``model`` as ``name.param`` + ``name.bin``; fp16 (tagged, 4-byte padded) or fp32 (tag 0)."""
    state = model.state_dict()
    chunks: list[bytes] = []
    for key in rrdb_trunk_keys(model.config.num_block):
        weight = state[f"{key}.weight"].numpy().ravel()
        if fp16:
            data = weight.astype("<f2").tobytes()
            chunks += [(0x01306B47).to_bytes(4, "little"), data, b"\0" * (-len(data) % 4)]
        else:
            chunks += [(0).to_bytes(4, "little"), weight.astype("<f4").tobytes()]
        chunks.append(state[f"{key}.bias"].numpy().astype("<f4").tobytes())
    param, weights = folder / f"{name}.param", folder / f"{name}.bin"
    param.write_text(_param_text(model.config))
    weights.write_bytes(b"".join(chunks))
    return param, weights


@pytest.fixture
def small_rrdb() -> RRDBNet:
    """A seeded random RRDBNet (2 blocks, 8 features) with spread-out weights."""
    generator = torch.Generator().manual_seed(3)
    model = RRDBNet(SMALL_RRDB)
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * 0.1)
    return model.eval()


@pytest.fixture
def ncnn_writer() -> Callable[..., tuple[Path, Path]]:
    return write_ncnn_rrdb

