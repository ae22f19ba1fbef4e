"""Bytes in, model-ready RGB array out: the one decoding path of training AND serving.

The resize rule (documented once, here): the centred square of side ``min(width, height)``
is resized to ``size x size`` with bilinear filtering (shorter side to ``size``, centre
crop of the longer side). Pixels are then normalised per channel as
``(pixel - mean) / std`` with pixel values in 0..255; layout is NHWC float32.
"""

from __future__ import annotations

import io
import math
import os
import re
import stat
import struct
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import ExifTags, Image, UnidentifiedImageError

from isit import budget
from isit.display import display_path
from isit.errors import (
    EmptyImage,
    ImageError,
    ImageTooLarge,
    NotAnImage,
    NotARegularFile,
    TooManyPixels,
    UnsupportedFormat,
)

try:  # Phones upload HEIC; pillow-heif adds it to Pillow when it is installed.
    import pillow_heif

    pillow_heif.register_heif_opener()
    HEIF_SUPPORTED = True
except ImportError:  # pragma: no cover - depends on the installation
    HEIF_SUPPORTED = False

# We enforce our own, lower pixel limit right after reading the header; Pillow's warning
# between its two thresholds would only be noise.
warnings.simplefilter("ignore", Image.DecompressionBombWarning)

RESIZE_RULE = "shorter_side_center_crop"
IMAGENET_MEAN_255 = (0.485 * 255, 0.456 * 255, 0.406 * 255)
IMAGENET_STD_255 = (0.229 * 255, 0.224 * 255, 0.225 * 255)

# Leading bytes of image formats people upload that Pillow may not read here.
_KNOWN_IMAGE_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (4, b"ftypheic", "HEIC"),
    (4, b"ftypheix", "HEIC"),
    (4, b"ftyphevc", "HEIC"),
    (4, b"ftypmif1", "HEIF"),
    (4, b"ftypmsf1", "HEIF"),
    (4, b"ftypavif", "AVIF"),
    (0, b"%PDF", "PDF"),
    (0, b"<svg", "SVG"),
    (0, b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
    (0, b"II*\x00", "TIFF"),
    (0, b"MM\x00*", "TIFF"),
    (0, b"icns", "ICNS"),
    (0, b"8BPS", "PSD"),
    (0, b"%!PS", "PostScript"),
)
Image.init()
# The openers Pillow has for them (MPO files come from the JPEG opener).
_ALLOWED_FORMATS = [f for f in budget.ALLOWED_FORMATS if f in Image.OPEN]
# What Pillow's plugins raise on damaged or hostile bytes (KeyError: an unknown TIFF
# compression or tag; ArithmeticError: a zero or huge field): all mean "cannot be read".
_DAMAGED = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    TypeError,
    KeyError,
    ArithmeticError,
    struct.error,
)
FRAME_COUNT_CAP = 16  # DecodedImage.frames counts at most this many
# Decoded images over this many stored bytes shrink before conversion (when min_side
# allows); smaller ones take exactly the path they always took.
REDUCE_ABOVE_BYTES = 32 * 1024 * 1024
REDUCE_STRIP_PIXELS = 1_000_000  # strip size of that conversion
_ORIENTATIONS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


@dataclass(frozen=True)
class DecodeLimits:
    """Guards against huge uploads, decompression bombs and costly small files.

    The decode budget (see :mod:`isit.budget`, measured by ``bench/bench_hostile.py``):
    ``max_decode_bytes`` of estimated decoder memory, ``max_full_decode_pixels`` for
    formats that cannot decode at a reduced scale (all but JPEG), ``max_jpeg_scans`` and
    ``max_jpeg_scan_blocks`` (entropy-decoding work), and ``max_icon_side`` for the images
    an ICO embeds.
    """

    max_bytes: int = 50 * 1024 * 1024  # training's files; the Function sets its own 10 MB
    max_pixels: int = 80_000_000  # a 48 MP phone photo fits; a 50000x50000 PNG does not
    max_decode_bytes: int = 192 * 1024 * 1024
    max_full_decode_pixels: int = 32_000_000
    max_jpeg_scans: int = 64
    max_jpeg_scan_blocks: int = 5_000_000  # 8x8 blocks decoded, summed over the scans
    max_icon_side: int = 1024


