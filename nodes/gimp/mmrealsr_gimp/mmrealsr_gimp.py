#!/usr/bin/env python3
"""MM-RealSR for GIMP 3: 4x real-world super-resolution with noise and blur knobs, and the degradation estimate.

Runs in GIMP's own Python; the model runs in the project's Python environment, reached through the
command `mmrealsr gimp install` recorded next to this file (see channel.py). The image is only changed
after the worker has succeeded, so a failure leaves it untouched.
"""

from __future__ import annotations

import sys
from pathlib import Path

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("GimpUi", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import GLib, GObject, Gimp, GimpUi  # noqa: E402

import channel  # noqa: E402
import gimp_pixels  # noqa: E402

HERE = Path(__file__).resolve().parent
BINARY = "mmrealsr_gimp"
RESTORE_PROC = "plug-in-mmrealsr-super-resolution"
ESTIMATE_PROC = "plug-in-mmrealsr-estimate-degradation"
MENU = "<Image>/Filters/Enhance"
DIALOG_FIELDS = ["auto-noise", "noise", "auto-blur", "blur", "output", "tile-size", "model"]
DEFAULT_MODEL = "default"
RW = GObject.ParamFlags.READWRITE


def _failure(procedure: Gimp.Procedure, message: str) -> Gimp.ValueArray:
    return procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR, GLib.Error(message))


def _success(*values: GObject.Value) -> Gimp.ValueArray:
    status = GObject.Value(Gimp.PDBStatusType, Gimp.PDBStatusType.SUCCESS)
    return Gimp.ValueArray.new_from_values([status, *values])


def _model_of(config: Gimp.ProcedureConfig) -> str | None:
    model = (config.get_property("model") or "").strip()
    return None if model in ("", DEFAULT_MODEL) else model


def _progress(fraction: float, text: str) -> None:
    Gimp.progress_set_text(text)
    Gimp.progress_update(min(1.0, max(0.0, fraction)))


def _read(
    image: Gimp.Image, drawables: list[Gimp.Drawable], worker: channel.WorkerConfig
) -> tuple[list[gimp_pixels.Region], list]:
    """The regions to process and their pixels; an area above the pixel limit is refused before it is read."""
    regions = [gimp_pixels.region_of(layer) for layer in gimp_pixels.pick_layers(image, drawables)]
    for region in regions:
        worker.check_size(f"layer '{region.layer.get_name()}'", region.width, region.height)
    return regions, [gimp_pixels.read_region(region) for region in regions]


def _estimate(config: Gimp.ProcedureConfig, worker: channel.WorkerConfig, pixels: list) -> list[tuple[float, float]]:
    knobs = channel.Knobs(model=_model_of(config))
    Gimp.progress_init("MM-RealSR: estimating blur and noise")
    try:
        return channel.run_worker(worker, "estimate", pixels, knobs, _progress).scores
    finally:
        Gimp.progress_end()


def _dialog(procedure: Gimp.Procedure, config: Gimp.ProcedureConfig, worker: channel.WorkerConfig,
            pixels) -> bool:
    """The knobs, and (with a warm worker) a live preview of the selection's centre computed as they settle."""
    GimpUi.init(BINARY)
    dialog = GimpUi.ProcedureDialog.new(procedure, config, "MM-RealSR Super-Resolution")
    dialog.get_scale_entry("noise", 1.0)
    dialog.get_scale_entry("blur", 1.0)
    dialog.set_sensitive("noise", True, config, "auto-noise", True)
    dialog.set_sensitive("blur", True, config, "auto-blur", True)
    dialog.fill(DIALOG_FIELDS)
    preview = None
    if worker.warm:  # one call per preview: only worth it when the model stays loaded
        import live_preview  # Gtk: only for the dialog, not for every scripted call

        preview = live_preview.LivePreview(config, worker, pixels, _knobs(config))
        dialog.get_content_area().pack_start(preview.widget, False, False, 6)
        preview.widget.show_all()
    try:
        accepted = dialog.run()
    finally:
        if preview is not None:
            preview.close()
        dialog.destroy()
    return bool(accepted)


def _knobs(config: Gimp.ProcedureConfig) -> channel.Knobs:
    return channel.Knobs(
        blur=None if config.get_property("auto-blur") else config.get_property("blur"),
        noise=None if config.get_property("auto-noise") else config.get_property("noise"),
        tile=config.get_property("tile-size"),
        model=_model_of(config),
    )


def _show(image: Gimp.Image) -> None:
    """Open a display for a new image; gimp-console has none (the image is still returned to the caller)."""
    try:
        Gimp.Display.new(image)
    except TypeError:  # PyGObject's word for a NULL display: GIMP runs without a user interface
        pass


def run_restore(procedure, run_mode, image, drawables, config, data):
    """Super-resolve the selected layers (inside the selection's bounding box) into a new image or new layers."""
    try:
        worker = channel.WorkerConfig.load(HERE)
        regions, pixels = _read(image, list(drawables), worker)
        if run_mode == Gimp.RunMode.INTERACTIVE:
            blur, noise = _estimate(config, worker, pixels[:1])[0]
            if config.get_property("auto-blur"):
                config.set_property("blur", round(blur, 3))
            if config.get_property("auto-noise"):
                config.set_property("noise", round(noise, 3))
            if not _dialog(procedure, config, worker, pixels[0]):
                return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, None)
        if config.get_property("output") == "new-layer":
            gimp_pixels.check_new_layers(image)
        knobs = _knobs(config)
        Gimp.progress_init("MM-RealSR super-resolution")
        try:
            done = channel.run_worker(worker, "restore", pixels, knobs, _progress)
        finally:
            Gimp.progress_end()
        if config.get_property("output") == "new-layer":
            gimp_pixels.to_new_layers(image, regions, done.outputs)
            result = image
        else:
            result = gimp_pixels.to_new_image(image, regions, done.outputs)
            if run_mode != Gimp.RunMode.NONINTERACTIVE:
                _show(result)
        Gimp.displays_flush()
        blur, noise = done.scores[0]
        return _success(
            GObject.Value(Gimp.Image, result),
            GObject.Value(GObject.TYPE_DOUBLE, blur),
            GObject.Value(GObject.TYPE_DOUBLE, noise),
        )
    except (channel.ChannelError, gimp_pixels.PixelError) as exc:
        return _failure(procedure, str(exc))
    except Exception as exc:  # a plug-in must answer GIMP, never die with a traceback; the image is untouched
        return _failure(procedure, f"MM-RealSR: unexpected {type(exc).__name__}: {exc}")


