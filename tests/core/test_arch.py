"""Architecture: official layout, key-based detection, strict loading of every container, spandrel parity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mmrealsr_plugin import LoadOptions, NotMMRealSRModelError, ModelLoadError
from mmrealsr_plugin.archs.mmrealsr import OFFICIAL_CONFIG, MMRealSR, MMRealSRConfig, detect_config
from mmrealsr_plugin.backends import torch_backend
from mmrealsr_plugin.testing import TINY_CONFIG, random_model
from mmrealsr_plugin.weights import read_state_dict, save_safetensors

REFERENCE = Path(__file__).resolve().parents[2] / ".." / "shared" / "reference" / "generator_state_dict_keys.tsv"

# spandrel fixes the embedding and estimator-head widths at 512, so the small parity config keeps them.
SMALL_SPANDREL_CONFIG = MMRealSRConfig(
    num_feat=16, num_block=3, num_grow_ch=8, estimator_feats=(16, 32), estimator_blocks=(2, 1),
    estimator_downscales=(2, 1),
)


def test_official_layout_matches_reference_key_list() -> None:
    model = MMRealSR(OFFICIAL_CONFIG)
    state = model.state_dict()
    assert len(state) == 922
    assert sum(p.numel() for p in model.parameters()) == 26_134_149
    if REFERENCE.is_file():
        rows = [line.split("\t") for line in REFERENCE.read_text().splitlines() if line.strip()]
        expected = {key: tuple(int(v) for v in shape.strip("()").split(",") if v.strip()) for key, shape in rows}
        assert {k: tuple(v.shape) for k, v in state.items()} == expected
        assert list(state) == list(expected), "state-dict order differs from the official one"


@pytest.mark.parametrize("config", [OFFICIAL_CONFIG, TINY_CONFIG, MMRealSRConfig(scale=2, **{
    k: v for k, v in TINY_CONFIG.to_dict().items() if k != "scale"} | {"estimator_feats": (8, 16)})])
def test_detection_rebuilds_identical_modules(config: MMRealSRConfig) -> None:
    state = MMRealSR(config).state_dict()
    detected = detect_config(state)
    assert detected.scale == config.scale
    assert detected == config.canonical() == detected.canonical()
    rebuilt = MMRealSR(detected)
    rebuilt.load_state_dict(state, strict=True)


@pytest.mark.parametrize("config", [OFFICIAL_CONFIG, SMALL_SPANDREL_CONFIG], ids=["official", "small"])
def test_parity_with_spandrel(config: MMRealSRConfig) -> None:
    spandrel = pytest.importorskip("spandrel")
    ours = random_model(config, seed=3, std=0.05)
    theirs = spandrel.ModelLoader().load_from_state_dict(ours.state_dict()).model.eval()
    x = torch.rand(2, 3, 21, 18, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        their_out, their_scores = theirs(x, custom_degrees=(None, None))
        scores = ours.estimate(x)
        ours_out = ours(x, scores)
        their_manual, _ = theirs(x, custom_degrees=(0.3, None))
        mixed = torch.stack([torch.full((2,), 0.3), scores[:, 1]], dim=1)
        ours_manual = ours(x, mixed)
    assert (torch.stack(their_scores, 1) - scores).abs().max().item() <= 1e-5
    assert (their_out - ours_out).abs().max().item() <= 1e-5
    assert (their_manual - ours_manual).abs().max().item() <= 1e-5


@pytest.mark.parametrize("scale", [1, 2, 4])
def test_every_scale_runs_forward(scale: int) -> None:
    config = MMRealSRConfig(**{**TINY_CONFIG.to_dict(), "scale": scale})
    model = random_model(config)
    x = torch.rand(1, 3, 16, 20)
    with torch.no_grad():
        out = model(x, model.estimate(x))
    assert out.shape == (1, 3, 16 * scale, 20 * scale)


def _load(path: Path) -> tuple[MMRealSR, str | None]:
    loaded = torch_backend.mmrealsr_load_model(source=path, options=LoadOptions(device="cpu"))
    assert loaded is not None
    return loaded.runner.module, loaded.descriptor.container_key


def _same(a: MMRealSR, b: MMRealSR) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_official_containers_load_strictly(tmp_path: Path, suffix: str) -> None:
    ema, raw = random_model(seed=1), random_model(seed=2)
    if suffix == ".pth":
        path = tmp_path / "both.pth"
        torch.save({"params": raw.state_dict(), "params_ema": ema.state_dict()}, path)
        model, key = _load(path)
        assert key == "params_ema" and _same(model, ema)
        only = tmp_path / "params.pth"
        torch.save({"params": raw.state_dict()}, only)
        model, key = _load(only)
        assert key == "params" and _same(model, raw)
        prefixed = tmp_path / "dp.pth"
        torch.save({f"module.{k}": v for k, v in raw.state_dict().items()}, prefixed)
        model, key = _load(prefixed)
        assert key is None and _same(model, raw)
    else:
        path = save_safetensors(raw.state_dict(), tmp_path / "bare.safetensors")
        model, key = _load(path)
        assert key is None and _same(model, raw)
        fp16 = save_safetensors(raw.state_dict(), tmp_path / "half.safetensors", dtype=torch.float16)
        model, _ = _load(fp16)
        assert next(model.parameters()).dtype == torch.float32


def test_official_size_checkpoint_loads(tmp_path: Path) -> None:
    model = MMRealSR(OFFICIAL_CONFIG)
    path = tmp_path / "MMRealSRGAN.pth"
    torch.save({"params": model.state_dict()}, path)
    loaded, key = _load(path)
    assert key == "params" and loaded.config.num_block == 23 and _same(loaded, model)


def test_esrgan_file_is_rejected_with_missing_keys(tmp_path: Path) -> None:
    state = {k: v for k, v in random_model().state_dict().items()
             if not k.startswith(("am_list", "de_net", "dd_embed"))}
    path = tmp_path / "RealESRGAN_x4plus.pth"
    torch.save({"params_ema": state}, path)
    with pytest.raises(NotMMRealSRModelError, match=r"missing keys .*am_list\.0\.fc\.0\.weight.*ESRGAN"):
        _load(path)


def test_unrelated_and_broken_files_get_clear_errors(tmp_path: Path) -> None:
    other = tmp_path / "other.pth"
    torch.save({"encoder.weight": torch.zeros(2)}, other)
    with pytest.raises(NotMMRealSRModelError, match="conv_first.weight"):
        _load(other)
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x00" * 10)
    with pytest.raises(ModelLoadError, match="broken.safetensors"):
        read_state_dict(broken)
    truncated = tmp_path / "shape.pth"
    state = random_model().state_dict()
    state["conv_hr.weight"] = torch.zeros(3, 3, 3, 3)
    torch.save(state, truncated)
    with pytest.raises(ModelLoadError, match="conv_hr"):
        _load(truncated)


def test_pickled_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pth"
    torch.save({"params": random_model().state_dict(), "hook": np.float64}, path)  # a non-tensor global
    with pytest.raises(ModelLoadError, match="refused to load|not a readable"):
        read_state_dict(path)


def test_tail_in_strips_matches_one_pass() -> None:
    model = random_model()
    x, scores = torch.rand(1, 3, 90, 20), torch.rand(1, 2)
    with torch.no_grad():
        stripped = model(x, scores)
    with torch.enable_grad():
        whole = model(x, scores)
    assert stripped.shape == whole.shape == (1, 3, 360, 80)
    assert (stripped - whole).abs().max().item() <= 1e-5


def test_the_public_pieces_compose_to_the_forward_pass() -> None:
    """A recipe runs part of the network (the last blocks from cached features) with the generator's own code."""
    model = random_model()
    x, scores = torch.rand(2, 3, 12, 10), torch.rand(2, 2)
    with torch.no_grad():
        embedding, feat0 = model.embed(scores), model.head(x)
        first = model.run_blocks(feat0, embedding, 0, 1)
        pieces = model.run_tail(model.run_blocks(first, embedding, 1), feat0)
        assert torch.equal(pieces, model(x, scores))


def test_the_estimator_scores_are_the_sigmoid_of_its_logits() -> None:
    """Metric learning acts on the logits (a saturated sigmoid passes no gradient); the scores are their sigmoid."""
    model = random_model()
    x = torch.rand(3, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(model.estimate(x), torch.sigmoid(model.de_net.logits(x)))
