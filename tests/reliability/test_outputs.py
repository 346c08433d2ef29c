"""Outputs never destroy inputs or each other: same-folder runs, -r trees, grids, unwritable folders, ^C, full disks."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from mmrealsr_plugin import read_image
from mmrealsr_plugin.cli import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_PARTIAL, main


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _restore(model: Path, *args: str) -> int:
    return main(["restore", *args, "--model", str(model), "--device", "cpu", "--noise", "0.5", "--blur", "0.5",
                 "--tile", "0"])


def test_an_input_is_never_written_even_with_overwrite(tmp_path: Path, tiny_model_path: Path, photo,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 13 item 1: ``d/a.png`` would write ``d/a_mmrealsr.png``, which is itself an input of the run."""
    folder = tmp_path / "d"
    photo(folder / "a.png", seed=1)
    photo(folder / "a_mmrealsr.png", seed=2)
    before = _snapshot(folder)
    code = _restore(tiny_model_path, str(folder), "-o", str(folder), "--overwrite")
    assert _snapshot(folder) == before, "an input of the run was written or a new output appeared beside it"
    assert code == EXIT_FAILED
    err = capsys.readouterr().err
    assert "a_mmrealsr.png" in err and "input of this run" in err


def test_an_input_reached_through_a_symlinked_output_folder_is_never_written(
        tmp_path: Path, tiny_model_path: Path, photo) -> None:
    """Paths are compared by identity: ``-o`` naming the input folder through a symlink is the same folder."""
    folder = tmp_path / "d"
    photo(folder / "a.png", seed=1)
    photo(folder / "a_mmrealsr.png", seed=2)
    (tmp_path / "alias").symlink_to(folder, target_is_directory=True)
    before = _snapshot(folder)
    assert _restore(tiny_model_path, str(folder / "a.png"), str(folder / "a_mmrealsr.png"),
                    "-o", str(tmp_path / "alias"), "--overwrite") == EXIT_FAILED
    assert _snapshot(folder) == before


def test_restore_into_its_own_folder_twice_does_not_restore_its_outputs(tmp_path: Path, tiny_model_path: Path,
                                                                          photo) -> None:
    folder = tmp_path / "d"
    photo(folder / "a.png")
    assert _restore(tiny_model_path, str(folder), "-o", str(folder)) == EXIT_OK
    first = _snapshot(folder)
    assert sorted(first) == ["a.png", "a_mmrealsr.png"]
    _restore(tiny_model_path, str(folder), "-o", str(folder), "--overwrite")
    assert _snapshot(folder) == first, "the second run must neither write a_mmrealsr_mmrealsr.png nor touch inputs"


