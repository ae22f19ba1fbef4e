"""Cheap facts about one photo that are not its subject: what a shortcut is made of.

A frozen backbone learns whatever tells the folders apart. When every photo of one class
has a black frame, is a PNG, a 4000x3000 camera photo, comes from one camera, was taken at
night or carries a logo in a corner, the model may learn that instead of the subject. These
facts are computed in the check's single read and decode of each file (the header is
parsed again from the bytes already read, without decoding: EXIF and JPEG tables), and
:mod:`training.data.doctor.shortcut_audit` asks whether they predict the class.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

# A band of rows (or columns) at an edge is "uniform" when at least UNIFORM_SHARE of its
# pixels lie within UNIFORM_TOLERANCE (per channel, 0..255) of the edge's median colour:
# JPEG noise and a soft frame edge stay inside, a textured background does not.
UNIFORM_TOLERANCE = 28
UNIFORM_SHARE = 0.97
MAX_BAND = 0.3  # bands are measured up to this share of the side
FACTS_SIDE = 192  # about the longer side, in pixels, bands are measured at
CORNER = 16  # corner patch side in the check's 96 px grey square (1/6 of each side)
TEMPLATE = 8  # corner patches are kept at TEMPLATE x TEMPLATE for comparing photos
CORNERS = ("top-left", "top-right", "bottom-left", "bottom-right")
SIDES = ("top", "right", "bottom", "left")
_BLOCK = 6  # rows tested at a time when measuring a band

# The IJG (libjpeg) standard luminance table at quality 50: a file's own table, scaled
# against it, gives the quality setting it was saved with.
_IJG_LUMA_SUM = sum(
    (16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
     14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
     18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
     49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99)
)  # fmt: skip


@dataclass(frozen=True)
class PhotoFacts:
    """What one photo looks like apart from its subject (a few hundred bytes)."""

    jpeg_quality: float | None  # estimated from the luminance quantisation table
    camera: str | None  # EXIF make and model, e.g. "Canon EOS 80D"
    hour: int | None  # EXIF capture hour (camera clock), 0..23
    bands: tuple[float, float, float, float]  # uniform band per side (SIDES), share of the side
    band_colours: tuple[tuple[int, int, int], ...]  # median colour at each side's edge
    brightness: float  # mean grey level 0..255
    corners: np.ndarray  # float16 [4, TEMPLATE, TEMPLATE]: each corner, zero mean, unit norm
    corner_detail: tuple[float, float, float, float]  # mean gradient in each corner, 0..255
    detail: float  # mean gradient over the whole grey square, 0..255


def jpeg_quality(img: Image.Image) -> float | None:
    """The IJG quality (1..100) a JPEG was most likely saved with, None for other files."""
    tables = getattr(img, "quantization", None)
    if not tables or 0 not in tables:
        return None
    scale = 100.0 * float(sum(tables[0])) / _IJG_LUMA_SUM
    quality = (200.0 - scale) / 2.0 if scale <= 100 else 5000.0 / scale
    return float(min(100.0, max(1.0, quality)))


def _exif_text(value: object) -> str:
    if isinstance(value, bytes):
        value = value.decode("latin-1", "replace")
    return str(value or "").replace("\x00", "").strip()


def header_facts(data: bytes) -> tuple[float | None, str | None, int | None]:
    """``(jpeg quality, camera, capture hour)`` from the file's header, without decoding."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            quality = jpeg_quality(img)
            exif = img.getexif()
            make, model = _exif_text(exif.get(0x010F)), _exif_text(exif.get(0x0110))
            when = _exif_text(exif.get_ifd(0x8769).get(0x9003)) or _exif_text(exif.get(0x0132))
    except Exception:
        return None, None, None
    camera = model if make.lower() in model.lower() else f"{make} {model}".strip()
    hour = None
    if len(when) >= 13 and when[11:13].isdigit() and int(when[11:13]) < 24:
        hour = int(when[11:13])
    return quality, camera or None, hour


def _band(edge_first: np.ndarray) -> tuple[float, tuple[int, int, int]]:
    """Width (share of the side) of the uniform band at the start of axis 0, and its colour."""
    limit = max(1, int(edge_first.shape[0] * MAX_BAND))
    edge = np.sort(edge_first[0], axis=0)
    colour = edge[len(edge) // 2].astype(np.int16)  # per-channel median
    width = 0
    # Row blocks until the first non-uniform row: most photos stop in the first block.
    for start in range(0, limit, _BLOCK):
        rows = edge_first[start : min(limit, start + _BLOCK)].astype(np.int16)
        close = (np.abs(rows - colour).max(axis=2) <= UNIFORM_TOLERANCE).mean(axis=1)
        uniform = close >= UNIFORM_SHARE
        if not uniform.all():
            width = start + int(np.argmin(uniform))
            break
        width = start + len(rows)
    rgb = (int(colour[0]), int(colour[1]), int(colour[2]))
    return width / edge_first.shape[0], rgb


def border_bands(pixels: np.ndarray) -> tuple[tuple[float, ...], tuple[tuple[int, int, int], ...]]:
    """Uniform band per side (top, right, bottom, left) of an RGB array, and edge colours."""
    views = (pixels, pixels.transpose(1, 0, 2)[::-1], pixels[::-1], pixels.transpose(1, 0, 2))
    found = [_band(view) for view in views]
    return tuple(w for w, _ in found), tuple(c for _, c in found)


def gradient(grey: np.ndarray) -> np.ndarray:
    """Mean absolute difference between neighbours, over the last two axes."""
    rows = np.abs(np.diff(grey, axis=-2)).mean(axis=(-2, -1))
    cols = np.abs(np.diff(grey, axis=-1)).mean(axis=(-2, -1))
    return (rows + cols) / 2


def corner_patches(grey: np.ndarray) -> tuple[np.ndarray, tuple[float, ...]]:
    """Each corner of a grey square: its pattern (zero mean, unit norm, small) and its
    detail (mean absolute gradient: text and logos have much)."""
    n, c = grey.shape[0], CORNER
    cuts = np.stack((grey[:c, :c], grey[:c, n - c :], grey[n - c :, :c], grey[n - c :, n - c :]))
    step = c // TEMPLATE
    small = cuts.reshape(4, TEMPLATE, step, TEMPLATE, step).mean(axis=(2, 4))
    small -= small.mean(axis=(1, 2), keepdims=True)
    norms = np.sqrt((small**2).sum(axis=(1, 2)))
    # A flat corner (a frame, a white background) has no pattern to compare.
    patterns = np.where(
        norms[:, None, None] > 1.0, small / np.maximum(norms, 1.0)[:, None, None], 0
    )
    detail = gradient(cuts)
    return patterns.astype(np.float16), tuple(float(d) for d in detail)


def photo_facts(data: bytes, rgb: np.ndarray, grey: np.ndarray) -> PhotoFacts:
    """All facts of one photo: ``data`` its file's bytes, ``rgb`` its decoded pixels
    [height, width, 3], ``grey`` the check's grey square of it (aspect ignored)."""
    quality, camera, hour = header_facts(data)
    # Every second pixel or more each way (up to FACTS_SIDE): a band of interest spans many.
    step = max(2, max(rgb.shape[:2]) // FACTS_SIDE)
    bands, colours = border_bands(rgb[::step, ::step])
    grey = grey.astype(np.float32)
    corners, detail = corner_patches(grey)
    return PhotoFacts(
        jpeg_quality=quality,
        camera=camera,
        hour=hour,
        bands=bands,
        band_colours=colours,
        brightness=float(grey.mean()),
        corners=corners,
        corner_detail=detail,
        detail=float(gradient(grey)),
    )
