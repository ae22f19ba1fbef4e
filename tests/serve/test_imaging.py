"""The one decoding path: every format and mode people upload, and every way bytes go wrong."""

from __future__ import annotations

import io
import struct
import time
import tracemalloc
import zlib

import numpy as np
import pytest
from PIL import Image

from isit.errors import EmptyImage, ImageTooLarge, NotAnImage, TooManyPixels, UnsupportedFormat
from isit.imaging import (
    DecodeLimits,
    PreprocessSpec,
    decode,
    normalize,
    preprocess,
    preprocess_batch,
    read_image_bytes,
    resize_center_crop,
)


def encode(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def half_red_half_blue(width: int = 80, height: int = 40) -> Image.Image:
    """Left half red, right half blue: orientation changes are visible in the pixels."""
    arr = np.zeros((height, width, 3), np.uint8)
    arr[:, : width // 2] = (255, 0, 0)
    arr[:, width // 2 :] = (0, 0, 255)
    return Image.fromarray(arr, "RGB")


def test_exif_rotated_jpeg_is_turned_upright():
    img = half_red_half_blue(80, 40)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    data = encode(img, "JPEG", exif=exif, quality=95)
    out = decode(data).image
    assert out.size == (40, 80)  # portrait once the tag is applied
    arr = np.asarray(out).astype(int)
    # Rotating 90 degrees clockwise puts the left (red) half on top.
    assert arr[5, 20, 0] > 200 and arr[5, 20, 2] < 60
    assert arr[75, 20, 2] > 200 and arr[75, 20, 0] < 60


def test_cmyk_jpeg_becomes_rgb():
    data = encode(Image.new("CMYK", (32, 24), (0, 255, 255, 0)), "JPEG")  # pure red in CMYK
    out = decode(data).image
    assert out.mode == "RGB"
    r, g, b = np.asarray(out)[12, 16].astype(int)
    assert r > 200 and g < 60 and b < 60


def test_sixteen_bit_png_keeps_its_brightness():
    arr = np.full((20, 30), 32768, dtype=np.uint16)  # mid grey in 16 bits
    data = encode(Image.fromarray(arr), "PNG")
    out = np.asarray(decode(data).image).astype(int)
    assert out.shape == (20, 30, 3)
    assert np.all(np.abs(out - 128) <= 1)


def test_palette_with_transparency_is_composited_on_white():
    img = Image.new("P", (16, 16), 0)
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    img.paste(1, (0, 0, 8, 16))  # left half palette index 1 = red
    data = encode(img, "PNG", transparency=0)  # index 0 (black) is transparent
    out = np.asarray(decode(data).image).astype(int)
    assert tuple(out[8, 2]) == (255, 0, 0)
    assert tuple(out[8, 12]) == (255, 255, 255)  # transparent -> white, not black


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_alpha_is_composited_on_white(mode):
    img = Image.new(mode, (10, 10), (0, 0) if mode == "LA" else (0, 0, 0, 0))
    out = np.asarray(decode(encode(img, "PNG")).image)
    assert np.all(out == 255)


def test_one_bit_and_greyscale_modes():
    for mode, fill in (("1", 1), ("L", 200)):
        out = decode(encode(Image.new(mode, (9, 7), fill), "PNG")).image
        assert out.mode == "RGB" and out.size == (9, 7)


def test_animated_gif_uses_first_frame():
    frames = [Image.new("RGB", (20, 20), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    decoded = decode(buf.getvalue())
    assert decoded.frames == 3
    r, g, b = np.asarray(decoded.image)[10, 10].astype(int)
    assert r > 200 and g < 50 and b < 50


def test_animated_webp_uses_first_frame():
    frames = [Image.new("RGB", (20, 20), c) for c in ((0, 255, 0), (255, 0, 0))]
    buf = io.BytesIO()
    frames[0].save(buf, "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    r, g, b = np.asarray(decode(buf.getvalue()).image)[10, 10].astype(int)
    assert g > 200 and r < 50 and b < 50


def test_heic_decodes_through_pillow_heif():
    pillow_heif = pytest.importorskip("pillow_heif")
    img = half_red_half_blue(64, 48)
    buf = io.BytesIO()
    pillow_heif.from_pillow(img).save(buf, quality=95)
    out = decode(buf.getvalue())
    assert out.image.size == (64, 48)
    assert np.asarray(out.image)[24, 5, 0] > 180


def test_large_jpeg_decodes_in_draft_mode_but_keeps_enough_pixels():
    data = encode(Image.new("RGB", (4000, 3000), (10, 120, 200)), "JPEG", quality=85)
    out = decode(data, min_side=224)
    assert out.original_size == (4000, 3000)
    assert min(out.image.size) >= 224 and out.image.size[0] <= 1000  # reduced by 4x or 8x
    full = decode(data)
    assert full.image.size == (4000, 3000)


def test_truncated_jpeg_is_not_an_image():
    data = encode(half_red_half_blue(400, 300), "JPEG")
    with pytest.raises(NotAnImage, match="damaged or incomplete"):
        decode(data[: len(data) // 2])


def test_zero_bytes_is_empty():
    with pytest.raises(EmptyImage):
        decode(b"")


def test_text_file_is_not_an_image():
    with pytest.raises(NotAnImage) as info:
        decode(b"hello, this is a text file pretending to be a photo\n" * 10)
    assert "not an image" in info.value.message
    assert info.value.code == "not_an_image"


def test_random_bytes_are_not_an_image():
    rng = np.random.default_rng(0)
    for _ in range(50):
        with pytest.raises(NotAnImage):
            decode(rng.bytes(int(rng.integers(1, 4000))))


def test_known_but_unsupported_format_says_so():
    with pytest.raises(UnsupportedFormat, match="PDF"):
        decode(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n")
    with pytest.raises(UnsupportedFormat, match="SVG"):
        decode(b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"></svg>')


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims huge dimensions (a decompression bomb)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        body = kind + payload
        return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_decompression_bomb_is_refused_fast_without_allocating():
    data = png_claiming(50000, 50000)
    tracemalloc.start()
    start = time.perf_counter()
    with pytest.raises(TooManyPixels) as info:
        decode(data)
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert "2,500 MP" in info.value.message
    assert elapsed < 1.0
    assert peak < 20 * 1024 * 1024  # the full image would be 7.5 GB


def test_pixel_and_byte_limits_are_configurable():
    data = encode(Image.new("RGB", (100, 100)), "PNG")
    with pytest.raises(TooManyPixels):
        decode(data, limits=DecodeLimits(max_pixels=9_999))
    with pytest.raises(ImageTooLarge):
        decode(data, limits=DecodeLimits(max_bytes=len(data) - 1))
    assert decode(data, limits=DecodeLimits(max_pixels=10_000)).image.size == (100, 100)


def test_read_image_bytes_checks_size_before_reading(tmp_path):
    path = tmp_path / "big photo (1).jpg"
    path.write_bytes(b"x" * 1000)
    with pytest.raises(ImageTooLarge, match="big photo"):
        read_image_bytes(path, limits=DecodeLimits(max_bytes=999))
    assert read_image_bytes(path) == b"x" * 1000


def test_resize_rule_crops_the_centre_of_the_longer_side():
    arr = np.zeros((100, 300, 3), np.uint8)
    arr[:, 100:200] = 255  # the centre square is white, the sides black
    out = np.asarray(resize_center_crop(Image.fromarray(arr), 50))
    assert out.shape == (50, 50, 3)
    assert out.min() >= 250


def test_preprocess_normalises_with_the_spec():
    spec = PreprocessSpec(size=32, mean=(127.0, 127.0, 127.0), std=(128.0, 128.0, 128.0))
    data = encode(Image.new("RGB", (64, 48), (255, 127, 0)), "PNG")
    out = preprocess(data, spec)
    assert out.shape == (32, 32, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out[5, 5], [1.0, 0.0, -127 / 128], atol=1e-6)


def test_preprocess_any_size_gives_the_model_size():
    spec = PreprocessSpec()
    sizes = [(1, 1), (3, 500), (224, 224), (1000, 7), (1234, 987)]
    batch = preprocess_batch([encode(Image.new("RGB", s, (9, 9, 9)), "PNG") for s in sizes], spec)
    assert batch.shape == (len(sizes), 224, 224, 3)
    assert preprocess_batch([], spec).shape == (0, 224, 224, 3)


def test_normalize_matches_imagenet_formula():
    spec = PreprocessSpec()
    pixels = np.array([[[124, 116, 104]]], np.uint8)
    out = normalize(pixels, spec)
    expected = (np.array([124, 116, 104]) / 255 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    np.testing.assert_allclose(out[0, 0], expected, atol=1e-5)


@pytest.mark.parametrize(
    "bad",
    [
        {"size": 8},
        {"resize": "stretch"},
        {"std": (1.0, 0.0, 1.0)},
    ],
)
def test_preprocess_spec_refuses_nonsense(bad):
    with pytest.raises(ValueError):
        PreprocessSpec(**bad)


def test_preprocess_spec_round_trips():
    spec = PreprocessSpec(size=160, mean=(1.0, 2.0, 3.0), std=(4.0, 5.0, 6.0))
    assert PreprocessSpec.from_dict(spec.to_dict()) == spec
