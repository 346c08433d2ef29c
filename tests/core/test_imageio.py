"""Image I/O: formats, bit depths, channels, EXIF orientation, ICC, and one clear error per bad file."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from mmrealsr_plugin import ImageError, ImageTooLargeError, read_image, write_image

ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _pixels(c: int, h: int = 12, w: int = 10) -> np.ndarray:
    return np.random.default_rng(c).random((h, w, c), dtype=np.float32)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
@pytest.mark.parametrize("channels", [1, 3, 4])
@pytest.mark.parametrize("depth", [8, 16])
def test_lossless_round_trip(tmp_path: Path, suffix: str, channels: int, depth: int) -> None:
    pixels = _pixels(channels)
    path = write_image(tmp_path / f"x{suffix}", pixels, bit_depth=depth, icc_profile=ICC)
    loaded = read_image(path)
    assert loaded.bit_depth == depth and loaded.pixels.shape == pixels.shape
    np.testing.assert_allclose(loaded.pixels, pixels, atol=0.5 / (2**depth - 1) + 1e-7)
    assert loaded.icc_profile == ICC


def test_gray_alpha_sixteen_bit_is_kept_losslessly_as_rgba(tmp_path: Path) -> None:
    loaded = read_image(write_image(tmp_path / "ga.png", _pixels(2), bit_depth=16))
    assert loaded.pixels.shape[2] == 4 and loaded.bit_depth == 16


@pytest.mark.parametrize("suffix", [".jpg", ".webp", ".bmp"])
def test_eight_bit_formats(tmp_path: Path, suffix: str) -> None:
    smooth = np.tile(np.linspace(0, 1, 10, dtype=np.float32)[None, :, None], (12, 1, 3))
    loaded = read_image(write_image(tmp_path / f"x{suffix}", smooth))
    assert loaded.pixels.shape == (12, 10, 3) and loaded.bit_depth == 8
    assert np.abs(loaded.pixels - smooth).mean() < 0.05


def test_alpha_into_jpeg_is_an_error_not_a_silent_loss(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="alpha channel but JPEG cannot store it"):
        write_image(tmp_path / "x.jpg", _pixels(4))
    assert not list(tmp_path.iterdir())


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    data = np.zeros((4, 6, 3), dtype=np.uint8)
    data[0, 0] = 255  # top-left marker
    image = Image.fromarray(data)
    exif = image.getexif()
    exif[0x0112] = 6  # display needs a 90 degree clockwise rotation
    path = tmp_path / "rotated.jpg"
    image.save(path, exif=exif, quality=100)
    loaded = read_image(path)
    assert loaded.pixels.shape == (6, 4, 3)
    assert loaded.pixels[0, -1].mean() > 0.5  # the marker moved to the top-right


def test_palette_and_transparency(tmp_path: Path) -> None:
    image = Image.new("P", (5, 4))
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    image.info["transparency"] = 0
    path = tmp_path / "p.png"
    image.save(path, transparency=0)
    assert read_image(path).pixels.shape == (4, 5, 4)


def _encoded(fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray((np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)).save(buffer, fmt)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "name,payload,message",
    [
        ("empty.png", b"", "empty file"),
        ("truncated.jpg", _encoded("JPEG")[:400], "corrupt or truncated"),
        ("truncated.png", _encoded("PNG")[:300], "corrupt or truncated"),
        ("garbage.jpg", b"this is not an image at all" * 10, "not a recognised image"),
        ("anim.gif", _encoded("GIF"), "unsupported image format GIF"),
    ],
)
def test_bad_files_get_one_clear_error(tmp_path: Path, name: str, payload: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(payload)
    with pytest.raises(ImageError, match=message) as info:
        read_image(path)
    assert name in str(info.value)


def test_pixel_limit_is_checked_before_decoding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_image(tmp_path / "big.png", _pixels(3, 40, 40))
    monkeypatch.setenv("MMREALSR_MAX_PIXELS", "1000")
    with pytest.raises(ImageTooLargeError, match="1600 pixels exceeds the limit of 1000; raise it with MMREALSR_MAX"):
        read_image(path)
    assert read_image(path, max_pixels=0).pixels.shape == (40, 40, 3)


def test_writes_are_atomic_and_never_overwrite_by_default(tmp_path: Path) -> None:
    target = write_image(tmp_path / "out.png", _pixels(3))
    before = target.read_bytes()
    with pytest.raises(FileExistsError):
        write_image(target, _pixels(3) * 0)
    assert target.read_bytes() == before
    with pytest.raises(ImageError):
        write_image(tmp_path / "bad.png", np.zeros((4, 4, 5), dtype=np.float32))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]
