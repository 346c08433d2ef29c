"""Hostile and unusual images: frames are never dropped silently, bombs get our message, odd shapes still restore."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmrealsr_plugin import ImageError, ImageTooLargeError, load_model, read_image, restore
from mmrealsr_plugin.cli import EXIT_FAILED, EXIT_OK, main


def _frames(count: int, size: tuple[int, int] = (16, 12)) -> list[Image.Image]:
    return [Image.new("RGB", size, (40 * i, 80, 200 - 40 * i)) for i in range(count)]


def _multi_frame(kind: str, path: Path) -> Path:
    first, *rest = _frames(3)
    if kind == "tiff":
        first.save(path, save_all=True, append_images=rest)
    elif kind == "webp":
        first.save(path, save_all=True, append_images=rest, duration=100, loop=0, lossless=True)
    elif kind == "gif":
        first.save(path, save_all=True, append_images=rest, duration=100, loop=0)
    elif kind == "apng":
        first.save(path, save_all=True, append_images=rest, duration=100, loop=0)
    return path


@pytest.mark.parametrize("kind,name", [("tiff", "pages.tiff"), ("webp", "anim.webp"), ("gif", "anim.gif"),
                                       ("apng", "anim.png")])
def test_multi_frame_images_are_refused_not_cut_to_one_frame(kind: str, name: str, tmp_path: Path) -> None:
    """Issue 13 item 12."""
    path = _multi_frame(kind, tmp_path / name)
    with pytest.raises(ImageError) as caught:
        read_image(path)
    message = str(caught.value)
    assert str(path) in message and "3 frames" in message and "extract" in message


def test_multi_frame_input_in_a_batch_is_skipped_and_nothing_is_written_for_it(tmp_path: Path, tiny_model_path: Path,
                                                                               photo) -> None:
    source = tmp_path / "in"
    _multi_frame("tiff", source / "pages.tiff") if source.mkdir() is None else None
    photo(source / "ok.png")
    out = tmp_path / "out"
    code = main(["restore", str(source), "-o", str(out), "--model", str(tiny_model_path), "--device", "cpu",
                 "--noise", "0", "--blur", "0"])
    assert code == 1 and sorted(p.name for p in out.iterdir()) == ["ok_mmrealsr.png"]


def _png_header_only(path: Path, width: int, height: int, color_type: int = 2) -> Path:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) +
                     chunk(b"IEND", b""))
    return path


def test_decompression_bomb_gets_our_message(tmp_path: Path) -> None:
    """30000 x 30000 is above Pillow's own bomb limit: the message must still be ours and name MMREALSR_MAX_PIXELS."""
    path = _png_header_only(tmp_path / "bomb.png", 30000, 30000)
    with pytest.raises(ImageTooLargeError) as caught:
        read_image(path)
    message = str(caught.value)
    assert "MMREALSR_MAX_PIXELS" in message and "900000000" in message and str(path) in message
    assert "decompression bomb DOS" not in message


def test_a_limit_above_pillows_own_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """MMREALSR_MAX_PIXELS=0 means no limit: Pillow's bomb check must not refuse what the user allowed."""
    path = _png_header_only(tmp_path / "huge-gray.png", 13400, 13400, color_type=0)  # just above Pillow's limit
    with pytest.raises(ImageTooLargeError, match="MMREALSR_MAX_PIXELS"):
        read_image(path)
    for allowed in ("0", "200000000"):
        monkeypatch.setenv("MMREALSR_MAX_PIXELS", allowed)
        with pytest.raises(ImageError, match="corrupt or truncated") as caught:  # decoded, and found empty
            read_image(path)
        assert not isinstance(caught.value, ImageTooLargeError)
    assert Image.MAX_IMAGE_PIXELS is not None, "Pillow's own limit must be restored for everyone else"


def test_zero_sized_png_is_a_clear_error(tmp_path: Path) -> None:
    path = _png_header_only(tmp_path / "empty.png", 0, 0)
    with pytest.raises(ImageError, match="empty.png"):
        read_image(path)


@pytest.mark.parametrize("shape", [(1, 1, 3), (1, 300, 3), (300, 1, 3), (2, 3, 1), (5, 7, 2), (1, 1, 4)])
def test_tiny_and_extreme_aspect_images_restore(shape: tuple[int, int, int], tiny_model_path: Path) -> None:
    model = load_model(tiny_model_path, device="cpu")
    pixels = np.random.default_rng(0).random(shape, dtype=np.float32)
    for tile in (0, 16):
        result = restore(model, pixels, noise=0.5, blur=0.5, tile=tile, overlap=64)
        assert result.image.shape == (shape[0] * 4, shape[1] * 4, shape[2])
        assert np.isfinite(result.image).all()


@pytest.mark.parametrize("mode", ["P", "P-transparent", "I;16", "1", "LA", "CMYK", "I", "F"])
def test_every_pillow_mode_round_trips_through_the_cli(mode: str, tmp_path: Path, tiny_model_path: Path) -> None:
    base = Image.fromarray((np.random.default_rng(1).random((9, 11, 3)) * 255).astype(np.uint8), "RGB")
    if mode == "P-transparent":
        image = base.convert("P")
        image.info["transparency"] = 0
    elif mode in ("I;16", "1", "I", "F"):
        image = base.convert("L").convert(mode)
    else:
        image = base.convert(mode)
    suffix = ".tiff" if mode in ("CMYK", "I", "F") else ".png"
    source = tmp_path / f"in{suffix}"
    image.save(source)
    code = main(["restore", str(source), "-o", str(tmp_path / "out"), "--model", str(tiny_model_path), "--device",
                 "cpu", "--noise", "0.2", "--blur", "0.2"])
    assert code == EXIT_OK, mode
    restored = read_image(next((tmp_path / "out").iterdir()))
    assert restored.pixels.shape[:2] == (36, 44)


def test_unicode_space_and_odd_names_restore(tmp_path: Path, tiny_model_path: Path, photo) -> None:
    folder = tmp_path / "фото с пробелами"
    names = ["naïve café.png", "-starts-with-dash.png", "[brackets]*.png", "dot.in.name.jpg"]
    for name in names:
        photo(folder / name)
    (folder / "looks_like_a_file.png").mkdir()  # a folder named like an image is ignored, not a crash
    out = tmp_path / "出力"
    assert main(["restore", str(folder), "-o", str(out), "--model", str(tiny_model_path), "--device", "cpu",
                 "--noise", "0", "--blur", "0"]) == EXIT_OK
    assert sorted(p.name for p in out.iterdir()) == sorted(
        n.rsplit(".", 1)[0] + "_mmrealsr." + n.rsplit(".", 1)[1] for n in names)


def test_an_input_that_is_a_folder_named_like_an_image_is_reported(tmp_path: Path, tiny_model_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    trap = tmp_path / "trap.png"
    trap.mkdir()
    code = main(["grid", str(trap), "-o", str(tmp_path / "g.png"), "--model", str(tiny_model_path)])
    assert code != EXIT_OK and "trap.png" in capsys.readouterr().err
    code = main(["restore", str(tmp_path / "missing.png"), "-o", str(tmp_path / "out"),
                 "--model", str(tiny_model_path)])
    assert code == EXIT_FAILED and "missing.png" in capsys.readouterr().err
