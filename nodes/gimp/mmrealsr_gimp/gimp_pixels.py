"""Moving pixels between GIMP 3 drawables and numpy, and building the outputs (new image or new layers).

Pixels travel as non-linear ("primed", sRGB-encoded) float: what super-resolution models are trained
on, and lossless for 8, 16 and 32-bit images alike. Each layer is read inside the selection's
bounding box (the whole layer without a selection).
"""

from __future__ import annotations

from dataclasses import dataclass

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp  # noqa: E402

import numpy as np  # noqa: E402

SCALE = 4
BAND_BYTES = 64 * 1024 * 1024


class PixelError(Exception):
    """A drawable or selection the plug-in cannot work on; the message is shown in GIMP."""


@dataclass(frozen=True)
class Region:
    """The part of one layer that is processed, in layer coordinates plus the layer's image offset."""

    layer: Gimp.Layer
    x: int
    y: int
    width: int
    height: int
    offset_x: int
    offset_y: int

    @property
    def image_x(self) -> int:
        return self.offset_x + self.x

    @property
    def image_y(self) -> int:
        return self.offset_y + self.y


def babl_format(drawable: Gimp.Drawable) -> str:
    base = "Y'" if drawable.is_gray() else "R'G'B'"
    return f"{base}{'A' if drawable.has_alpha() else ''} float"


def channel_count(drawable: Gimp.Drawable) -> int:
    return (1 if drawable.is_gray() else 3) + (1 if drawable.has_alpha() else 0)


def layer_type(drawable: Gimp.Drawable) -> Gimp.ImageType:
    if drawable.is_gray():
        return Gimp.ImageType.GRAYA_IMAGE if drawable.has_alpha() else Gimp.ImageType.GRAY_IMAGE
    return Gimp.ImageType.RGBA_IMAGE if drawable.has_alpha() else Gimp.ImageType.RGB_IMAGE


def _stacking(image: Gimp.Image) -> dict[int, int]:
    """Layer id -> rank from the top of the stack, group contents right below their group."""
    ranks: dict[int, int] = {}

    def walk(layers: list[Gimp.Layer]) -> None:
        for layer in layers:
            ranks[layer.get_id()] = len(ranks)
            if layer.is_group():
                walk(layer.get_children())

    walk(image.get_layers())
    return ranks


def pick_layers(image: Gimp.Image, drawables: list[Gimp.Drawable]) -> list[Gimp.Layer]:
    """The selected layers, top of the stack first; channels and layer masks are refused."""
    if not drawables:
        raise PixelError("no layer is selected: select one or more layers and try again")
    refused = [d.get_name() for d in drawables if not isinstance(d, Gimp.Layer)]
    if refused:
        raise PixelError(
            f"MM-RealSR works on layers, but {', '.join(refused)} is a channel or layer mask: select layers instead"
        )
    ranks = _stacking(image)
    return sorted(drawables, key=lambda layer: ranks.get(layer.get_id(), len(ranks)))


def region_of(layer: Gimp.Layer) -> Region:
    non_empty, x, y, width, height = layer.mask_intersect()
    if not non_empty or width <= 0 or height <= 0:
        raise PixelError(
            f"the selection does not overlap layer '{layer.get_name()}': change the selection or select none"
        )
    _, offset_x, offset_y = layer.get_offsets()
    return Region(layer, x, y, width, height, offset_x, offset_y)


