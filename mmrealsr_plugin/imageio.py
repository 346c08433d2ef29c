"""The one image reader, writer and folder lister: PNG, JPEG, WebP, TIFF, BMP; 8/16-bit; gray, RGB, alpha; EXIF; ICC.

Pillow identifies and validates every file (so truncated or corrupt files fail loudly) and decodes
everything it can at full precision. Pillow has no 16-bit colour mode, so 16-bit colour PNGs are
decoded/encoded with OpenCV and 16-bit colour TIFFs with tifffile. EXIF orientation is applied on
read; the ICC profile is returned so it can be carried to the output. Writes are atomic.
"""

from __future__ import annotations

import contextlib
import io
import re
import struct
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from . import settings
from .atomic import atomic_path
from .errors import ImageError, ImageTooLargeError

FORMATS_BY_SUFFIX = {
    ".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".tif": "TIFF", ".tiff": "TIFF", ".bmp": "BMP",
}
SUPPORTED_FORMATS = frozenset(FORMATS_BY_SUFFIX.values())
SIXTEEN_BIT_FORMATS = frozenset({"PNG", "TIFF"})
ALPHA_FORMATS = frozenset({"PNG", "WEBP", "TIFF"})
_EXIF_ORIENTATION = 0x0112


@dataclass(frozen=True)
class LoadedImage:
    """Decoded pixels plus what must travel to the output."""

    pixels: np.ndarray
    """float32 (H, W, C) in [0, 1]; C = 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA; orientation applied."""
    bit_depth: int
    """8 or 16: the precision of the source, used as the default for the output."""
    icc_profile: bytes | None
    format: str
    path: Path

    @property
    def has_alpha(self) -> bool:
        return self.pixels.shape[2] in (2, 4)

    def rgb(self) -> np.ndarray:
        """float32 (H, W, 3): gray repeated into three channels, alpha dropped (what a network sees)."""
        color = self.pixels[..., :3] if self.pixels.shape[2] >= 3 else np.repeat(self.pixels[..., :1], 3, axis=2)
        return np.ascontiguousarray(color)


def list_images(folder: str | Path, *, recursive: bool = False, limit: int = 0) -> list[Path]:
    """The image files in ``folder`` (below it with ``recursive``) that :func:`read_image` reads, by suffix, sorted.

    ``limit`` keeps the first that many (0: all). A folder that does not exist raises ``FileNotFoundError``;
    what an empty folder means is the caller's to say.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder" if folder.exists() else f"folder {folder} does not exist")
    pattern = "**/*" if recursive else "*"
    files = sorted(p for p in folder.glob(pattern) if p.suffix.lower() in FORMATS_BY_SUFFIX and p.is_file())
    return files[:limit] if limit else files


def _is_sixteen_bit_color(image: Image.Image) -> bool:
    if image.mode not in ("RGB", "RGBA") or not image.tile:
        return False
    args = image.tile[0].args
    rawmode = args[0] if isinstance(args, tuple) else args
    return isinstance(rawmode, str) and ";16" in rawmode


def _pil_pixels(image: Image.Image) -> tuple[np.ndarray, int]:
    mode = image.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        return np.asarray(image, dtype=np.float32)[..., None] / 65535.0, 16
    if mode == "I":
        data = np.asarray(image, dtype=np.float64)
        return (np.clip(data, 0, 65535) / 65535.0).astype(np.float32)[..., None], 16
    if mode == "F":
        return np.clip(np.asarray(image, dtype=np.float32), 0, 1)[..., None], 16
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif mode == "PA":
        image = image.convert("RGBA")
    elif mode == "1":
        image = image.convert("L")
    elif mode not in ("L", "LA", "RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in mode else "RGB")
    data = np.asarray(image, dtype=np.float32) / 255.0
    return (data[..., None] if data.ndim == 2 else data), 8


def _read_sixteen_bit_color(path: Path, fmt: str) -> np.ndarray:
    if fmt == "TIFF":
        import tifffile

        data = tifffile.imread(str(path))
    else:
        import cv2

        data = cv2.imdecode(np.fromfile(str(path), dtype=np.uint8), cv2.IMREAD_UNCHANGED)
        if data is None:
            raise ImageError(f"{path}: corrupt 16-bit PNG (OpenCV could not decode it)")
        data = data[..., [2, 1, 0, 3][: data.shape[2]]]
    if data.dtype != np.uint16 or data.ndim != 3 or data.shape[2] not in (3, 4):
        raise ImageError(f"{path}: unsupported 16-bit layout {data.dtype} {data.shape}; expected RGB or RGBA")
    return data.astype(np.float32) / 65535.0


def _orient(pixels: np.ndarray, orientation: int) -> np.ndarray:
    transforms = {
        2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
        5: lambda a: a.transpose(1, 0, 2), 6: lambda a: np.rot90(a, -1),
        7: lambda a: np.rot90(a, 2).transpose(1, 0, 2), 8: lambda a: np.rot90(a, 1),
    }
    transform = transforms.get(orientation)
    return np.ascontiguousarray(transform(pixels)) if transform else pixels


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) of ``path`` as :func:`read_image` returns it (EXIF orientation applied), from the header only.

    :raises ImageError: when the file is missing or not an image Pillow identifies.
    """
    path = Path(path)
    try:
        with Image.open(path) as image:
            width, height = image.size
            orientation = int(image.getexif().get(_EXIF_ORIENTATION, 1) or 1)
    except (OSError, SyntaxError, ValueError, struct.error) as exc:
        raise ImageError(f"{path}: cannot read the image header ({exc})") from exc
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def read_image(path: str | Path, max_pixels: int | None = None) -> LoadedImage:
    """Decode ``path``; raise :class:`ImageError` with the file name and the cause on any problem.

    ``max_pixels`` (default ``MMREALSR_MAX_PIXELS``, 0 = unlimited) is checked before decoding; it
    replaces Pillow's own decompression-bomb limit, in both directions. Files holding several frames
    (animations, multi-page TIFFs) are refused rather than cut to their first frame.
    """
    path = Path(path)
    limit = settings.max_pixels() if max_pixels is None else max_pixels
    if not path.is_file():
        raise ImageError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    if path.stat().st_size == 0:
        raise ImageError(f"{path}: empty file (0 bytes)")
    try:
        return _decode(path, limit)
    except Image.DecompressionBombError as exc:
        count = _bomb_pixel_count(exc)
        if limit and (count is None or count > limit):
            size = f"{count} pixels" if count is not None else "more pixels than Pillow allows"
            raise _too_large(path, size, limit) from None
        with _pillow_bomb_check_off():  # the user allows more than Pillow does: our limit was checked above
            return _decode(path, limit)


