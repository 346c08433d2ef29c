"""The plug-in's dialog in a real gimp-3.0 under Xvfb: shown with its live preview, screenshot kept, accepted with Return.

batch_dialog.py calls the procedure INTERACTIVE (GIMP opens the dialog and waits), this test waits
for the window, keeps a screenshot, presses Return with xdotool, then lets the script call it again
WITH_LAST_VALS (no dialog, the values just accepted).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmrealsr_plugin import load_model, restore

pytestmark = pytest.mark.gimp

HERE = Path(__file__).resolve().parent
DIALOG_TITLE = "MM-RealSR Super-Resolution"
WINDOW_TIMEOUT = 240
PREVIEW_TIMEOUT = 120
GIMP_TIMEOUT = 300
KNOBS = {"auto_noise": True, "auto_blur": False, "blur": 0.1}
"""Noise automatic (its slider is pre-filled with the estimate), blur set by hand."""
LAST_VALUES = "plug-in-settings/GimpProcedureConfigRun-plug-in-mmrealsr-super-resolution.last"


def _start_xvfb(gimp) -> tuple[subprocess.Popen, str]:
    """Xvfb on a display number it picks itself (-displayfd), so it never clashes with another X server."""
    read_end, write_end = os.pipe()
    xvfb = subprocess.Popen(
        gimp.command(["Xvfb", "-displayfd", str(write_end), "-screen", "0", "1024x768x24", "-nolisten", "tcp"]),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, pass_fds=(write_end,),
    )
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        number = pipe.readline().strip()
    if not number:
        _stop(xvfb)
        pytest.fail("Xvfb did not start (no display number reported)")
    return xvfb, f":{number}"


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _find_window(gimp, display: str, app: subprocess.Popen) -> str:
    """The dialog's window id. Polled rather than `xdotool search --sync`, which dies on an X error when a window
    closes while it looks (GIMP's start-up windows do) and then reports no window at all."""
    deadline = time.monotonic() + WINDOW_TIMEOUT
    command = gimp.command(["xdotool", "search", "--onlyvisible", "--name", DIALOG_TITLE], DISPLAY=display)
    while True:
        find = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        if find.stdout.split():
            return find.stdout.split()[0]
        if app.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"the dialog never showed (GIMP exit code {app.returncode}): {find.stderr[-2000:]}")
        time.sleep(0.5)


def test_dialog_accepts_with_return_then_last_values_are_reused(gimp):
    work = gimp.work
    rng = np.random.default_rng(7)
    pixels = np.round(rng.uniform(0, 1, (20, 24, 3)) * 255).astype(np.uint8)
    Image.fromarray(pixels).save(work / "dialog.png")
    outputs = {"interactive": str(work / "dialog-interactive.png"), "last_vals": str(work / "dialog-last.png")}
    shot = work / "gimp-dialog.png"
    job = {"source": str(work / "dialog.png"), "knobs": KNOBS, "outputs": outputs}
    xvfb, display = _start_xvfb(gimp)
    argv, results_file = gimp.batch("gimp-3.0", HERE / "batch_dialog.py", job, "dialog", DISPLAY=display)
    gimp_log = open(work / "dialog-gimp.out", "w+")
    app = None
    try:
        app = subprocess.Popen(argv, stdout=gimp_log, stderr=subprocess.STDOUT)
        window = _find_window(gimp, display, app)
        worker_log = gimp.worker_log(app.pid)
        deadline = time.monotonic() + PREVIEW_TIMEOUT
        while time.monotonic() < deadline and "served preview" not in (
                worker_log.read_text() if worker_log.exists() else ""):
            time.sleep(0.2)
        preview_served = worker_log.exists() and "served preview" in worker_log.read_text()
        time.sleep(2)  # let GTK draw the preview before the screenshot
        subprocess.run(gimp.command(["import", "-window", "root", str(shot)], DISPLAY=display), check=True, timeout=60)
        subprocess.run(
            gimp.command(["xdotool", "windowfocus", "--sync", window, "key", "Return"], DISPLAY=display),
            check=True, timeout=60,
        )
        app.wait(GIMP_TIMEOUT)
    finally:
        if app is not None:
            _stop(app)
        _stop(xvfb)
        gimp_log.seek(0)
        output = gimp_log.read()
        gimp_log.close()
        if shot.exists():
            artifacts = Path(os.environ.get("MMREALSR_CACHE", "/root/.cache/mmrealsr-ci")) / "artifacts"
            artifacts.mkdir(parents=True, exist_ok=True)
            shutil.copy(shot, artifacts / "gimp-dialog.png")

    results = gimp.results(results_file, app.returncode, output, "", "dialog")
    assert shot.stat().st_size > 0
    assert preview_served, f"the dialog's live preview was never computed; GIMP's output:\n{output[-3000:]}"
    assert "Traceback" not in output, output[-3000:]
    model = load_model(str(gimp.model), device="cpu")
    restored = restore(model, pixels.astype(np.float32) / 255, blur=KNOBS["blur"])
    expected, noise = restored.image, float(restored.scores.noise[0])
    last_values = (gimp.profile / LAST_VALUES).read_text()
    assert f"(noise {round(noise, 3)}" in last_values, "the noise slider was pre-filled with the estimate"
    assert "(auto-noise yes)" in last_values and "(auto-blur no)" in last_values
    for name in ("interactive", "last_vals"):
        case = results[name]
        assert case["call"]["status"] == "success", case
        assert case["call"]["values"][1:] == pytest.approx([KNOBS["blur"], noise], abs=1e-5), name
        got = np.asarray(Image.open(outputs[name]), dtype=np.float32) / 255
        assert np.abs(got - expected).max() <= 1 / 255 + 1e-6, name