def _bands(height: int, width: int, channels: int) -> range:
    """Row offsets of bands of about BAND_BYTES: a copy in transit never holds a whole large image twice."""
    rows = max(1, BAND_BYTES // max(1, width * channels * 4))
    return range(0, height, rows)


def read_region(region: Region) -> np.ndarray:
    """The region as float32 (H, W, C) in [0, 1], non-linear, C = 1..4 as the layer has."""
    buffer = region.layer.get_buffer()
    channels = channel_count(region.layer)
    pixels = np.empty((region.height, region.width, channels), np.float32)
    bands = _bands(region.height, region.width, channels)
    for top in bands:
        rows = min(bands.step, region.height - top)
        rect = Gegl.Rectangle.new(region.x, region.y + top, region.width, rows)
        data = buffer.get(rect, 1.0, babl_format(region.layer), Gegl.AbyssPolicy.CLAMP)
        pixels[top: top + rows] = np.frombuffer(data, dtype=np.float32).reshape(rows, region.width, channels)
    return pixels


def write_layer(layer: Gimp.Layer, pixels: np.ndarray) -> None:
    """Fill a freshly created layer of the same size with ``pixels`` (H, W, C)."""
    height, width = pixels.shape[:2]
    if (width, height) != (layer.get_width(), layer.get_height()):
        raise PixelError(
            f"internal size mismatch: result {width}x{height}, layer {layer.get_width()}x{layer.get_height()}"
        )
    buffer = layer.get_buffer()
    bands = _bands(height, width, pixels.shape[2])
    for top in bands:
        band = np.ascontiguousarray(np.clip(pixels[top: top + bands.step], 0.0, 1.0), dtype=np.float32)
        buffer.set(Gegl.Rectangle.new(0, top, width, band.shape[0]), babl_format(layer), band.tobytes())
    buffer.flush()
    layer.update(0, 0, width, height)


def _new_layer(image: Gimp.Image, source: Gimp.Layer, pixels: np.ndarray, name: str) -> Gimp.Layer:
    if pixels.shape[-1] != channel_count(source):
        raise PixelError(f"internal error: result has {pixels.shape[-1]} channels, layer '{source.get_name()}' has "
                         f"{channel_count(source)}")
    height, width = pixels.shape[:2]
    return Gimp.Layer.new(image, name, width, height, layer_type(source), 100.0, Gimp.LayerMode.NORMAL)


def to_new_image(image: Gimp.Image, regions: list[Region], outputs: list[np.ndarray]) -> Gimp.Image:
    """One new image, 4x the union of the regions, one layer per processed layer (first selected on top).

    An indexed source gives an RGB result: a new indexed image has no palette (GIMP cannot even export it), and
    the restored pixels are continuous-tone anyway.
    """
    left = min(r.image_x for r in regions)
    top = min(r.image_y for r in regions)
    right = max(r.image_x + r.width for r in regions)
    bottom = max(r.image_y + r.height for r in regions)
    base = image.get_base_type()
    if base == Gimp.ImageBaseType.INDEXED:
        base = Gimp.ImageBaseType.RGB
    result = Gimp.Image.new_with_precision((right - left) * SCALE, (bottom - top) * SCALE, base, image.get_precision())
    try:
        result.undo_disable()
        profile = image.get_color_profile()
        if profile is not None:
            result.set_color_profile(profile)
        for region, pixels in reversed(list(zip(regions, outputs))):
            layer = _new_layer(result, region.layer, pixels, region.layer.get_name())
            result.insert_layer(layer, None, 0)
            layer.set_offsets((region.image_x - left) * SCALE, (region.image_y - top) * SCALE)
            write_layer(layer, pixels)
        result.undo_enable()
        result.clean_all()
    except Exception:
        result.delete()
        raise
    return result


def check_new_layers(image: Gimp.Image) -> None:
    """Refuse new layers in an indexed image before anything runs: GIMP would reduce them to its palette."""
    if image.get_base_type() == Gimp.ImageBaseType.INDEXED:
        raise PixelError(
            "this image is indexed: new layers in it would be reduced to its palette. Convert it first "
            "(Image > Mode > RGB), or choose Output: New image (which is RGB)"
        )


def to_new_layers(image: Gimp.Image, regions: list[Region], outputs: list[np.ndarray]) -> None:
    """Scale the image 4x and put each result as a new layer right above its source, aligned with it."""
    image.undo_group_start()
    try:
        image.scale(image.get_width() * SCALE, image.get_height() * SCALE)
        for region, pixels in zip(regions, outputs):
            source = region.layer
            layer = _new_layer(image, source, pixels, f"{source.get_name()} (MM-RealSR)")
            image.insert_layer(layer, source.get_parent(), image.get_item_position(source))
            layer.set_offsets(region.image_x * SCALE, region.image_y * SCALE)
            write_layer(layer, pixels)
    finally:
        image.undo_group_end()
