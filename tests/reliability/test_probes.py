"""Further hostile probes on the CLI and the Python API: each used to lose a file, crash, or waste a run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmrealsr_plugin import ImageError, load_model, restore, write_image
from mmrealsr_plugin.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, main
from mmrealsr_plugin.grid import modulation_grid
from mmrealsr_plugin.testing import save_random_model


def test_a_suffix_cannot_write_outside_the_output_folder(tmp_path: Path, tiny_model_path: Path, photo) -> None:
    source = photo(tmp_path / "in" / "a.png")
    out = tmp_path / "deep" / "out"
    code = main(["restore", str(source), "-o", str(out), "--suffix", "/../../escaped", "--model",
                 str(tiny_model_path), "--device", "cpu"])
    assert code == EXIT_USAGE
    assert not list(tmp_path.rglob("*escaped*"))


def test_bad_settings_are_refused_before_the_model_is_loaded(tmp_path: Path, photo,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    source = photo(tmp_path / "a.png")
    missing = str(tmp_path / "absent.safetensors")
    for flags, message in ((["--tile", "8"], "at least 16"), (["--overlap", "-1"], "overlap"),
                           (["--outscale", "nan"], "outscale")):
        assert main(["restore", str(source), "-o", str(tmp_path / "o"), "--model", missing, *flags]) == EXIT_USAGE
        err = capsys.readouterr().err
        assert message in err and "absent" not in err
    assert main(["grid", str(source), "-o", str(tmp_path / "g.png"), "--model", missing, "--cell-size", "0"]) \
        == EXIT_USAGE
    assert "cell_size" in capsys.readouterr().err


def test_alpha_into_jpeg_is_refused_before_the_work(tmp_path: Path, tiny_model_path: Path, photo,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    source = photo(tmp_path / "a.png", c=4)
    assert main(["restore", str(source), "-o", str(tmp_path / "o"), "--ext", "jpg", "--model", str(tiny_model_path),
                 "--device", "cpu"]) == EXIT_FAILED
    err = capsys.readouterr().err
    assert "alpha" in err and "tile/s" not in err.split("alpha")[0], "the image was restored before being refused"


def test_demo_never_replaces_files_it_did_not_write(tmp_path: Path, tiny_model_path: Path) -> None:
    own = tmp_path / "grid.png"
    own.write_bytes(b"my own grid")
    args = ["demo", "-o", str(tmp_path), "--model", str(tiny_model_path), "--device", "cpu"]
    assert main(args) == EXIT_USAGE
    assert own.read_bytes() == b"my own grid"
    assert main([*args, "--overwrite"]) == EXIT_OK


@pytest.mark.parametrize("toml,message", [
    ("models = 5\n", "'models' has the wrong type: expected a table, got 5"),
    ("[models]\nx = 5\n", "'models.x' has the wrong type: expected a table, got 5"),
    ("[models.x]\nrepo_id = 5\n", "'models.x.repo_id' has the wrong type: expected text, got 5"),
    ("[models.x]\nname = 'y'\n", "unknown registry key(s) ['models.x.name']"),
    ("default = 7\n", "'default' has the wrong type: expected text, got 7"),
])
def test_a_malformed_user_registry_is_a_usage_error(toml: str, message: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "models.toml"
    path.write_text(toml)
    monkeypatch.setenv("MMREALSR_MODELS_FILE", str(path))
    assert main(["models"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert message in err and str(path) in err


def test_a_folder_given_as_model_is_named(tmp_path: Path, tiny_model_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "checkpoint"
    save_random_model(folder / "model.safetensors")
    assert main(["estimate", str(tiny_model_path), "--model", str(folder)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "is a folder" in err and str(folder / "model.safetensors") in err


def test_convert_never_writes_over_its_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "ckpt"
    source = save_random_model(folder / "model.safetensors")
    before = source.read_bytes()
    assert main(["convert", str(source), str(folder), "--force"]) != EXIT_OK
    assert source.read_bytes() == before and "input" in capsys.readouterr().err


def test_export_into_a_file_is_refused_before_the_export(tmp_path: Path, tiny_model_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "exports"
    blocker.write_text("a file")
    assert main(["export-onnx", str(tiny_model_path), str(blocker)]) == EXIT_FAILED
    assert "not a folder" in capsys.readouterr().err and blocker.read_text() == "a file"


def test_api_refuses_integer_and_non_finite_pixels(tiny_model_path: Path, tmp_path: Path) -> None:
    model = load_model(tiny_model_path, device="cpu")
    with pytest.raises(ValueError, match="divide by 255"):
        restore(model, np.full((8, 8, 3), 200, np.uint8))
    bad = np.full((8, 8, 3), 0.5, np.float32)
    bad[2, 3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        restore(model, bad, noise=0.5, blur=0.5)
    with pytest.raises(ImageError, match="NaN"):
        write_image(tmp_path / "nan.png", bad)
    assert not (tmp_path / "nan.png").exists()
    with pytest.raises(ValueError, match="precision"):
        load_model(tiny_model_path, device="cpu", precision="fp16")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cell_size"):
        modulation_grid(model, bad, cell_size=100_000)


def test_export_never_replaces_graphs_without_overwrite(tmp_path: Path, tiny_model_path: Path) -> None:
    out = tmp_path / "onnx"
    out.mkdir()
    earlier = out / "tiny.generator.onnx"
    earlier.write_bytes(b"an earlier export of another model")
    args = ["export-onnx", str(tiny_model_path), str(out), "--no-check"]
    assert main(args) == EXIT_USAGE
    assert earlier.read_bytes() == b"an earlier export of another model"
    assert main([*args, "--overwrite"]) == EXIT_OK
    assert earlier.read_bytes() != b"an earlier export of another model"