def _too_large(path: Path, size: str, limit: int) -> ImageTooLargeError:
    return ImageTooLargeError(
        f"{path}: {size} exceeds the limit of {limit}; raise it with {settings.MAX_PIXELS_ENV}=N "
        "(0 = no limit) or downscale the image"
    )


def _bomb_pixel_count(exc: Exception) -> int | None:
    """The pixel count in Pillow's decompression-bomb message ("Image size (N pixels) exceeds ..."), if present."""
    match = re.search(r"\((\d+) pixels\)", str(exc))
    return int(match.group(1)) if match else None


_BOMB_LOCK = threading.Lock()


@contextlib.contextmanager
def _pillow_bomb_check_off() -> Iterator[None]:
    """Lift Pillow's process-wide bomb limit for one open, when the user's own limit is higher (or 0)."""
    with _BOMB_LOCK:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _decode(path: Path, limit: int) -> LoadedImage:
    supported = ", ".join(sorted(SUPPORTED_FORMATS))
    try:
        with Image.open(path) as image:
            fmt = image.format or "?"
            frames = getattr(image, "n_frames", 1)
            if frames > 1 and fmt != "MPO":  # MPO: a JPEG with a preview or stereo twin, the first image is the photo
                raise ImageError(
                    f"{path}: holds {frames} frames (an animation or a multi-page {fmt}); only single images are "
                    "restored, and frames are never dropped silently: extract the frames first (e.g. "
                    f"`ffmpeg -i {path.name} frame_%04d.png`, or Pillow's ImageSequence) and restore those"
                )
            if fmt == "MPO":
                fmt = "JPEG"
            if fmt not in SUPPORTED_FORMATS:
                raise ImageError(f"{path}: unsupported image format {fmt}; supported: {supported}")
            width, height = image.size
            if limit and width * height > limit:
                raise _too_large(path, f"{width}x{height} = {width * height} pixels", limit)
            sixteen_bit_color = _is_sixteen_bit_color(image)  # before anything that may decode
            icc = image.info.get("icc_profile") or None
            orientation = int(image.getexif().get(_EXIF_ORIENTATION, 1) or 1)
            if sixteen_bit_color:
                image.load()  # decodes (and so validates) the whole file; the values come from cv2/tifffile
                pixels, depth = None, 16
            else:
                image.load()
                pixels, depth = _pil_pixels(image)
    except (ImageError, Image.DecompressionBombError):
        raise
    except UnidentifiedImageError as exc:
        raise ImageError(f"{path}: not a recognised image file; supported formats: {supported}") from exc
    except (OSError, SyntaxError, ValueError, struct.error, zlib.error) as exc:
        raise ImageError(f"{path}: corrupt or truncated {path.suffix or 'image'} file ({exc})") from exc
    if pixels is None:
        pixels = _read_sixteen_bit_color(path, fmt)
    return LoadedImage(_orient(pixels, orientation), depth, icc, fmt, path)


