"""The dialog's live preview: the centre of the selection restored with the knobs shown, by the warm worker.

Runs in GIMP's Python. A knob change restarts a short timer, so the preview is computed when a slider stops
moving; the worker call runs in a thread (the dialog stays responsive) and a newer value stops a call still
running. The region is restored as the full run would restore it (the core's restore_region), with the sliders'
values (pre-filled with the estimate of the whole selection), so the preview shows what OK will give there.
"""

from __future__ import annotations

import threading

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("GimpUi", "3.0")
gi.require_version("Gtk", "3.0")
from gi.repository import GLib, Gimp, GimpUi, Gtk  # noqa: E402

import numpy as np  # noqa: E402

import channel  # noqa: E402

SIDE = 64
"""Input pixels previewed (the centre of the selection): 256 x 256 on screen after 4x."""
SETTLE_MS = 400
"""A slider that has not moved for this long has stopped: then the preview is computed."""
KNOBS = ("blur", "noise", "auto-blur", "auto-noise")


def centre_box(height: int, width: int) -> tuple[int, int, int, int]:
    w, h = min(SIDE, width), min(SIDE, height)
    return (width - w) // 2, (height - h) // 2, w, h


class LivePreview:
    def __init__(self, config: Gimp.ProcedureConfig, worker: channel.WorkerConfig, pixels: np.ndarray,
                 knobs: channel.Knobs) -> None:
        self.config, self.worker, self.pixels, self.base = config, worker, pixels, knobs
        self.box = centre_box(*pixels.shape[:2])
        self.area = GimpUi.PreviewArea.new()
        self.area.set_size_request(4 * self.box[2], 4 * self.box[3])
        self.label = Gtk.Label(label="MM-RealSR: preparing the preview…", xalign=0.0)  # under the picture
        self.widget = Gtk.Frame(label=f"Preview: the centre of the selection ({self.box[2]}x{self.box[3]} px, 4x)")
        column = Gtk.Box(orientation=Gtk.Orientation.VERTICAL, spacing=4)
        column.pack_start(self.area, False, False, 0)
        column.pack_start(self.label, False, False, 0)
        self.widget.add(column)
        self.timer = 0
        self.thread: threading.Thread | None = None
        self.generation = 0
        self.result: np.ndarray | str | None = None
        self.closed = False
        self.handlers = [config.connect(f"notify::{name}", self.changed) for name in KNOBS]
        self.changed()

    def changed(self, *_args: object) -> None:
        if self.timer:
            GLib.source_remove(self.timer)
        self.timer = GLib.timeout_add(SETTLE_MS, self.start)

    def knobs(self) -> channel.Knobs:
        return channel.Knobs(blur=self.config.get_property("blur"), noise=self.config.get_property("noise"),
                             tile=self.base.tile, model=self.base.model, box=self.box)

    def start(self) -> bool:
        self.timer = 0
        self.generation += 1
        if self.thread is not None and self.thread.is_alive():
            self.timer = GLib.timeout_add(50, self.start)  # the running call sees the newer generation and stops
            return False
        self.label.set_text("MM-RealSR: computing the preview…")
        generation, knobs = self.generation, self.knobs()
        self.thread = threading.Thread(target=self.run, args=(generation, knobs), daemon=True)
        self.thread.start()
        GLib.timeout_add(100, self.poll, generation, knobs)
        return False

    def run(self, generation: int, knobs: channel.Knobs) -> None:
        def stale() -> bool:
            return self.closed or generation != self.generation

        try:
            self.result = channel.run_worker(self.worker, "preview", [self.pixels], knobs, stop=stale).outputs[0]
        except channel.Stopped:
            self.result = None
        except channel.ChannelError as exc:
            self.result = str(exc)

    def poll(self, generation: int, knobs: channel.Knobs) -> bool:
        if self.thread is not None and self.thread.is_alive():
            return True
        if self.closed or generation != self.generation:
            return False
        if isinstance(self.result, np.ndarray):
            self.show(self.result)
            self.label.set_text(f"blur {knobs.blur:.3f}, noise {knobs.noise:.3f}")  # as the sliders show them
        elif self.result:
            self.label.set_text(self.result[:200])
        return False

    def show(self, pixels: np.ndarray) -> None:
        rgb = pixels[..., :3] if pixels.shape[-1] >= 3 else np.repeat(pixels[..., :1], 3, axis=-1)
        data = np.ascontiguousarray(np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8))
        height, width = data.shape[:2]
        self.area.draw(0, 0, width, height, Gimp.ImageType.RGB_IMAGE, data.tobytes(), width * 3)

    def close(self) -> None:
        """Stop a running call (the worker cancels it) before the real run needs the worker."""
        self.closed = True
        for handler in self.handlers:
            self.config.disconnect(handler)
        if self.timer:
            GLib.source_remove(self.timer)
        if self.thread is not None:
            self.thread.join(timeout=5)
