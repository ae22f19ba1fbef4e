"""Issue 14, the decode budget: small valid files that would cost seconds or gigabytes."""

from __future__ import annotations

import contextlib
import io
import json
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import hostile
import numpy as np
import pytest
from PIL import Image

from isit.errors import NotAnImage, TooManyPixels, UnsupportedFormat
from isit.imaging import (
    DEFAULT_LIMITS,
    FRAME_COUNT_CAP,
    DecodeLimits,
    PreprocessSpec,
    decode,
    preprocess,
)

TESTS = Path(__file__).resolve().parents[1] / "helpers"
REPO = Path(__file__).resolve().parents[2]


def test_progressive_jpeg_with_repeated_scans_is_refused_by_scan_count() -> None:
    bomb = hostile.progressive_scan_bomb(64, DEFAULT_LIMITS.max_jpeg_scans)
    with pytest.raises(TooManyPixels, match="scans"):
        decode(bomb)
    normal = hostile.progressive_jpeg(300)  # libjpeg's 10 scans
    assert decode(normal, min_side=224).image.size == (300, 300)


def test_progressive_jpeg_coefficients_count_against_the_memory_budget() -> None:
    data = hostile.progressive_jpeg(1024)  # 1 MP colour: ~3 MB of coefficients
    assert decode(data, limits=DecodeLimits(max_decode_bytes=4_000_000)).image.size
    with pytest.raises(TooManyPixels, match="progressive JPEG"):
        decode(data, limits=DecodeLimits(max_decode_bytes=2_000_000), min_side=224)


def test_multi_page_tiff_pages_are_never_all_counted() -> None:
    data = hostile.tiff_pages(3000)
    decoded = decode(data)
    assert decoded.format == "TIFF"
    assert decoded.frames == FRAME_COUNT_CAP  # counting all 3000 is quadratic in Pillow


def test_sixteen_bit_pixels_count_twice_in_the_budget() -> None:
    limits = DecodeLimits(max_decode_bytes=1500 * 1500 + 1)
    grey8 = hostile.flat_png(1500, 1500, depth=8)
    grey16 = hostile.flat_png(1500, 1500, depth=16)
    assert decode(grey8, limits=limits).image.size == (1500, 1500)
    with pytest.raises(TooManyPixels, match="MB to decode"):
        decode(grey16, limits=limits)


def test_lossless_webp_counts_its_decoder_buffers() -> None:
    data = hostile.lossless_webp(1000, 1000)
    png = hostile.flat_png(1000, 1000, colour=2)
    limits = DecodeLimits(max_decode_bytes=8_000_000)  # a PNG stores 4 MB, WebP needs ~16 MB
    assert decode(png, limits=limits).image.size == (1000, 1000)
    with pytest.raises(TooManyPixels, match="WEBP"):
        decode(data, limits=limits)


def test_full_size_formats_are_limited_in_pixels_at_the_defaults() -> None:
    # The 8900x8900 16-bit PNG is 79 MP: under the 80 MP declared-size limit, but
    # a PNG has no reduced-scale decode. Refused from its header, before any pixel.
    header_only = hostile.png_header_claiming(8900, 8900)
    with pytest.raises(TooManyPixels, match="MP"):
        decode(header_only)


def test_icon_embedding_a_huge_png_is_refused_before_open_decodes_it() -> None:
    ico = hostile.ico_embedding(hostile.png_header_claiming(12000, 12000))
    with pytest.raises(TooManyPixels, match="icon"):
        decode(ico)
    small = io.BytesIO()
    Image.new("RGBA", (48, 48), (255, 0, 0, 255)).save(small, "PNG")
    assert decode(hostile.ico_embedding(small.getvalue())).image.size == (48, 48)


def test_icns_and_other_containers_are_unsupported() -> None:
    with pytest.raises(UnsupportedFormat, match="ICNS"):
        decode(b"icns\x00\x00\x00\x10it8mk\x00\x00\x00\x08")
    with pytest.raises(UnsupportedFormat, match="PSD"):
        decode(b"8BPS\x00\x01" + b"\x00" * 40)