def test_recursive_keeps_the_folder_structure(tmp_path: Path, tiny_model_path: Path, photo,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 13 item 3: ``s1/a.png`` and ``s2/a.png`` must not land on one output name."""
    source = tmp_path / "in"
    photo(source / "s1" / "a.png", seed=1)
    photo(source / "s2" / "a.png", seed=2)
    photo(source / "top.png", seed=3)
    out = tmp_path / "out"
    assert _restore(tiny_model_path, str(source), "-r", "-o", str(out), "--overwrite") == EXIT_OK
    assert sorted(_snapshot(out)) == ["s1/a_mmrealsr.png", "s2/a_mmrealsr.png", "top_mmrealsr.png"]
    assert _snapshot(out)["s1/a_mmrealsr.png"] != _snapshot(out)["s2/a_mmrealsr.png"]
    assert "restored 3 of 3" in capsys.readouterr().err


def test_recursive_glob_keeps_the_folder_structure_below_the_pattern(tmp_path: Path, tiny_model_path: Path,
                                                                     photo) -> None:
    source = tmp_path / "in"
    photo(source / "s1" / "a.png", seed=1)
    photo(source / "s2" / "deeper" / "a.png", seed=2)
    out = tmp_path / "out"
    assert _restore(tiny_model_path, str(source / "**" / "*.png"), "-r", "-o", str(out)) == EXIT_OK
    assert sorted(_snapshot(out)) == ["s1/a_mmrealsr.png", "s2/deeper/a_mmrealsr.png"]


def test_two_inputs_with_one_output_name_never_replace_each_other(tmp_path: Path, tiny_model_path: Path, photo,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    first, second = photo(tmp_path / "s1" / "a.png", seed=1), photo(tmp_path / "s2" / "a.png", seed=2)
    out = tmp_path / "out"
    code = _restore(tiny_model_path, str(first), str(second), "-o", str(out), "--overwrite")
    assert code == EXIT_PARTIAL
    assert sorted(_snapshot(out)) == ["a_mmrealsr.png"]
    err = capsys.readouterr().err
    assert "restored 1 of 2" in err and str(second) in err and str(first) in err


def test_grid_refuses_to_overwrite_its_input(tmp_path: Path, tiny_model_path: Path, photo,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 13 item 2, also through a hard link and a symlink to the input."""
    source = photo(tmp_path / "img.png")
    before = source.read_bytes()
    os.link(source, tmp_path / "hard.png")
    (tmp_path / "soft.png").symlink_to(source)
    for target in (source, tmp_path / "hard.png", tmp_path / "soft.png"):
        code = main(["grid", str(source), "-o", str(target), "--overwrite", "--model", str(tiny_model_path),
                     "--device", "cpu", "--cell-size", "64"])
        assert code != EXIT_OK
        assert "input" in capsys.readouterr().err
    assert source.read_bytes() == before
    assert (tmp_path / "soft.png").is_symlink()


def test_output_folder_that_cannot_be_created_is_refused_before_any_work(tmp_path: Path, photo,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """Named as the user gave it (no temporary name), before the model is even looked for."""
    source = photo(tmp_path / "a.png")
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    wanted = blocker / "out"
    code = main(["restore", str(source), "-o", str(wanted), "--model", str(tmp_path / "absent.safetensors")])
    err = capsys.readouterr().err
    assert code != EXIT_OK
    assert str(wanted) in err and ".part" not in err and "absent.safetensors" not in err


@pytest.mark.skipif(os.access("/sys", os.W_OK) and not os.path.isdir("/sys"), reason="needs a read-only /sys")
def test_read_only_output_folder_is_refused_before_any_work(tmp_path: Path, photo,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    source = photo(tmp_path / "a.png")
    try:
        probe = Path("/sys") / ".mmrealsr-write-probe"
        probe.write_bytes(b"")
        probe.unlink()
        pytest.skip("/sys is writable here")
    except OSError:
        pass
    code = main(["restore", str(source), "-o", "/sys", "--model", str(tmp_path / "absent.safetensors")])
    err = capsys.readouterr().err
    assert code != EXIT_OK
    assert "/sys" in err and "not writable" in err and ".part" not in err and "absent" not in err


def test_full_disk_leaves_no_partial_file_and_names_the_output(tmp_path: Path, tiny_model_path: Path, photo,
                                                               python) -> None:
    """A file-size limit makes every write past 2 KB fail exactly as a full disk does (EFBIG instead of ENOSPC)."""
    source = photo(tmp_path / "a.png", 64, 64)
    out = tmp_path / "out"
    code = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (2048, 2048))\n"
        "from mmrealsr_plugin.cli import main\n"
        f"sys.exit(main(['restore', {str(source)!r}, '-o', {str(out)!r}, '--model', {str(tiny_model_path)!r},"
        " '--device', 'cpu', '--noise', '0.5', '--blur', '0.5']))\n"
    )
    result = python("-c", code)
    assert result.returncode == EXIT_FAILED, result.stderr
    assert list(out.iterdir()) == [] if out.exists() else True
    assert str(out / "a_mmrealsr.png") in result.stderr and ".part" not in result.stderr
    assert "Traceback" not in result.stderr


def test_ctrl_c_during_a_batch_leaves_only_complete_files(tmp_path: Path, tiny_model_path: Path, photo,
                                                          python) -> None:
    source = tmp_path / "in"
    for index in range(40):
        photo(source / f"p{index:02d}.png", 96, 96, seed=index)
    out = tmp_path / "out"
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "MMREALSR_"))}
    env.update(MMREALSR_DISABLE_PLUGIN_AUTOLOAD="1", HF_HUB_OFFLINE="1")
    process = subprocess.Popen(
        [sys.executable, "-m", "mmrealsr_plugin", "restore", str(source), "-o", str(out), "--model",
         str(tiny_model_path), "--device", "cpu", "--tile", "16", "--overlap", "4"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # as in a terminal: a test run started in the background (`cmd &`) inherits SIGINT ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    while not (out.is_dir() and len(list(out.glob("*.png"))) >= 2) and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == EXIT_INTERRUPTED, err
    assert "Traceback" not in err
    files = sorted(out.iterdir())
    assert files and all(f.suffix == ".png" and not f.name.startswith(".") for f in files), files
    for file in files:
        assert read_image(file).pixels.shape == (384, 384, 3)
