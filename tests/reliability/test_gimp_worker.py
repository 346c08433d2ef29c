"""The GIMP worker and the plug-in's side of the channel under hostile input (issue 13, item 14 and probes).

The worker is run as the plug-in runs it (a subprocess speaking JSON lines); the plug-in's side is
``channel.run_worker`` against the real worker, a broken environment, and a worker that breaks the protocol
(tests/gimp/misbehaving_worker.py). Inside a real GIMP the same cases run in tests/gimp/test_headless.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mmrealsr_plugin.cli import main
from mmrealsr_plugin.nodes.gimp.install import plugin_folder, worker_command
from mmrealsr_plugin.nodes.gimp.mmrealsr_gimp import channel

MISBEHAVING = Path(__file__).resolve().parents[1] / "gimp" / "misbehaving_worker.py"


def _header_only(path: Path, shape: tuple[int, ...], descr: str = "<f4") -> Path:
    with open(path, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, {"descr": descr, "fortran_order": False, "shape": shape})
    return path


def _hostile_inputs(folder: Path) -> dict[str, tuple[Path, str]]:
    """name -> (.npy file, what the error must say)."""
    folder.mkdir(exist_ok=True)
    image = np.full((8, 8, 3), 0.5, np.float32)
    nan, inf = image.copy(), image.copy()
    nan[0, 0, 0], inf[1, 1, 1] = np.nan, np.inf
    arrays = {
        "uint8": (np.zeros((8, 8, 3), np.uint8), "uint8"),
        "complex": (np.zeros((8, 8, 3), np.complex64), "complex64"),
        "bool": (np.zeros((8, 8, 3), bool), "bool"),
        "nan": (nan, "NaN or infinite"),
        "inf": (inf, "NaN or infinite"),
        "2d": (np.zeros((8, 8), np.float32), "(height, width, 1-4 channels)"),
        "4d": (np.zeros((1, 8, 8, 3), np.float32), "(height, width, 1-4 channels)"),
        "5-channels": (np.zeros((8, 8, 5), np.float32), "(height, width, 1-4 channels)"),
        "empty": (np.zeros((0, 8, 3), np.float32), "(height, width, 1-4 channels)"),
        "structured": (np.zeros((8, 8, 3), [("a", "<f4")]), "values; the channel carries float32"),
    }
    cases = {}
    for name, (array, message) in arrays.items():
        np.save(folder / f"{name}.npy", array, allow_pickle=False)
        cases[name] = (folder / f"{name}.npy", message)
    cases["huge-header"] = (_header_only(folder / "huge.npy", (100_000, 100_000, 3)), "above the limit")
    cases["huge-under-limit-but-truncated"] = (_header_only(folder / "big.npy", (4000, 4000, 3)), "truncated")
    (folder / "zero.npy").write_bytes(b"")
    cases["zero-bytes"] = (folder / "zero.npy", "not a readable .npy image")
    (folder / "garbage.npy").write_bytes(b"definitely not numpy")
    cases["garbage"] = (folder / "garbage.npy", "not a readable .npy image")
    np.save(folder / "object.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    cases["object"] = (folder / "object.npy", "object")
    good = folder / "good.npy"
    np.save(good, image)
    good.write_bytes(good.read_bytes()[:-40])
    cases["truncated"] = (good, "truncated")
    cases["missing"] = (folder / "missing.npy", "No such file")
    cases["directory"] = (folder, "Is a directory")
    return cases


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    return _hostile_inputs(tmp_path_factory.mktemp("npy"))


def _worker(args: list[str], **env: str) -> tuple[int, list[dict], str]:
    done = subprocess.run([*worker_command(), *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env}, cwd="/")
    events = [channel.decode_event(line) for line in done.stdout.splitlines()]
    return done.returncode, [e for e in events if e is not None], done.stderr


def test_every_hostile_input_is_refused_from_its_header_or_values(hostile) -> None:
    """read_image_npy is what the worker reads its inputs with (and the plug-in the results)."""
    for name, (path, message) in hostile.items():
        with pytest.raises(channel.ChannelError) as caught:
            channel.read_image_npy(str(path), max_pixels=64 * 1024 * 1024)
        assert message in str(caught.value) and path.name in str(caught.value), (name, str(caught.value))


@pytest.mark.parametrize(("task", "names"), [("estimate", ["huge-header", "zero-bytes"]), ("restore", ["nan", "uint8"])])
def test_the_worker_answers_hostile_inputs_with_one_error_event(hostile, tiny_model_path: Path, task, names) -> None:
    """The issue's cases, end to end: a MemoryError and an EOFError traceback before, NaN scores and "done"."""
    for name in names:
        path, message = hostile[name]
        args = ["--task", task, "--input", str(path), "--model", str(tiny_model_path), "--device", "cpu"]
        if task == "restore":
            args += ["--output", str(path.parent / "out.npy")]
        code, events, stderr = _worker(args)
        assert code != 0 and "Traceback" not in stderr, (name, stderr[-2000:])
        assert [e["event"] for e in events] == ["error"] and message in events[0]["message"], (name, events)
        assert not (path.parent / "out.npy").exists()


def test_float64_big_endian_and_fortran_inputs_are_read_as_the_same_image(tmp_path: Path) -> None:
    image = np.random.default_rng(0).random((6, 5, 4)).astype(np.float32)
    for name, variant in {"f64": image.astype(np.float64), "be": image.astype(">f4"),
                          "fortran": np.asfortranarray(image)}.items():
        np.save(tmp_path / f"{name}.npy", variant)
        read = channel.read_image_npy(str(tmp_path / f"{name}.npy"))
        assert read.dtype == np.float32 and read.flags.c_contiguous and np.array_equal(read, image), name


