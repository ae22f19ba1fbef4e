"""Small, valid files that are costly to decode (issue 14), generated in milliseconds.

Used by the tests (at small sizes, with the budget checked by count or bytes per pixel)
and by ``bench/bench_hostile.py`` (at the sizes of the issue).
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def flat_png(
    width: int, height: int, *, depth: int = 8, colour: int = 0, exif: bytes | None = None
) -> bytes:
    """A valid all-zero PNG (colour type 0 grey, 2 RGB, 6 RGBA), compressed row by row."""
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour]
    row = b"\x00" * (1 + width * channels * depth // 8)
    packer = zlib.compressobj(1)
    # Every row is the same: compress it once per 64 rows, as a repeated block.
    block = row * 64
    idat = [packer.compress(block) for _ in range(height // 64)]
    idat.append(packer.compress(row * (height % 64)))
    idat.append(packer.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    chunks = [png_chunk(b"IHDR", ihdr)]
    if exif is not None:
        chunks.append(png_chunk(b"eXIf", exif))
    chunks += [png_chunk(b"IDAT", b"".join(idat)), png_chunk(b"IEND", b"")]
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


def exif_orientation(value: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = value
    return exif.tobytes()


def progressive_scan_bomb(side: int, repeats: int) -> bytes:
    """A grey progressive JPEG whose last scan is repeated ``repeats`` times."""
    buf = io.BytesIO()
    Image.new("L", (side, side), 128).save(buf, "JPEG", progressive=True, quality=90)
    data = buf.getvalue()
    last = data.rindex(b"\xff\xda")
    assert data.endswith(b"\xff\xd9")
    return data[:-2] + data[last:-2] * repeats + b"\xff\xd9"


def progressive_jpeg(side: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (side, side), (90, 120, 200)).save(buf, "JPEG", progressive=True)
    return buf.getvalue()


def tiff_pages(pages: int) -> bytes:
    """A little-endian TIFF of ``pages`` one-pixel grey pages (each its own IFD)."""
    tags = 8
    ifd_size = 2 + tags * 12 + 4
    out = bytearray(b"II*\x00" + struct.pack("<I", 8))
    for page in range(pages):
        start = 8 + page * (ifd_size + 2)
        pixel = start + ifd_size
        following = 0 if page == pages - 1 else start + ifd_size + 2
        entries = [
            (256, 3, 1, 1),  # width
            (257, 3, 1, 1),  # height
            (258, 3, 1, 8),  # bits per sample
            (259, 3, 1, 1),  # no compression
            (262, 3, 1, 1),  # black is zero
            (273, 4, 1, pixel),  # strip offset
            (278, 3, 1, 1),  # rows per strip
            (279, 4, 1, 1),  # strip byte count
        ]
        out += struct.pack("<H", tags)
        for tag, kind, count, value in entries:
            out += struct.pack("<HHII", tag, kind, count, value)
        out += struct.pack("<I", following) + b"\x80\x00"
    return bytes(out)


def ico_embedding(png: bytes) -> bytes:
    """An ICO whose one entry is ``png`` (its directory says 256x256, as icons do)."""
    header = struct.pack("<HHH", 0, 1, 1)
    entry = struct.pack("<BBBBHHII", 0, 0, 0, 0, 1, 32, len(png), 6 + 16)
    return header + entry + png


def png_header_claiming(width: int, height: int) -> bytes:
    """A PNG header with tiny pixel data: cheap to build, costly if a decoder believes it."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + png_chunk(b"IEND", b"")
    )


def lossless_webp(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (10, 200, 30)).save(
        buf, "WEBP", lossless=True, quality=0, method=0
    )
    return buf.getvalue()


SVG_WITH_BOM = b'\xef\xbb\xbf<svg xmlns="http://www.w3.org/2000/svg"/>'
SVG_AFTER_COMMENT = b'<!-- drawn by hand -->\n<svg xmlns="http://www.w3.org/2000/svg"></svg>'
SVG_UTF16 = '\ufeff<?xml version="1.0" encoding="UTF-16"?><svg/>'.encode("utf-16-le")


def _mutation_seeds() -> list[bytes]:
    small_png = io.BytesIO()
    Image.new("RGBA", (16, 16), (1, 2, 3, 4)).save(small_png, "PNG")
    return [
        progressive_scan_bomb(32, 70),
        progressive_jpeg(40),
        tiff_pages(40),
        ico_embedding(small_png.getvalue()),
        flat_png(40, 30, depth=16, exif=exif_orientation(6)),
        lossless_webp(20, 20),
        SVG_AFTER_COMMENT,
    ]


def mutations(count_per_seed: int, seed: int = 14) -> list[bytes]:
    """Bounded fuzz: each hostile seed with bytes flipped, cut, or a size field enlarged."""
    rng = np.random.default_rng(seed)
    cases = []
    for data in _mutation_seeds():
        for _ in range(count_per_seed):
            buf = bytearray(data)
            kind = rng.integers(3)
            if kind == 0:
                for pos in rng.integers(0, len(buf), size=int(rng.integers(1, 6))):
                    buf[pos] = int(rng.integers(256))
            elif kind == 1:
                buf = buf[: int(rng.integers(1, len(buf)))]
            else:  # a 16-bit field early in the file set to its maximum (sizes, counts)
                pos = int(rng.integers(0, min(len(buf) - 1, 64)))
                buf[pos : pos + 2] = b"\xff\xff"
            cases.append(bytes(buf))
    return cases
