"""The mmrealsr CLI on real files: batches with bad inputs, never overwriting, JSON scores, grids."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mmrealsr_plugin import load_model, read_image, restore, write_image
from mmrealsr_plugin.cli import EXIT_FAILED, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, main


def _photo(path: Path, h: int = 20, w: int = 24, c: int = 3) -> Path:
    return write_image(path, np.random.default_rng(0).random((h, w, c), dtype=np.float32))


def test_restore_folder_skips_bad_files_and_reports(tmp_path: Path, tiny_model_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    inputs = tmp_path / "in"
    _photo(inputs / "a.png")
    _photo(inputs / "b.png", c=4)
    (inputs / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    out = tmp_path / "out"
    code = main(["restore", str(inputs), "-o", str(out), "--model", str(tiny_model_path), "--device", "cpu",
                 "--noise", "0.3", "--tile", "16", "--overlap", "4"])
    assert code == EXIT_PARTIAL
    assert sorted(p.name for p in out.iterdir()) == ["a_mmrealsr.png", "b_mmrealsr.png"]
    err = capsys.readouterr().err
    assert "broken.png" in err and "restored 2 of 3" in err
    written = read_image(out / "a_mmrealsr.png").pixels
    model = load_model(tiny_model_path, device="cpu")
    expected = restore(model, read_image(inputs / "a.png").pixels, noise=0.3, tile=16, overlap=4).image
    assert np.abs(written - expected).max() <= 1 / 255 + 1e-6
    assert read_image(out / "b_mmrealsr.png").pixels.shape == (80, 96, 4)


def test_restore_never_overwrites(tmp_path: Path, tiny_model_path: Path) -> None:
    source = _photo(tmp_path / "p.png")
    before = source.read_bytes()
    args = ["restore", str(source), "--model", str(tiny_model_path), "--device", "cpu", "-o", str(tmp_path)]
    assert main([*args, "--suffix", ""]) == EXIT_FAILED
    assert source.read_bytes() == before
    assert main(args) == EXIT_OK
    assert main(args) == EXIT_FAILED  # exists now
    assert main([*args, "--overwrite"]) == EXIT_OK


def test_bad_knob_value_is_a_usage_error(tmp_path: Path, tiny_model_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    source = _photo(tmp_path / "p.png")
    assert main(["restore", str(source), "--model", str(tiny_model_path), "--blur", "1.7"]) == EXIT_USAGE
    assert "blur=1.7 is outside [0, 1]" in capsys.readouterr().err
    assert not (tmp_path / "results").exists()


def test_unknown_model_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = _photo(tmp_path / "p.png")
    assert main(["estimate", str(source), "--model", str(tmp_path / "missing.safetensors")]) != EXIT_OK
    assert "missing.safetensors" in capsys.readouterr().err


def test_estimate_prints_json(tmp_path: Path, tiny_model_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = _photo(tmp_path / "a.png"), _photo(tmp_path / "b.jpg", 30, 30)
    assert main(["estimate", str(first), str(tmp_path / "*.jpg"), "--model", str(tiny_model_path),
                 "--device", "cpu"]) == EXIT_OK
    report = json.loads(capsys.readouterr().out)
    assert [r["file"] for r in report["results"]] == [str(first), str(second)]
    assert all(0 < r["blur"] < 1 and 0 < r["noise"] < 1 for r in report["results"])


def test_grid_writes_one_labelled_image(tmp_path: Path, tiny_model_path: Path) -> None:
    source = _photo(tmp_path / "p.png")
    target = tmp_path / "grid.png"
    assert main(["grid", str(source), "-o", str(target), "--model", str(tiny_model_path), "--device", "cpu",
                 "--blur-values", "0,1", "--noise-values", "0,0.5,1", "--cell-size", "64"]) == EXIT_OK
    grid = read_image(target).pixels
    assert grid.shape[0] > 3 * 50 and grid.shape[1] > 2 * 60
    assert main(["grid", str(source), "-o", str(target), "--model", str(tiny_model_path)]) == EXIT_USAGE


def test_demo_writes_sample_result_and_grid(tmp_path: Path, tiny_model_path: Path) -> None:
    assert main(["demo", "-o", str(tmp_path), "--model", str(tiny_model_path), "--device", "cpu"]) == EXIT_OK
    assert read_image(tmp_path / "sample_mmrealsr.png").pixels.shape == (384, 512, 3)
    assert (tmp_path / "grid.png").is_file()
