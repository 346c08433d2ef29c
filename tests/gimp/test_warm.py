"""The warm worker in a real gimp-console-3.0 (issue 16, item 3): first vs second call, Cancel, the worker after it.

GIMP answers Cancel in its progress bar by killing the plug-in process (gimp_plug_in_close(plug_in, TRUE)); the
test does exactly that to the running plug-in, then measures how long the worker took to stop the call (its log),
and checks the image is untouched and the next call is served by the same, still warm, worker.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmrealsr_plugin.archs.mmrealsr import MMRealSRConfig
from mmrealsr_plugin.testing import save_random_model

pytestmark = pytest.mark.gimp

HERE = Path(__file__).resolve().parent
ARTIFACTS = Path(os.environ.get("MMREALSR_CACHE", "/root/.cache/mmrealsr-ci")) / "artifacts"
SIZE = 288
TILE = 384
MODEL = MMRealSRConfig(num_feat=32, num_block=2, num_grow_ch=16, embed_dim=16, estimator_feats=(8, 16),
                       estimator_blocks=(1, 1), estimator_downscales=(2, 1), estimator_hidden=16)
"""A trunk 16x the tiny model's cost per pixel: on a CPU the compute (tens of seconds) then dominates the plug-in's
own start and pixel copies, as with a real model, where it dominates by far more."""


def _newest_plugin_process() -> int | None:
    """The most recently started MM-RealSR plug-in process (GIMP starts one per call), if any is running."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if b"mmrealsr_gimp.py" in command:
            found[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[19])  # start time, clock ticks
    return max(found, key=found.get) if found else None


def test_second_call_is_warm_and_cancel_stops_the_worker_within_2_s(gimp) -> None:
    work = gimp.work
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    pixels = np.clip(0.5 + 0.3 * np.sin(xx / 9.0)[..., None] * np.cos(yy / 7.0)[..., None]
                     + rng.normal(0, 0.05, (SIZE, SIZE, 3)), 0, 1)
    Image.fromarray(np.round(pixels * 255).astype(np.uint8)).save(work / "warm.png")
    marker = work / "cancel-marker"
    model = save_random_model(work / "warm-model.safetensors", MODEL, seed=1)
    job = {"source": str(work / "warm.png"), "tile": TILE, "cancel_marker": str(marker), "model": str(model)}
    argv, results_file = gimp.batch("gimp-console-3.0", HERE / "batch_warm.py", job, "warm")
    with open(work / "warm-gimp.out", "w+") as log:
        app = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 600
            while not marker.exists():
                assert app.poll() is None and time.monotonic() < deadline, "GIMP never reached the cancelled call"
                time.sleep(0.2)
            worker_log = gimp.worker_log(app.pid)  # chroot and env exec GIMP: the same process
            while not worker_log.exists() or worker_log.read_text().count("serving restore") < 3:
                assert time.monotonic() < deadline, "the cancelled call never reached the worker"
                time.sleep(0.05)
            plugin = _newest_plugin_process()
            assert plugin is not None
            time.sleep(2)  # running tiles now
            os.kill(plugin, signal.SIGKILL)  # GIMP's Cancel
            killed = time.monotonic()
            while "cancelled:" not in worker_log.read_text() and time.monotonic() < killed + 30:
                time.sleep(0.02)
            cancel_latency = time.monotonic() - killed
            app.wait(600)
        finally:
            if app.poll() is None:
                app.kill()
                app.wait()
        log.seek(0)
        output = log.read()
    results = gimp.results(results_file, app.returncode, output, "", "warm")
    ended = time.monotonic() + 10
    while "has ended" not in worker_log.read_text() and time.monotonic() < ended:
        time.sleep(0.1)
    worker_text = worker_log.read_text()
    served = [(float(a), float(b)) for a, b in re.findall(r"served \w+ in ([0-9.]+) s, computing ([0-9.]+) s",
                                                         worker_text)]
    report = {
        "first_call_s": results["first"]["seconds"], "second_call_s": results["second"]["seconds"],
        "worker_compute_s": [b for _, b in served], "cancel_latency_s": cancel_latency,
        "after_cancel_call_s": results["after_cancel"]["seconds"], "worker_log": worker_text,
    }
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "gimp-warm-worker.json").write_text(json.dumps(report, indent=2))
    print(json.dumps({k: v for k, v in report.items() if k != "worker_log"}))

    for name in ("first", "second", "after_cancel"):
        assert results[name]["call"]["status"] == "success", results[name]
    assert worker_text.count("listening") == 1, "one worker served the whole session, Cancel included"
    assert len(served) == 3, worker_text
    second_compute = served[1][1]
    # Warm: the call costs the compute plus the plug-in's own start and pixel copies, never a torch start or a model
    # load (seconds). With a real model the compute is minutes and the overhead is far below 20% of it; with this
    # test's model on an idle machine the compute can be under a second, so the overhead may also be <= 0.5 s.
    overhead = results["second"]["seconds"] - second_compute
    assert overhead <= max(0.2 * second_compute, 0.5), report
    # first vs second call is reported, not asserted: on a shared CPU the load moves the compute itself by 5x
    # between two calls (1.7 s and 9.3 s for the same call in one run); "warm" is one worker and the ratio above
    assert cancel_latency <= 2.0, report
    cancelled = results["cancelled"]
    assert cancelled["call"]["status"] != "success"
    assert cancelled["source_after"] == cancelled["source_before"], "Cancel changed the image"
    assert f"ending: GIMP (process {app.pid}) has ended" in worker_text
