"""Non-finite network output is never written as a black image: half precision retries in float32, else an error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mmrealsr_plugin import estimate, load_model, restore
from mmrealsr_plugin.cli import EXIT_FAILED, main
from mmrealsr_plugin.errors import NonFiniteOutputError
from mmrealsr_plugin.testing import TINY_CONFIG, random_model
from mmrealsr_plugin.weights import save_safetensors


def _variant(path: Path, change) -> Path:
    model = random_model()
    with torch.no_grad():
        change(model)
    return save_safetensors(model.state_dict(), path, config=TINY_CONFIG.to_dict())


def test_extreme_extrapolation_fails_and_writes_nothing(tmp_path: Path, tiny_model_path: Path, photo,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 13 item 11: ``--extrapolate --noise 1e30`` wrote a black image with exit 0."""
    source = photo(tmp_path / "a.png")
    out = tmp_path / "out"
    code = main(["restore", str(source), "-o", str(out), "--model", str(tiny_model_path), "--device", "cpu",
                 "--extrapolate", "--noise", "1e30", "--blur", "0.5", "--tile", "16", "--overlap", "4"])
    assert code == EXIT_FAILED
    assert not out.exists() or not list(out.iterdir())
    err = capsys.readouterr().err
    assert "not finite" in err and "noise" in err and "Traceback" not in err


def test_nan_weights_fail_in_restore_and_in_estimate(tmp_path: Path, photo,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    broken = _variant(tmp_path / "nan.safetensors", lambda m: m.conv_hr.weight.view(-1)[0].fill_(float("nan")))
    model = load_model(broken, device="cpu")
    pixels = np.random.default_rng(0).random((20, 20, 3), dtype=np.float32)
    with pytest.raises(NonFiniteOutputError, match=str(broken)):
        restore(model, pixels, noise=0.5, blur=0.5)
    estimator_broken = _variant(tmp_path / "nan-estimator.safetensors",
                                lambda m: m.de_net.fc_degree[0][0].weight.view(-1)[0].fill_(float("nan")))
    with pytest.raises(NonFiniteOutputError, match="estimat"):
        estimate(load_model(estimator_broken, device="cpu"), pixels)
    source = photo(tmp_path / "a.png")
    assert main(["estimate", str(source), "--model", str(estimator_broken), "--device", "cpu"]) == EXIT_FAILED
    captured = capsys.readouterr()
    assert "NaN" not in captured.out.replace("NaN or", "")


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device (issue 15 item 6: the retry on a GPU)"))])
def test_half_precision_overflow_is_retried_in_float32(tmp_path: Path, device: str) -> None:
    """The known fp16 black-frame failure: activations above 65504 become infinity in float16 only."""
    def heat(model: torch.nn.Module) -> None:  # the tail's activations reach ~1e5, its output stays in [0, 1]
        for layer in (model.conv_up1, model.conv_up2, model.conv_hr):
            layer.weight.mul_(100)
        model.conv_last.weight.div_(100**3)

    model = random_model()
    with torch.no_grad():
        heat(model)
    hot = save_safetensors(model.state_dict(), tmp_path / "hot.safetensors", config=TINY_CONFIG.to_dict(),
                           dtype=torch.float16)  # the weights both precisions really share
    pixels = np.random.default_rng(0).random((24, 20, 3), dtype=np.float32)
    reference = restore(load_model(hot, device="cpu"), pixels, noise=0.5, blur=0.5, tile=16, overlap=4).image
    half = load_model(hot, device=device, precision="float16")
    with torch.inference_mode():
        raw = half.runner.module(torch.from_numpy(pixels.transpose(2, 0, 1)[None].copy()).to(device).half(),
                                 torch.tensor([[0.5, 0.5]], dtype=torch.float16, device=device))
    assert not torch.isfinite(raw).all(), "the test model must overflow in float16"
    result = restore(half, pixels, noise=0.5, blur=0.5, tile=16, overlap=4).image
    assert np.isfinite(result).all()
    assert np.abs(result - reference).max() < 0.01
    assert 0.05 < result.mean() < 0.95, "clipped infinities would make a black or white image"
