"""The warm GIMP worker (issue 16, item 3) without GIMP: the plug-in's side (channel.run_worker) against the real
server, with this test process standing in for GIMP (the owner). Inside a real GIMP: tests/gimp/test_warm.py."""

from __future__ import annotations

import os
import re
import tempfile
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from mmrealsr_plugin.nodes.gimp.install import worker_command
from mmrealsr_plugin.nodes.gimp.mmrealsr_gimp import channel

WARM = channel.WorkerConfig(command=worker_command(), warm=True)


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory):
    """A private temp folder (TMPDIR) for the module, and every worker started here ended afterwards.

    Yields ``owner()``, a new stand-in GIMP process; tests that only need a warm worker share ``shared``.
    """
    tmp_path = tmp_path_factory.mktemp("warm")
    saved = os.environ.get("TMPDIR"), tempfile.tempdir
    os.environ["TMPDIR"], tempfile.tempdir = str(tmp_path), None
    owners: list[subprocess.Popen] = []

    def owner() -> int:
        """A stand-in for one GIMP process: the worker lives as long as it does."""
        process = subprocess.Popen(["sleep", "600"])
        owners.append(process)
        return process.pid

    try:
        yield owner
    finally:
        if saved[0] is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved[0]
        tempfile.tempdir = saved[1]
    for process in owners:
        process.kill()
        process.wait()
    deadline = time.monotonic() + 10
    while list(tmp_path.glob("mmrealsr-gimp-*/*.sock")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not list(tmp_path.glob("mmrealsr-gimp-*/*.sock")), "a worker outlived its GIMP"


@pytest.fixture(scope="module")
def shared(session) -> int:
    """One stand-in GIMP whose worker several tests use (each worker start imports torch: seconds)."""
    return session()


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mmrealsr_plugin.testing import save_random_model

    return save_random_model(tmp_path_factory.mktemp("model") / "tiny.safetensors")


def _worker(owner: int) -> channel.WarmWorker:
    return channel.WarmWorker(WARM, owner)


def _knobs(model: Path, **more) -> channel.Knobs:
    return channel.Knobs(blur=0.3, noise=0.6, tile=32, model=str(model), **more)


def _image(height: int = 40, width: int = 48) -> np.ndarray:
    return np.random.default_rng(0).random((height, width, 3), dtype=np.float32)


def _server_pids(worker: channel.WarmWorker) -> list[int]:
    """The worker processes serving ``worker``'s address (one that has exited, even unreaped, is not listed)."""
    command = ["pgrep", "-f", "--", f"--serve {worker.address}"]
    return [int(pid) for pid in subprocess.run(command, capture_output=True, text=True).stdout.split()]


def _server_pid(worker: channel.WarmWorker) -> int:
    pids = _server_pids(worker)
    assert len(pids) == 1, pids
    return pids[0]


def _plugin(code: str) -> subprocess.Popen:
    """A stand-in plug-in process that prints its progress lines; killing it is GIMP's Cancel."""
    head = (
        "import sys, numpy as np\n"
        "from mmrealsr_plugin.nodes.gimp.install import worker_command\n"
        "from mmrealsr_plugin.nodes.gimp.mmrealsr_gimp import channel\n"
        "def shown(fraction, text):\n"
        "    print(text, flush=True)\n"
    )
    return subprocess.Popen([sys.executable, "-c", head + code], stdout=subprocess.PIPE, text=True)


def test_one_worker_per_session_keeps_the_model_and_answers_as_the_one_shot_worker(session, model_path) -> None:
    owner, image, knobs = session(), _image(), _knobs(model_path)
    shown: list[str] = []
    first = channel.run_worker(WARM, "restore", [image], knobs, lambda f, text: shown.append(text), owner=owner)
    assert "starting the worker (once per GIMP session)" in shown[0]
    pid = _server_pid(_worker(owner))
    second = channel.run_worker(WARM, "restore", [image], knobs, lambda f, text: shown.append(text), owner=owner)
    assert _server_pid(_worker(owner)) == pid and shown.count(shown[0]) == 1
    one_shot = channel.run_worker(channel.WorkerConfig(command=worker_command()), "restore", [image], knobs)
    np.testing.assert_array_equal(first.outputs[0], one_shot.outputs[0])
    np.testing.assert_array_equal(second.outputs[0], one_shot.outputs[0])
    assert first.scores == one_shot.scores
    assert "listening" in _worker(owner).log_tail() and _worker(owner).log_tail().count("listening") == 1
    other = session()  # another GIMP: its own worker
    channel.run_worker(WARM, "estimate", [image], knobs, owner=other)
    assert _server_pid(_worker(other)) != pid


def test_preview_task_restores_the_box_as_the_core_does(shared, model_path) -> None:
    from mmrealsr_plugin import load_model
    from mmrealsr_plugin.preview import Box, restore_region

    image = _image(60, 70)
    result = channel.run_worker(WARM, "preview", [image], _knobs(model_path, box=(10, 12, 24, 16)), owner=shared)
    expected = restore_region(load_model(model_path, device="cpu"), image, Box(10, 12, 24, 16), blur=0.3,
                              noise=0.6, tile=32)
    assert result.outputs[0].shape == (64, 96, 3)
    np.testing.assert_array_equal(result.outputs[0], expected.image)


def test_cancel_stops_the_call_within_2_s_and_the_worker_stays_warm(shared, model_path, tmp_path) -> None:
    """GIMP's Cancel kills the plug-in process; the worker notices, stops at the next tile and keeps the model."""
    owner, tiny_model_path = shared, model_path
    channel.run_worker(WARM, "estimate", [_image()], _knobs(tiny_model_path), owner=owner)  # warm it up
    worker = _worker(owner)
    pid = _server_pid(worker)
    big = tmp_path / "big.npy"
    np.save(big, _image(512, 512))
    plugin = _plugin(
        "channel.run_worker(channel.WorkerConfig(command=worker_command(), warm=True), 'restore',\n"
        f"    [np.load({str(big)!r})], channel.Knobs(tile=16, model={str(tiny_model_path)!r}), shown, owner={owner})\n"
    )
    for line in plugin.stdout:
        if "tile 20/" in line:
            break
    else:
        pytest.fail("the call never reached tile 20")
    plugin.send_signal(signal.SIGKILL)  # what GIMP does on Cancel (gimp_plug_in_close(plug_in, TRUE))
    killed = time.monotonic()
    plugin.wait()
    while "cancelled:" not in worker.log_tail() and time.monotonic() < killed + 10:
        time.sleep(0.02)
    latency = time.monotonic() - killed
    assert re.search(r"cancelled: the call stopped [0-9.]+ s after", worker.log_tail()), worker.log_tail()
    assert latency <= 2.0, f"the call stopped {latency:.2f} s after the plug-in was killed"
    assert _server_pid(worker) == pid, "the worker did not survive the Cancel"
    after = channel.run_worker(WARM, "restore", [_image()], _knobs(tiny_model_path), owner=owner)
    assert after.outputs[0].shape == (160, 192, 3)
    calls = Path(os.environ["TMPDIR"])
    leftovers = [p for p in calls.glob(f"{channel.CALL_PREFIX}*") if p.name.split("-")[3] == str(plugin.pid)]
    assert leftovers == [], "the killed plug-in's temp folder was not swept on the next call"


def test_cancel_during_a_long_tile_ends_the_worker_within_2_s_and_the_next_call_starts_a_new_one(
        session, model_path, tmp_path) -> None:
    """A tile still running CANCEL_GRACE_S after Cancel: the worker ends itself, so the CPU is free within 2 s, and
    the next call starts a new one, saying so. The packaged model's 128 px tiles take seconds each on a CPU."""
    from mmrealsr_plugin.nodes.gimp.server import CANCEL_GRACE_S

    owner = session()
    worker = _worker(owner)
    wide = tmp_path / "wide.npy"
    np.save(wide, _image(128, 384))  # three 128 px tiles
    plugin = _plugin(
        "channel.run_worker(channel.WorkerConfig(command=worker_command(), warm=True), 'restore',\n"
        f"    [np.load({str(wide)!r})], channel.Knobs(blur=0.3, noise=0.3, tile=128, model='mmrealsr-x4-v2'),\n"
        f"    shown, owner={owner})\n"
    )
    ended: dict[int, float] = {}
    for line in plugin.stdout:
        for tile in (1, 2):
            if f"tile {tile}/" in line:
                ended[tile] = time.monotonic()
        if 2 in ended:
            break
    assert set(ended) == {1, 2}, f"the call never reached tile 2; the worker's log:\n{worker.log_tail()}"
    tile_s = ended[2] - ended[1]
    if tile_s < 2 * CANCEL_GRACE_S:
        plugin.kill()
        plugin.wait()
        pytest.skip(f"a tile takes {tile_s:.1f} s here: too short to be still running {CANCEL_GRACE_S} s after Cancel")
    pid = _server_pid(worker)
    plugin.kill()  # GIMP's Cancel, just after tile 3 of 3 began
    killed = time.monotonic()
    plugin.wait()
    while _server_pids(worker) and time.monotonic() < killed + 30:
        time.sleep(0.02)
    gone_s = time.monotonic() - killed
    assert f"ending: cancelled, but the running tile did not end within {CANCEL_GRACE_S} s" in worker.log_tail()
    assert gone_s <= 2.0, f"the worker ended {gone_s:.2f} s after the Cancel (a tile takes {tile_s:.1f} s)"
    assert not Path(worker.address).exists(), "the ended worker left its socket"
    shown: list[str] = []
    channel.run_worker(WARM, "estimate", [_image()], _knobs(model_path), lambda f, t: shown.append(t), owner=owner)
    assert "the previous worker of this session is gone; starting a new one" in shown[0], shown
    assert _server_pid(worker) != pid


def test_a_crashed_worker_is_a_clear_error_and_the_next_call_starts_a_new_one(session, model_path) -> None:
    owner, tiny_model_path = session(), model_path
    worker = _worker(owner)
    channel.run_worker(WARM, "estimate", [_image()], _knobs(tiny_model_path), owner=owner)
    pid = _server_pid(worker)
    os.kill(pid, signal.SIGKILL)  # a crash between calls
    shown: list[str] = []
    channel.run_worker(WARM, "estimate", [_image()], _knobs(tiny_model_path), lambda f, t: shown.append(t),
                       owner=owner)
    assert "the previous worker of this session is gone; starting a new one" in shown[0]
    pid = _server_pid(worker)

    def crash(fraction: float, text: str) -> None:  # a crash in the middle of a call
        if "tile 3/" in text:
            os.kill(pid, signal.SIGKILL)

    with pytest.raises(channel.ChannelError, match="stopped in the middle of the call; the image was not changed "
                                                   "and the next call starts a new worker"):
        channel.run_worker(WARM, "restore", [_image(256, 256)], channel.Knobs(tile=16, model=str(tiny_model_path)),
                           crash, owner=owner)
    again = channel.run_worker(WARM, "estimate", [_image()], _knobs(tiny_model_path), owner=owner)
    assert len(again.scores) == 1 and _server_pid(worker) != pid


def test_the_worker_ends_after_the_idle_time_and_with_gimp(session, model_path, monkeypatch) -> None:
    monkeypatch.setattr(channel, "IDLE_S", 1)
    owner, tiny_model_path = session(), model_path
    worker = _worker(owner)
    channel.run_worker(WARM, "estimate", [_image()], _knobs(tiny_model_path), owner=owner)
    deadline = time.monotonic() + 15
    while Path(worker.address).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(worker.address).exists() and "ending: idle for 1 s" in worker.log_tail()
    assert not worker.key_file.exists(), "a worker that ended normally must not look crashed"


def test_worker_errors_keep_the_worker_and_a_bad_request_is_refused(shared, model_path, tmp_path) -> None:
    owner, tiny_model_path = shared, model_path
    with pytest.raises(channel.ChannelError, match="MM-RealSR failed: .*missing.safetensors"):
        channel.run_worker(WARM, "estimate", [_image()], channel.Knobs(model=str(tmp_path / "missing.safetensors")),
                           owner=owner)
    worker = _worker(owner)
    pid = _server_pid(worker)
    from multiprocessing.connection import Client

    with Client(worker.address, "AF_UNIX", authkey=worker.key_file.read_bytes()) as connection:
        connection.send_bytes(b'{"argv": ["--task", "nonsense"]}')
        assert "does not understand" in connection.recv_bytes().decode()
    with pytest.raises(Exception):  # the wrong key is refused before anything is read
        Client(worker.address, "AF_UNIX", authkey=b"wrong")
    assert channel.run_worker(WARM, "estimate", [_image()], _knobs(tiny_model_path), owner=owner).scores
    assert _server_pid(worker) == pid