def run_estimate(procedure, run_mode, image, drawables, config, data):
    """Estimate blur and noise of the selected layers; shows them and returns those of the first layer."""
    try:
        worker = channel.WorkerConfig.load(HERE)
        regions, pixels = _read(image, list(drawables), worker)
        scores = _estimate(config, worker, pixels)
    except (channel.ChannelError, gimp_pixels.PixelError) as exc:
        return _failure(procedure, str(exc))
    except Exception as exc:  # see run_restore
        return _failure(procedure, f"MM-RealSR: unexpected {type(exc).__name__}: {exc}")
    if run_mode != Gimp.RunMode.NONINTERACTIVE:
        lines = [f"{r.layer.get_name()}: blur {b:.3f}, noise {n:.3f}" for r, (b, n) in zip(regions, scores)]
        Gimp.message("MM-RealSR degradation estimate (0 = clean, 1 = strongly degraded)\n" + "\n".join(lines))
    blur, noise = scores[0]
    return _success(GObject.Value(GObject.TYPE_DOUBLE, blur), GObject.Value(GObject.TYPE_DOUBLE, noise))


def _add_common(procedure: Gimp.ImageProcedure, label: str, blurb: str, help_text: str) -> None:
    procedure.set_image_types("RGB*, GRAY*")
    procedure.set_sensitivity_mask(
        Gimp.ProcedureSensitivityMask.DRAWABLE | Gimp.ProcedureSensitivityMask.DRAWABLES
    )
    procedure.set_menu_label(label)
    procedure.add_menu_path(MENU)
    procedure.set_documentation(blurb, help_text, None)
    procedure.set_attribution("mmrealsr-plugin authors", "mmrealsr-plugin authors", "2026")
    procedure.add_string_argument(
        "model", "_Model", "Registry name, weights file or Hub reference; 'default' uses the one chosen at install",
        DEFAULT_MODEL, RW,
    )


class MMRealSRPlugIn(Gimp.PlugIn):
    def do_query_procedures(self):
        return [RESTORE_PROC, ESTIMATE_PROC]

    def do_set_i18n(self, name):
        return False, None, None

    def do_create_procedure(self, name):
        if name == RESTORE_PROC:
            procedure = Gimp.ImageProcedure.new(self, name, Gimp.PDBProcType.PLUGIN, run_restore, None)
            _add_common(
                procedure, "MM-RealSR Super-_Resolution…", "4x real-world super-resolution with noise and blur knobs",
                "Upscales the selected layers 4x with MM-RealSR (inside the selection's bounding box, if any). Noise "
                "and blur set how strongly each degradation is removed (0 keeps it, 1 removes the most); "
                "'automatic' uses the model's own estimate for this image.",
            )
            procedure.add_boolean_argument("auto-noise", "_Automatic noise", "Use the estimated noise", True, RW)
            procedure.add_double_argument("noise", "_Noise", "Noise removal strength", 0.0, 1.0, 0.5, RW)
            procedure.add_boolean_argument("auto-blur", "Automat_ic blur", "Use the estimated blur", True, RW)
            procedure.add_double_argument("blur", "_Blur", "Deblurring strength", 0.0, 1.0, 0.5, RW)
            output = Gimp.Choice.new()
            output.add("new-image", 0, "New image", "Open the result as a new image")
            output.add("new-layer", 1, "New layer", "Scale this image 4x and add the result above each layer")
            procedure.add_choice_argument("output", "O_utput", "Where the result goes", output, "new-image", RW)
            procedure.add_int_argument(
                "tile-size", "_Tile size", "Tile size in input pixels (0: whole image at once)", 0, 8192, 384, RW
            )
            procedure.add_image_return_value("result", "Result", "The image holding the result", True, RW)
            for knob in ("blur", "noise"):
                procedure.add_double_return_value(
                    f"{knob}-used", f"{knob.title()} used", f"{knob.title()} strength used (first layer)", 0, 1, 0, RW
                )
        elif name == ESTIMATE_PROC:
            procedure = Gimp.ImageProcedure.new(self, name, Gimp.PDBProcType.PLUGIN, run_estimate, None)
            _add_common(
                procedure, "MM-RealSR _Estimate Degradation", "Estimate blur and noise with MM-RealSR",
                "Shows the blur and noise scores (0 = clean, 1 = strongly degraded) that MM-RealSR estimates "
                "for each selected layer, and returns those of the first one.",
            )
            procedure.add_double_return_value("blur", "Blur", "Estimated blur score", 0.0, 1.0, 0.0, RW)
            procedure.add_double_return_value("noise", "Noise", "Estimated noise score", 0.0, 1.0, 0.0, RW)
        else:
            return None
        return procedure


Gimp.main(MMRealSRPlugIn.__gtype__, sys.argv)
