"""A sample degraded photo made on the fly, so the demo needs no downloaded data."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def make_sample_photo(width: int = 128, height: int = 96, seed: int = 0) -> np.ndarray:
    """A small synthetic scene (sky, hills, a house, text) degraded by blur, downscaling, noise and JPEG.

    Returns float32 (H, W, 3) in [0, 1]: the kind of input MM-RealSR is meant for.
    """
    rng = np.random.default_rng(seed)
    big_w, big_h = width * 4, height * 4
    y = np.linspace(0, 1, big_h, dtype=np.float32)[:, None, None]
    sky = (1 - y) * np.array([0.45, 0.65, 0.95], dtype=np.float32) + y * np.array([0.95, 0.9, 0.8], dtype=np.float32)
    canvas = Image.fromarray((np.broadcast_to(sky, (big_h, big_w, 3)) * 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    for i in range(3):
        top = int(big_h * (0.55 + 0.1 * i))
        points = [(x, top + int(30 * np.sin(x / (60 + 25 * i) + i))) for x in range(0, big_w + 8, 8)]
        shade = (60 + 30 * i, 120 - 15 * i, 50 + 10 * i)
        draw.polygon(points + [(big_w, big_h), (0, big_h)], fill=shade)
    house = (big_w // 2 - 70, big_h // 2 - 10, big_w // 2 + 70, big_h // 2 + 90)
    draw.rectangle(house, fill=(200, 80, 60), outline=(40, 20, 20), width=4)
    draw.polygon([(house[0] - 15, house[1]), (house[2] + 15, house[1]), ((house[0] + house[2]) // 2, house[1] - 70)],
                 fill=(90, 40, 40))
    for wx in (house[0] + 20, house[2] - 50):
        draw.rectangle((wx, house[1] + 20, wx + 30, house[1] + 50), fill=(250, 240, 180), outline=(30, 30, 30), width=3)
    draw.text((big_w // 2 - 60, big_h // 8), "MM-RealSR", fill=(20, 20, 60), font_size=36)
    image = canvas.filter(ImageFilter.GaussianBlur(2.5)).resize((width, height), Image.Resampling.BICUBIC)
    pixels = np.asarray(image, dtype=np.float32) / 255.0
    pixels = np.clip(pixels + rng.normal(0, 8 / 255, pixels.shape).astype(np.float32), 0, 1)
    buffer = io.BytesIO()
    Image.fromarray(np.round(pixels * 255).astype(np.uint8)).save(buffer, "JPEG", quality=45)
    return np.asarray(Image.open(buffer).convert("RGB"), dtype=np.float32) / 255.0