def test_the_pixel_limit_is_the_cores_and_checked_from_the_header(tmp_path: Path, tiny_model_path: Path) -> None:
    image = tmp_path / "in.npy"
    np.save(image, np.full((40, 30, 3), 0.5, np.float32))
    code, events, _ = _worker(["--task", "estimate", "--input", str(image), "--model", str(tiny_model_path),
                               "--device", "cpu"], MMREALSR_MAX_PIXELS="1000")
    assert code != 0 and "30x40" in events[0]["message"] and "MMREALSR_MAX_PIXELS" in events[0]["message"]


def test_non_finite_scores_are_an_error_not_done(tmp_path: Path) -> None:
    """Weights that make the estimator return NaN: the worker used to report NaN scores and "done"."""
    import torch

    from mmrealsr_plugin.testing import random_model
    from mmrealsr_plugin.weights import save_safetensors

    model = random_model()
    state = {k: torch.full_like(v, float("nan")) if k.startswith("de_net") else v for k, v in model.state_dict().items()}
    weights = save_safetensors(state, tmp_path / "nan.safetensors", config=model.config.to_dict())
    image = tmp_path / "in.npy"
    np.save(image, np.full((8, 8, 3), 0.5, np.float32))
    code, events, _ = _worker(["--task", "estimate", "--input", str(image), "--model", str(weights), "--device", "cpu"])
    assert code != 0 and [e["event"] for e in events] == ["error"] and "non-finite scores" in events[0]["message"]


# ----------------------------------------------------------------------------------- the plug-in's side
def _misbehaving(case: str) -> channel.WorkerConfig:
    return channel.WorkerConfig(command=[sys.executable, str(MISBEHAVING), case])


@pytest.mark.parametrize(
    ("case", "task", "message"),
    [
        ("missing-keys", "restore", "malformed 'progress' event ('item' must be a whole number"),
        ("wrong-types", "estimate", "'blur' must be a number in [0, 1], got 'high'"),
        ("bad-item", "estimate", "'item' 99 is not one of the 1 image(s)"),
        ("out-of-range-score", "estimate", "'blur' must be a number in [0, 1], got nan"),
        ("error-without-message", "estimate", "'message' must be a str"),
        ("protocol", "estimate", "protocol 99"),
        ("not-json", "estimate", "ended without reporting a result"),
        ("no-scores", "estimate", "finished without scores for image 0"),
        ("no-output", "restore", "out0.npy: No such file"),
        ("huge-output", "restore", "has shape (100000, 100000, 3), expected (32, 40, 3)"),
        ("nan-output", "restore", "NaN or infinite"),
        ("wrong-shape-output", "restore", "has shape (8, 10, 3), expected (32, 40, 3)"),
    ],
)
def test_a_misbehaving_worker_is_a_channel_error(case: str, task: str, message: str) -> None:
    image = np.full((8, 10, 3), 0.5, np.float32)
    with pytest.raises(channel.ChannelError) as caught:
        channel.run_worker(_misbehaving(case), task, [image], channel.Knobs())
    assert message in str(caught.value), str(caught.value)
    assert "mmrealsr gimp install" in str(caught.value)


def test_a_worker_that_is_not_executable_says_how_to_fix(tmp_path: Path) -> None:
    script = tmp_path / "worker"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    with pytest.raises(channel.ChannelError, match="cannot start the MM-RealSR environment.*mmrealsr gimp install"):
        channel.run_worker(channel.WorkerConfig(command=[str(script)]), "estimate",
                           [np.zeros((8, 8, 3), np.float32)], channel.Knobs())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2]", "does not hold a JSON object"),
        ('{"command": ["python"], "model": 5}', "'model' must be a string or null"),
        ('{"command": ["python"], "max_pixels": -1}', "'max_pixels' must be a whole number"),
        ("not json", "cannot be read"),
    ],
)
def test_a_damaged_plugin_config_says_how_to_fix(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / channel.CONFIG_NAME).write_text(text)
    with pytest.raises(channel.ChannelError, match=message):
        channel.WorkerConfig.load(tmp_path)


def test_install_records_the_pixel_limit_and_the_plugin_checks_areas_before_reading(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MMREALSR_MAX_PIXELS", "5000")
    assert main(["gimp", "install", "--profile", str(tmp_path)]) == 0
    config = channel.WorkerConfig.load(plugin_folder(tmp_path))
    assert json.loads((plugin_folder(tmp_path) / channel.CONFIG_NAME).read_text())["max_pixels"] == 5000
    config.check_size("layer 'Background'", 70, 70)
    with pytest.raises(channel.ChannelError, match=r"layer 'Background': the area to upscale is 80x70 .*MMREALSR_MAX"):
        config.check_size("layer 'Background'", 80, 70)
    old_install = channel.WorkerConfig(command=["python"])  # written before the limit was recorded
    old_install.check_size("layer", 100_000, 100_000)


def test_a_full_temporary_folder_is_a_clear_message(tmp_path: Path) -> None:
    """The plug-in's side in a process whose files may not grow past 4 KiB (writes fail as on a full disk)."""
    code = (
        "import resource, signal, sys, numpy as np\n"
        "from mmrealsr_plugin.nodes.gimp.mmrealsr_gimp import channel\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))\n"
        "try:\n"
        "    channel.run_worker(channel.WorkerConfig(command=['true']), 'estimate',\n"
        "                       [np.zeros((64, 64, 3), np.float32)], channel.Knobs())\n"
        "except channel.ChannelError as exc:\n"
        "    sys.exit(str(exc))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "TMPDIR": str(tmp_path)})
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "cannot write the pixels for MM-RealSR" in done.stderr and "free space" in done.stderr
    assert list(tmp_path.iterdir()) == [], "the temporary folder was left behind"