@pytest.mark.parametrize(
    "svg", [hostile.SVG_WITH_BOM, hostile.SVG_AFTER_COMMENT, hostile.SVG_UTF16]
)
def test_svg_after_a_bom_or_comment_is_unsupported_not_garbage(svg: bytes) -> None:
    with pytest.raises(UnsupportedFormat, match="SVG"):
        decode(svg)


def test_text_mentioning_svg_is_still_not_an_image() -> None:
    with pytest.raises(NotAnImage):
        decode(b"this note mentions <svg> tags but is text\n" * 5)


def test_big_image_is_reduced_before_rotation_and_stays_upright() -> None:
    # 5000x2000 PNG (above the reduce threshold), EXIF 6 = rotate 90 degrees clockwise.
    arr = np.zeros((2000, 5000, 3), np.uint8)
    arr[:, :2500] = (255, 0, 0)  # left half red
    img = Image.fromarray(arr)
    buf = io.BytesIO()
    img.save(buf, "PNG", exif=hostile.exif_orientation(6), compress_level=1)
    out = decode(buf.getvalue(), min_side=224).image
    assert out.width < out.height < 2000  # reduced, then turned to portrait
    pixels = np.asarray(out).astype(int)
    assert pixels[5, out.width // 2, 0] > 200  # red on top after the rotation
    assert pixels[-5, out.width // 2, 0] < 50


def _quadrants_png16(side: int, values: tuple[int, int, int, int]) -> bytes:
    """A 16-bit grey PNG of four flat squares (top-left, top-right, bottom-left, -right)."""
    half = side // 2
    rows = []
    for top, bottom in ((values[0], values[1]), (values[2], values[3])):
        row = b"\x00" + struct.pack(">H", top) * half + struct.pack(">H", bottom) * half
        rows.append(row * half)
    ihdr = struct.pack(">IIBBBBB", side, side, 16, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + hostile.png_chunk(b"IHDR", ihdr)
        + hostile.png_chunk(b"IDAT", zlib.compress(b"".join(rows), 1))
        + hostile.png_chunk(b"IEND", b"")
    )


def test_reduced_conversion_matches_the_full_one() -> None:
    # Grey 16-bit above the reduce threshold: converted in strips, scaled like a whole.
    values = (0, 1000, 40000, 65535)
    data = _quadrants_png16(5000, values)
    out = np.asarray(decode(data, min_side=64).image).astype(int)
    assert out.shape[0] < 1000  # reduced
    corners = out[[10, 10, -10, -10], [10, -10, 10, -10], 0]
    assert np.abs(corners - np.rint(np.array(values) / 257)).max() <= 1
    assert preprocess(data, PreprocessSpec(size=64)).shape == (64, 64, 3)


PROBE = textwrap.dedent(
    """
    import json, sys
    sys.path[:0] = [{repo!r}, {tests!r}, {bench!r}]
    import hostile
    from bench_hostile import reset_peak_rss, status_kb
    from isit.imaging import PreprocessSpec, preprocess
    data = hostile.flat_png(7000, 4500, colour=2, exif=hostile.exif_orientation(6))
    spec = PreprocessSpec()
    preprocess(hostile.flat_png(300, 200, colour=2), spec)  # warm
    before = reset_peak_rss()
    preprocess(data, spec)
    print(json.dumps({{"extra_mb": (status_kb("VmHWM") - before) / 1024}}))
    """
)


def test_exif_rotated_png_is_not_copied_at_full_size() -> None:
    # 31.5 MP RGB PNG, orientation 6: decoded 126 MB; the old path copied it to rotate.
    code = PROBE.format(repo=str(REPO), tests=str(TESTS), bench=str(REPO / "bench"))
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    extra = json.loads(done.stdout.strip().splitlines()[-1])["extra_mb"]
    assert 100 < extra < 200, extra  # the decoded image once (126 MB), not twice


def test_mutated_hostile_files_only_ever_raise_typed_errors() -> None:
    from isit.errors import ImageError

    for data in hostile.mutations(40):
        with contextlib.suppress(ImageError):  # anything else fails the test
            decode(data, min_side=224)
