"""The check's per-file facts (hashes, size, format, perceptual hashes, thumbnail), kept
beside the feature cache so that checking an unchanged folder again decodes nothing.

Key: the file's absolute path, size, ``mtime_ns`` and inode (what ``os.stat`` says), so a
changed, replaced or moved file is read again. Each entry is one small file under
``$ISIT_CACHE_DIR/check/`` (a JSON header line, then the perceptual hashes and the
thumbnail), written atomically; the header carries the full key and a SHA-256 of the
body, so an entry that is damaged, truncated or meant for another file is ignored, never
trusted. Only readable images are kept: a problem file is examined again each time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

import numpy as np

from training import settings
from training.atomic import atomic_write_with
from training.data.doctor.file_hashes import CROP_BOXES, THUMB_SIDE, Fingerprint
from training.data.doctor.photo_facts import PhotoFacts

VERSION = 2  # bump when Fingerprint's recipe changes: older entries are then ignored
_THUMB_SHAPE = (THUMB_SIDE, THUMB_SIDE, 3)
_BODY_BYTES = len(CROP_BOXES) * 8 + int(np.prod(_THUMB_SHAPE))


def file_key(path: str | os.PathLike[str]) -> str | None:
    """What identifies this version of the file; None when it cannot be stat'ed."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return json.dumps([VERSION, os.path.abspath(path), st.st_size, st.st_mtime_ns, st.st_ino])


class CheckCache:
    """Fingerprints by :func:`file_key`, on disk under ``root`` (default: the cache root)."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.dir = Path(root) if root is not None else settings.cache_root() / "check"

    def _path(self, key: str) -> Path:
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
        return self.dir / digest[:2] / f"{digest}.fp"

    def get(self, key: str | None) -> Fingerprint | None:
        """The stored fingerprint of this file version, or None (absent or not trusted)."""
        if key is None:
            return None
        try:
            raw = self._path(key).read_bytes()
            header_bytes, body = raw.split(b"\n", 1)
            header = json.loads(header_bytes)
            if header.get("key") != key or len(body) < _BODY_BYTES:
                return None
            if header.get("body_sha256") != hashlib.sha256(body).hexdigest():
                return None
            body, corners = body[:_BODY_BYTES], body[_BODY_BYTES:]
            hashes = np.frombuffer(body[: len(CROP_BOXES) * 8], dtype="<u8").astype(np.uint64)
            thumb = np.frombuffer(body[len(CROP_BOXES) * 8 :], np.uint8).reshape(_THUMB_SHAPE)
            return Fingerprint(
                sha256=str(header["sha256"]),
                pixel_sha256=str(header["pixel_sha256"]),
                width=int(header["width"]),
                height=int(header["height"]),
                format=str(header["format"]),
                nbytes=int(header["nbytes"]),
                phashes=hashes,
                thumb=thumb.copy(),
                facts=_facts_from(header.get("facts"), corners),
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None  # missing, half-written or damaged: examined again

    def put(self, key: str | None, fp: Fingerprint) -> None:
        """Store ``fp`` for this file version (best effort: a full disk only costs time)."""
        if key is None or fp.phashes.shape != (len(CROP_BOXES),) or fp.thumb.shape != _THUMB_SHAPE:
            return
        thumb = np.ascontiguousarray(fp.thumb, np.uint8)
        body = fp.phashes.astype("<u8").tobytes() + thumb.tobytes()
        facts, corners = _facts_to(fp.facts)
        body += corners
        header = {
            "key": key,
            "body_sha256": hashlib.sha256(body).hexdigest(),
            "sha256": fp.sha256,
            "pixel_sha256": fp.pixel_sha256,
            "width": fp.width,
            "height": fp.height,
            "format": fp.format,
            "nbytes": fp.nbytes,
            "facts": facts,
        }
        payload = json.dumps(header, default=_plain).encode() + b"\n" + body
        # Not fsynced: an entry lost in a power cut is just computed again.
        with contextlib.suppress(OSError):
            atomic_write_with(self._path(key), lambda h: h.write(payload), sync=False)


def _facts_to(facts: PhotoFacts | None) -> tuple[dict | None, bytes]:
    """The shortcut audit's facts as JSON, and their corner patches as float16 bytes."""
    if facts is None:
        return None, b""
    corners = np.ascontiguousarray(facts.corners, "<f2")
    fields = {name: getattr(facts, name) for name in _SCALAR_FACTS}
    return {**fields, "corners_shape": list(corners.shape)}, corners.tobytes()


def _facts_from(fields: dict | None, corners: bytes) -> PhotoFacts | None:
    if fields is None:
        return None
    shape = tuple(int(n) for n in fields["corners_shape"])
    return PhotoFacts(
        jpeg_quality=fields["jpeg_quality"],
        camera=fields["camera"],
        hour=fields["hour"],
        bands=tuple(fields["bands"]),
        band_colours=tuple(tuple(c) for c in fields["band_colours"]),
        brightness=float(fields["brightness"]),
        corners=np.frombuffer(corners, "<f2").reshape(shape).astype(np.float16),
        corner_detail=tuple(fields["corner_detail"]),
        detail=float(fields["detail"]),
    )


_SCALAR_FACTS = ("jpeg_quality", "camera", "hour", "bands", "band_colours", "brightness",
                 "corner_detail", "detail")  # fmt: skip


def _plain(value: object) -> object:
    """NumPy scalars (the facts' numbers) as Python numbers for JSON."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON")
