"""Helpers for the batch scripts GIMP runs (python-fu-eval: Gimp, Gegl, Gio, GLib, GObject are globals).

Executed first in the same namespace as batch_headless.py or batch_dialog.py: reads the job (JSON,
path in $MMREALSR_GIMP_JOB) and offers calls of the plug-in's procedures exactly as another script
would make them; the case script writes what it observed to job["results"] with finish().
"""

import hashlib
import json
import os

job = json.load(open(os.environ["MMREALSR_GIMP_JOB"]))
results = {}
RESTORE = "plug-in-mmrealsr-super-resolution"
ESTIMATE = "plug-in-mmrealsr-estimate-degradation"


def load(path):
    return Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(path))


def export(image, path):
    Gimp.file_save(Gimp.RunMode.NONINTERACTIVE, image, Gio.File.new_for_path(path), None)


def call(name, image, run_mode=Gimp.RunMode.NONINTERACTIVE, **properties):
    procedure = Gimp.get_pdb().lookup_procedure(name)
    if procedure is None:
        raise RuntimeError(f"procedure {name} is not registered")
    config = procedure.create_config()
    config.set_property("run-mode", run_mode)
    config.set_property("image", image)
    config.set_core_object_array("drawables", image.get_selected_drawables())
    for key, value in properties.items():
        config.set_property(key.replace("_", "-"), value)
    values = procedure.run(config)
    status = values.index(0)
    out = {"status": status.value_nick, "values": []}
    for index in range(1, values.length()):
        value = values.index(index)
        out["values"].append(value if isinstance(value, (int, float, str)) or value is None else repr(value))
    return out, values


def state(image):
    """Everything a failed call must leave as it was."""
    digest = hashlib.sha256()
    for layer in image.get_layers():
        buffer = layer.get_buffer()
        rect = Gegl.Rectangle.new(0, 0, layer.get_width(), layer.get_height())
        digest.update(buffer.get(rect, 1.0, "R'G'B'A float", Gegl.AbyssPolicy.CLAMP))
    return {
        "size": [image.get_width(), image.get_height()],
        "layers": [layer.get_name() for layer in image.get_layers()],
        "dirty": image.is_dirty(),
        "pixels": digest.hexdigest(),
    }


def restore_case(name, source, export_path, run_mode="NONINTERACTIVE", selection=None, second_layer=None,
                 indexed=False, **properties):
    image = load(source)
    if indexed:
        image.convert_indexed(Gimp.ConvertDitherType.NONE, Gimp.ConvertPaletteType.GENERATE, 16, False, False, "")
    if selection:
        image.select_rectangle(Gimp.ChannelOps.REPLACE, *selection)
    if second_layer:
        bottom = image.get_layers()[0]
        top = bottom.copy()
        image.insert_layer(top, None, 0)
        top.set_name("Shifted")
        top.set_offsets(*second_layer)
        image.set_selected_layers([top, bottom])
    before = state(image)
    out, values = call(RESTORE, image, getattr(Gimp.RunMode, run_mode), **properties)
    case = {"call": out, "source_after": state(image), "source_before": before}
    if out["status"] == "success":
        result = values.index(1)
        case["result_size"] = [result.get_width(), result.get_height()]
        case["result_base"] = result.get_base_type().value_nick
        case["result_layers"] = [layer.get_name() for layer in result.get_layers()]
        case["result_geometry"] = [
            [*layer.get_offsets()[1:], layer.get_width(), layer.get_height()] for layer in result.get_layers()
        ]
        if result == image:
            for layer in image.get_layers():
                layer.set_visible("(MM-RealSR)" in layer.get_name())
        export(result, export_path)
    results[name] = case
    return image


def finish():
    with open(job["results"], "w") as handle:
        json.dump(results, handle)