def _png_with_icc(png: bytes, icc: bytes) -> bytes:
    """Insert an iCCP chunk right after IHDR (OpenCV cannot write one)."""
    data = b"ICC Profile\x00\x00" + zlib.compress(icc)
    chunk = struct.pack(">I", len(data)) + b"iCCP" + data + struct.pack(">I", zlib.crc32(b"iCCP" + data) & 0xFFFFFFFF)
    ihdr_end = 8 + 8 + 13 + 4
    return png[:ihdr_end] + chunk + png[ihdr_end:]


QUANTIZE_ROWS = 256
"""Rows converted to integers at a time: a 8192x8192 RGB output then needs 25 MB of float temporaries, not 1.5 GB."""


def _quantize(pixels: np.ndarray, top: int, dtype: type) -> np.ndarray:
    """round(clip(pixels, 0, 1) * top) as ``dtype``, a block of rows at a time (peak memory of the integer image)."""
    data = np.empty(pixels.shape, dtype=dtype)
    for row in range(0, pixels.shape[0], QUANTIZE_ROWS):
        block = np.clip(pixels[row : row + QUANTIZE_ROWS], 0, 1) * top
        data[row : row + QUANTIZE_ROWS] = np.round(block, out=block)
    return data


def _encode_sixteen_bit(pixels: np.ndarray, fmt: str, icc: bytes | None) -> bytes:
    data = _quantize(pixels, 65535, np.uint16)
    if data.shape[2] == 2:  # no common 16-bit gray+alpha encoding: store losslessly as RGBA
        data = np.concatenate([np.repeat(data[..., :1], 3, axis=2), data[..., 1:]], axis=2)
    if fmt == "TIFF":
        import tifffile

        buffer = io.BytesIO()
        channels = data.shape[2]
        photometric = "minisblack" if channels == 1 else "rgb"
        extrasamples = ("unassalpha",) if channels == 4 else None
        tifffile.imwrite(buffer, data if channels > 1 else data[..., 0], photometric=photometric,
                         extrasamples=extrasamples, iccprofile=icc, compression="zlib")
        return buffer.getvalue()
    import cv2

    order = {1: [0], 3: [2, 1, 0], 4: [2, 1, 0, 3]}[data.shape[2]]
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(data[..., order]))
    if not ok:
        raise ImageError("OpenCV failed to encode a 16-bit PNG")
    png = encoded.tobytes()
    return _png_with_icc(png, icc) if icc else png


def _encode_eight_bit(pixels: np.ndarray, fmt: str, icc: bytes | None, quality: int) -> bytes:
    data = _quantize(pixels, 255, np.uint8)
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[data.shape[2]]
    image = Image.fromarray(data[..., 0] if mode == "L" else data, mode=mode)
    if mode == "LA" and fmt != "PNG":
        image = image.convert("RGBA")
    options: dict[str, object] = {}
    if icc:
        options["icc_profile"] = icc
    if fmt in ("JPEG", "WEBP"):
        options["quality"] = quality
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def write_image(
    path: str | Path,
    pixels: np.ndarray,
    *,
    bit_depth: int = 8,
    icc_profile: bytes | None = None,
    quality: int = 95,
    overwrite: bool = False,
) -> Path:
    """Encode ``pixels`` (float32 HWC in [0, 1]) to ``path`` atomically; the format follows the suffix.

    16-bit output is written for PNG and TIFF; other formats are 8-bit. Alpha needs a format that
    stores it (PNG, WebP, TIFF): writing an image with alpha as JPEG is an error, not a silent loss.
    """
    path = Path(path)
    fmt = FORMATS_BY_SUFFIX.get(path.suffix.lower())
    if fmt is None:
        raise ImageError(f"{path}: unsupported output type {path.suffix!r}; use one of {sorted(FORMATS_BY_SUFFIX)}")
    if pixels.ndim != 3 or pixels.shape[2] not in (1, 2, 3, 4):
        raise ImageError(f"{path}: expected pixels of shape (H, W, 1..4), got {pixels.shape}")
    if pixels.shape[2] in (2, 4) and fmt not in ALPHA_FORMATS:
        raise ImageError(f"{path}: the image has an alpha channel but {fmt} cannot store it; use .png, .webp or .tiff")
    if bit_depth not in (8, 16):
        raise ImageError(f"{path}: bit depth must be 8 or 16, got {bit_depth}")
    if not np.isfinite(pixels).all():
        raise ImageError(f"{path}: the pixels contain NaN or infinity; nothing was written")
    if bit_depth == 16 and fmt in SIXTEEN_BIT_FORMATS:
        payload = _encode_sixteen_bit(pixels, fmt, icc_profile)
    else:
        payload = _encode_eight_bit(pixels, fmt, icc_profile, quality)
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_bytes(payload)
    return path