@dataclass(frozen=True)
class PreprocessSpec:
    """How an image becomes the model input; stored in every model's metadata."""

    size: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN_255
    std: tuple[float, float, float] = IMAGENET_STD_255
    resize: str = RESIZE_RULE
    layout: str = "NHWC"

    def __post_init__(self) -> None:
        if self.resize != RESIZE_RULE:
            raise ValueError(f"unknown resize rule {self.resize!r}; only {RESIZE_RULE!r}")
        if self.layout != "NHWC":
            raise ValueError(f"unknown layout {self.layout!r}; only 'NHWC'")
        if not 16 <= int(self.size) <= 1024:
            raise ValueError(f"input size {self.size} is outside 16..1024")
        if len(self.mean) != 3 or len(self.std) != 3:
            raise ValueError("mean and std need three values each")
        # NaN or infinite values would turn every photo into NaN (or 0) model inputs.
        if not all(math.isfinite(v) for v in (*self.mean, *self.std)) or min(self.std) <= 0:
            raise ValueError("mean and std must be finite numbers, std > 0")

    def to_dict(self) -> dict[str, Any]:
        return {
            "size": int(self.size),
            "mean": [float(v) for v in self.mean],
            "std": [float(v) for v in self.std],
            "resize": self.resize,
            "layout": self.layout,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PreprocessSpec:
        return cls(
            size=int(data["size"]),
            mean=tuple(float(v) for v in data["mean"]),  # type: ignore[arg-type]
            std=tuple(float(v) for v in data["std"]),  # type: ignore[arg-type]
            resize=str(data.get("resize", RESIZE_RULE)),
            layout=str(data.get("layout", "NHWC")),
        )


DEFAULT_LIMITS = DecodeLimits()


@dataclass
class DecodedImage:
    """An RGB image plus what we learnt while decoding it."""

    image: Image.Image
    format: str
    original_size: tuple[int, int]  # (width, height) as declared by the file, before EXIF
    frames: int = 1  # counted up to FRAME_COUNT_CAP
    notes: list[str] = field(default_factory=list)


def _sniff_known_format(data: bytes) -> str | None:
    head = data[:32]
    for offset, signature, name in _KNOWN_IMAGE_SIGNATURES:
        if head[offset : offset + len(signature)] == signature:
            return name
    return "SVG" if budget.is_svg(data) else None


def _unsupported(data: bytes, exc: Exception) -> ImageError:
    known = _sniff_known_format(data)
    if known:
        hint = " Install pillow-heif, or" if known in ("HEIC", "HEIF") else ""
        return UnsupportedFormat(
            f"{known} images are not supported here.{hint} Convert it to JPEG or PNG."
        )
    return NotAnImage(
        "This file is not an image isit can read (expected JPEG, PNG, GIF, WebP, "
        "BMP, TIFF or HEIC)."
    )


def _precheck(data: bytes, limits: DecodeLimits) -> None:
    """Byte-level checks for formats whose cost the header alone does not show."""
    if data[:3] == b"\xff\xd8\xff":
        budget.check_jpeg(
            data,
            max_scans=limits.max_jpeg_scans,
            max_scan_blocks=limits.max_jpeg_scan_blocks,
            max_coefficient_bytes=limits.max_decode_bytes,
        )
    elif data[:4] == b"\x00\x00\x01\x00":
        budget.check_icon(data, max_side=limits.max_icon_side)
    budget.refuse_container(data)


def _open(data: bytes, limits: DecodeLimits) -> Image.Image:
    if not data:
        raise EmptyImage("The file is empty (0 bytes). Choose a photo and try again.")
    if len(data) > limits.max_bytes:
        raise ImageTooLarge(
            f"The file is {len(data) / 1e6:.1f} MB; the limit is "
            f"{limits.max_bytes / 1e6:.1f} MB. Use a smaller photo."
        )
    try:
        _precheck(data, limits)
        img = Image.open(io.BytesIO(data), formats=_ALLOWED_FORMATS)
    except Image.DecompressionBombError as exc:
        # Pillow refuses before we see the header; its message carries the pixel count.
        found = re.search(r"\((\d+) pixels\)", str(exc))
        declared = f" ({int(found.group(1)) / 1e6:,.0f} MP)" if found else ""
        raise TooManyPixels(
            f"The image declares more pixels{declared} than isit accepts (limit "
            f"{limits.max_pixels / 1e6:.0f} MP). Use a smaller image."
        ) from exc
    except (UnidentifiedImageError, *_DAMAGED) as exc:
        raise _unsupported(data, exc) from exc
    width, height = img.size
    if width <= 0 or height <= 0:
        raise NotAnImage("The image has no pixels (width or height is 0).")
    if width * height > limits.max_pixels:
        raise TooManyPixels(
            f"The image is {width}x{height} pixels ({width * height / 1e6:.0f} MP); the "
            f"limit is {limits.max_pixels / 1e6:.0f} MP. Use a smaller image."
        )
    return img


def _fit_budget(img: Image.Image, fmt: str, min_side: int | None, limits: DecodeLimits) -> None:
    """Pick the JPEG draft scale, or refuse what would cost too much to decode at full size."""
    width, height = img.size
    if fmt in ("JPEG", "MPO"):
        scale = min_side / min(width, height) if min_side else 1.0
        # Pillow keeps decoded RGB in 4 bytes per pixel; stay within the memory budget.
        fits = math.sqrt(limits.max_decode_bytes / (4 * width * height))
        scale = min(scale, fits)
        if scale < 1:
            img.draft(None, (math.ceil(width * scale), math.ceil(height * scale)))
        return
    pixels = width * height
    peak = budget.decode_peak_bytes(fmt, img.mode, pixels)
    if pixels > limits.max_full_decode_pixels or peak > limits.max_decode_bytes:
        raise TooManyPixels(
            f"This {fmt} image ({width}x{height}, {img.mode}) would take about "
            f"{peak / 1e6:.0f} MB to decode; isit decodes {fmt} images up to "
            f"{limits.max_decode_bytes / 1e6:.0f} MB and "
            f"{limits.max_full_decode_pixels / 1e6:.0f} MP. Save it as a JPEG or use a "
            "smaller image."
        )


def _peak_value(img: Image.Image) -> float:
    extrema = img.getextrema()
    return float(extrema[1]) if isinstance(extrema, tuple) else 0.0


def _to_rgb(img: Image.Image, peak: float | None = None) -> Image.Image:
    """Every Pillow mode to 8-bit RGB; transparency is composited on white.

    ``peak``: the largest value of the whole image, for "I" and "F" modes converted in
    strips (each strip must be scaled alike).
    """
    mode = img.mode
    if mode == "RGB":
        return img
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        arr = np.asarray(img).astype(np.float32)
        top = float(arr.max(initial=0)) if peak is None else peak
        if mode.startswith("I;16"):
            arr = arr / 257.0
        elif mode == "I" and top > 255:
            arr = arr / (257.0 if top <= 65535 else top / 255.0)
        elif mode == "F" and top <= 1.0:
            arr = arr * 255.0
        grey = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
        return Image.fromarray(np.stack([grey] * 3, axis=-1), "RGB")
    if (mode == "P" and "transparency" in img.info) or mode in ("LA", "PA", "La", "RGBa"):
        img = img.convert("RGBA")
    if img.mode == "RGBA":
        background = Image.new("RGB", img.size, (255, 255, 255))
        background.paste(img, mask=img.getchannel("A"))
        return background
    try:
        return img.convert("RGB")
    except ValueError as exc:
        raise UnsupportedFormat(
            f"Images in colour mode {mode} are not supported. Save it as an RGB JPEG or PNG."
        ) from exc


def _reduce_factor(img: Image.Image, min_side: int | None) -> int:
    """Big decoded images shrink by a whole factor before conversion (keeping ``min_side``)."""
    width, height = img.size
    stored = width * height * budget.stored_bytes_per_pixel(img.mode)
    if not min_side or stored <= REDUCE_ABOVE_BYTES:
        return 1
    return max(1, min(width, height) // min_side)


def _reduced_rgb(img: Image.Image, factor: int) -> Image.Image:
    """``_to_rgb`` then ``reduce(factor)``, strip by strip: no full-size copy is made."""
    width, height = img.size
    peak = _peak_value(img) if img.mode in ("I", "F") else None
    out = Image.new("RGB", (width // factor, height // factor))
    rows = factor * max(1, REDUCE_STRIP_PIXELS // (width * factor))
    for top in range(0, out.height * factor, rows):
        bottom = min(top + rows, out.height * factor)
        strip = _to_rgb(img.crop((0, top, out.width * factor, bottom)), peak)
        out.paste(strip.reduce(factor), (0, top // factor))
    return out


def _upright(img: Image.Image, orientation: int | None) -> Image.Image:
    method = _ORIENTATIONS.get(orientation or 1)
    return img.transpose(method) if method is not None else img


def _orientation(img: Image.Image) -> int | None:
    value = img.getexif().get(ExifTags.Base.Orientation)
    return value if isinstance(value, int) else None


def _count_frames(img: Image.Image) -> int:
    """Frames in the file, counted up to FRAME_COUNT_CAP (never ``n_frames`` for GIF and
    TIFF: Pillow walks every page for it, quadratic for TIFF)."""
    if not getattr(img, "is_animated", False):
        return 1
    if img.format not in ("GIF", "TIFF"):
        return min(int(getattr(img, "n_frames", 1) or 1), FRAME_COUNT_CAP)
    count = 1
    try:
        while count < FRAME_COUNT_CAP:
            # GIF's _seek(n, False) reads the frame header without decoding it.
            img._seek(count, False) if img.format == "GIF" else img.seek(count)  # type: ignore[attr-defined]
            count += 1
    except _DAMAGED:
        pass
    return count


def decode(
    data: bytes,
    *,
    limits: DecodeLimits = DEFAULT_LIMITS,
    min_side: int | None = None,
) -> DecodedImage:
    """Decode image bytes to an upright 8-bit RGB image (first frame of animations).

    ``min_side`` lets JPEGs decode at a reduced scale (draft mode), and other big images
    shrink right after decoding, as long as the shorter side stays at least that long: a
    12 MP photo decodes 8x smaller, fast. The decode budget (:class:`DecodeLimits`)
    refuses, before decoding, what would cost too much time or memory.
    """
    img = _open(data, limits)
    fmt = img.format or "unknown"
    original_size = img.size
    try:
        _fit_budget(img, fmt, min_side, limits)
        img.load()
        orientation = _orientation(img)
        factor = _reduce_factor(img, min_side)
        rgb = _reduced_rgb(img, factor) if factor > 1 else _to_rgb(img)
        rgb = _upright(rgb, orientation)
        rgb.load()
        frames = _count_frames(img)
    except (UnsupportedFormat, TooManyPixels):
        raise
    except Image.DecompressionBombError as exc:
        raise TooManyPixels("The image declares more pixels than isit accepts.") from exc
    except _DAMAGED as exc:
        raise NotAnImage(
            f"This {fmt} file is damaged or incomplete (it may be truncated) and cannot "
            "be read. Re-export or re-download it."
        ) from exc
    except MemoryError as exc:
        raise TooManyPixels("The image is too large to decode.") from exc
    return DecodedImage(rgb, fmt, original_size, frames)


def resize_center_crop(img: Image.Image, size: int) -> Image.Image:
    """The documented resize rule: centred square of the shorter side, bilinear to size."""
    width, height = img.size
    side = min(width, height)
    left = (width - side) // 2
    top = (height - side) // 2
    square = img.crop((left, top, left + side, top + side)) if width != height else img
    return square.resize((size, size), Image.Resampling.BILINEAR)


def normalize(pixels: np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    """uint8 HxWx3 (or NxHxWx3) pixels to float32 model input."""
    mean = np.asarray(spec.mean, dtype=np.float32)
    std = np.asarray(spec.std, dtype=np.float32)
    return (pixels.astype(np.float32) - mean) / std


def to_pixels(img: Image.Image, spec: PreprocessSpec) -> np.ndarray:
    """An RGB image to ``size x size x 3`` uint8 pixels by the resize rule."""
    return np.asarray(resize_center_crop(img, spec.size), dtype=np.uint8)


def preprocess(
    data: bytes, spec: PreprocessSpec, *, limits: DecodeLimits = DEFAULT_LIMITS
) -> np.ndarray:
    """Image bytes to one normalised ``size x size x 3`` float32 array."""
    return preprocess_decoded(data, spec, limits=limits)[0]


def preprocess_decoded(
    data: bytes, spec: PreprocessSpec, *, limits: DecodeLimits = DEFAULT_LIMITS
) -> tuple[np.ndarray, DecodedImage]:
    """:func:`preprocess`, and the decoded image it came from (its sizes place a heatmap
    on the uploaded photo)."""
    decoded = decode(data, limits=limits, min_side=spec.size)
    return normalize(to_pixels(decoded.image, spec), spec), decoded


def preprocess_batch(
    images: Sequence[bytes], spec: PreprocessSpec, *, limits: DecodeLimits = DEFAULT_LIMITS
) -> np.ndarray:
    """Several images to one ``N x size x size x 3`` batch (errors raise, as for one)."""
    if not images:
        return np.zeros((0, spec.size, spec.size, 3), dtype=np.float32)
    return np.stack([preprocess(data, spec, limits=limits) for data in images])


def read_image_bytes(
    path: str | os.PathLike[str], *, limits: DecodeLimits = DEFAULT_LIMITS
) -> bytes:
    """Read a regular file of at most ``limits.max_bytes`` bytes.

    FIFOs, devices and sockets are refused without being opened (``stat`` first; the file
    is then opened non-blocking and checked again with ``fstat``, in case it was replaced),
    and at most the limit plus one byte is ever read, whatever the size
    the file system reports (``/proc`` files and growing files report 0 or less).
    """
    name = display_path(Path(path).name)
    if not stat.S_ISREG(os.stat(path).st_mode):  # before open: opening a device can act
        raise _not_a_file(name)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):  # replaced since the stat above
            raise _not_a_file(name)
        if info.st_size > limits.max_bytes:
            raise ImageTooLarge(_too_large(name, info.st_size, limits))
        with os.fdopen(os.dup(fd), "rb") as handle:
            data = handle.read(limits.max_bytes + 1)
    finally:
        os.close(fd)
    if len(data) > limits.max_bytes:
        raise ImageTooLarge(_too_large(name, None, limits))
    return data


def _not_a_file(name: str) -> NotARegularFile:
    return NotARegularFile(
        f"{name} is not a regular file (a folder, pipe, device or socket); only photo files "
        "are read."
    )


def _too_large(name: str, size: int | None, limits: DecodeLimits) -> str:
    limit = f"{limits.max_bytes / 1e6:.1f} MB"
    if size is None:  # only the limit plus one byte was read
        return f"{name} is larger than {limit}, the limit."
    return f"{name} is {size / 1e6:.1f} MB; the limit is {limit}."
