"""The decode budget: what a file may cost to decode, checked from its bytes and header.

Small valid files can cost seconds or gigabytes (issue 14): a progressive JPEG whose scans
repeat, an icon that embeds a huge PNG (decoded inside ``Image.open``), a 16-bit or WebP
image whose decoder needs several bytes per pixel. These checks run BEFORE the pixels are
decoded and refuse with the core's typed errors (:class:`isit.errors.TooManyPixels`, 422).

Limits (measured with ``bench/bench_hostile.py``; one core, Pillow 13):

- JPEG: at most ``max_jpeg_scans`` scans (libjpeg writes 10 for a colour progressive
  JPEG, 6 for grey), and at most ``max_jpeg_scan_blocks`` 8x8 blocks entropy-decoded,
  summed over the scans: every scan visits each block of its components at full
  resolution, whatever the draft scale (measured: ~0.17 us per block for a refinement
  scan, so 5 M blocks is ~0.85 s; a 10-scan colour progressive JPEG of 39 MP fits, a
  baseline JPEG of 80 MP needs 1.9 M). A multi-scan JPEG keeps all its coefficients
  (2 bytes each) until the last scan: they must fit ``max_decode_bytes``.
- Every other format decodes at full size: its estimated peak memory (pixels times the
  bytes per pixel Pillow stores plus what its decoder holds beside them) must fit
  ``max_decode_bytes``, and its pixels ``max_full_decode_pixels`` (decode time grows
  with them). JPEGs decode at a reduced scale instead (draft), so they may be larger.
- ICO: every embedded image's real size (PNG header or bitmap header, not the directory's
  byte-sized fields) at most ``max_icon_side`` pixels a side. ICNS is refused.
- Only the formats in :data:`ALLOWED_FORMATS` are opened at all.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field

from isit.errors import TooManyPixels, UnsupportedFormat

# Formats people upload. Anything else Pillow could read (EPS runs Ghostscript, PSD
# decodes layers, ICNS/ICO-like containers decode inside open) is not opened.
ALLOWED_FORMATS = ("JPEG", "MPO", "PNG", "GIF", "WEBP", "BMP", "TIFF", "ICO", "HEIF", "AVIF")

# Bytes Pillow stores per pixel, by mode ("RGB" is stored in 4 bytes).
_STORED_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2}
# What the decoder holds beside Pillow's copy, per pixel (measured peaks): libwebp's
# animation decoder keeps two RGBA canvases and hands over a third; libheif an RGB(A)
# buffer; libtiff may read through a full RGBA raster.
_DECODER_EXTRA_BYTES = {"WEBP": 12, "HEIF": 4, "AVIF": 4, "TIFF": 4}

_JPEG_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")  # a marker after entropy-coded data
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # DHT, JPG, DAC are not SOF
_PROGRESSIVE_SOF = frozenset({0xC2, 0xC6, 0xCA, 0xCE})
_NO_LENGTH = frozenset({0x00, 0x01, 0xFF, *range(0xD0, 0xD8)})  # stuffing, TEM, fill, RSTn
_SVG_PROLOG = re.compile(
    r"^\s*(?:(?:<\?xml[^>]*>|<!--.*?-->|<!DOCTYPE[^>]*>)\s*)*<svg[\s>/]",
    re.IGNORECASE | re.DOTALL,
)


def stored_bytes_per_pixel(mode: str) -> int:
    return _STORED_BYTES.get(mode, 4)


def decode_peak_bytes(fmt: str, mode: str, pixels: int) -> int:
    """Estimated peak memory of decoding ``pixels`` pixels of ``fmt`` in ``mode``."""
    return pixels * (stored_bytes_per_pixel(mode) + _DECODER_EXTRA_BYTES.get(fmt, 0))


def is_svg(data: bytes) -> bool:
    """An SVG document, also after a byte-order mark, an XML prolog or comments."""
    head = data[:4096]
    for bom, encoding in (
        (b"\xef\xbb\xbf", "utf-8"),
        (b"\xff\xfe", "utf-16-le"),
        (b"\xfe\xff", "utf-16-be"),
    ):
        if head.startswith(bom):
            text = head[len(bom) :].decode(encoding, "ignore")
            break
    else:
        text = head.decode("latin-1")
    return bool(_SVG_PROLOG.match(text))


@dataclass
class _JpegFrame:
    width: int = 0
    height: int = 0
    progressive: bool = False
    blocks: dict[int, int] = field(default_factory=dict)  # component id -> 8x8 blocks
    scans: int = 0
    scan_blocks: int = 0  # summed over scans: the entropy decoder's work

    def read_sof(self, marker: int, payload: bytes) -> None:
        if len(payload) < 6:
            return
        _, self.height, self.width, count = struct.unpack_from(">BHHB", payload)
        self.progressive = marker in _PROGRESSIVE_SOF
        comps = [payload[6 + 3 * i : 9 + 3 * i] for i in range(count)]
        comps = [c for c in comps if len(c) == 3]
        if not comps:
            return
        hmax = max(c[1] >> 4 for c in comps) or 1
        vmax = max(c[1] & 15 for c in comps) or 1
        for cid, sampling, _ in comps:
            across = -(-self.width * (sampling >> 4) // (8 * hmax))
            down = -(-self.height * (sampling & 15) // (8 * vmax))
            self.blocks[cid] = across * down

    def read_sos(self, payload: bytes) -> None:
        self.scans += 1
        count = payload[0] if payload else 0
        ids = {payload[1 + 2 * i] for i in range(count) if 1 + 2 * i < len(payload)}
        self.scan_blocks += sum(self.blocks.get(cid, 0) for cid in ids)


def _jpeg_frame(data: bytes, max_scans: int) -> _JpegFrame:
    """Walk the markers up to the first EOI (an MPO's further images are never decoded)."""
    frame = _JpegFrame()
    pos, end = 2, len(data)  # after SOI
    while pos + 4 <= end:
        if data[pos] != 0xFF or data[pos + 1] in _NO_LENGTH:
            found = _JPEG_MARKER.search(data, pos + 1)
            if not found:
                break
            pos = found.start()
            continue
        marker = data[pos + 1]
        if marker == 0xD9:
            break
        (length,) = struct.unpack_from(">H", data, pos + 2)
        payload = data[pos + 4 : pos + 2 + length]
        if marker in _SOF_MARKERS:
            frame.read_sof(marker, payload)
        elif marker == 0xDA:
            frame.read_sos(payload)
            if frame.scans > max_scans:
                break
        pos += 2 + max(length, 2)
    return frame


def check_jpeg(
    data: bytes, *, max_scans: int, max_scan_blocks: int, max_coefficient_bytes: int
) -> None:
    """Refuse a JPEG whose scans would take too long or whose coefficients too much memory.

    Every scan makes the entropy decoder visit each 8x8 block of the components it codes,
    at full resolution whatever the draft scale; a multi-scan JPEG also keeps all its
    coefficients (64 of 2 bytes per block) in memory until the last scan.
    """
    frame = _jpeg_frame(data, max_scans)
    if frame.scans > max_scans:
        raise TooManyPixels(
            f"This JPEG is stored in more than {max_scans} scans; isit decodes at most that "
            "many (a normal progressive JPEG has about 10). Re-save it as an ordinary JPEG."
        )
    size = f"{frame.width}x{frame.height}"
    if frame.scan_blocks > max_scan_blocks:
        raise TooManyPixels(
            f"This {'progressive ' if frame.progressive else ''}JPEG ({size}, "
            f"{frame.scans} scans) would take too long to decode. Re-save it as an ordinary "
            "(baseline) JPEG or use a smaller photo."
        )
    needed = sum(frame.blocks.values()) * 128
    if (frame.progressive or frame.scans > 1) and needed > max_coefficient_bytes:
        raise TooManyPixels(
            f"This progressive JPEG ({size}) needs about {needed / 1e6:.0f} MB to decode; "
            f"the limit is {max_coefficient_bytes / 1e6:.0f} MB. Re-save it as an ordinary "
            "(baseline) JPEG or use a smaller photo."
        )


def check_icon(data: bytes, *, max_side: int) -> None:
    """Every image an ICO embeds, by its own header: Pillow decodes one inside ``open``."""
    if len(data) < 6:
        return
    (count,) = struct.unpack_from("<H", data, 4)
    for i in range(count):
        entry = 6 + 16 * i
        if entry + 16 > len(data):
            return
        (offset,) = struct.unpack_from("<I", data, entry + 12)
        head = data[offset : offset + 24]
        if head.startswith(b"\x89PNG\r\n\x1a\n") and len(head) >= 24:
            width, height = struct.unpack_from(">II", head, 16)
        elif len(head) >= 12:
            width, height = struct.unpack_from("<ii", head, 4)
            height = abs(height) // 2  # a bitmap's height counts its mask too
        else:
            continue
        if max(abs(width), height) > max_side:
            raise TooManyPixels(
                f"This icon embeds a {abs(width)}x{height} image; isit reads icons up to "
                f"{max_side} pixels a side. Convert it to PNG."
            )


def refuse_container(data: bytes) -> None:
    if data[:4] == b"icns":
        raise UnsupportedFormat("ICNS icons are not supported here. Convert it to PNG.")
