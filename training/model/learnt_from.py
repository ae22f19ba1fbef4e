"""A compact fingerprint of the photos a model learnt from, carried inside model.onnx.

So that `isit evaluate` never calls a training photo "held out": it sets aside every
photo whose file bytes or decoded pixels hash to one the model was trained or
calibrated on (exact copies and re-saves included).

Format (metadata key ``isit.training_photos``): ``v1:<count>:<base64>``, where the
payload is zlib of the sorted, de-duplicated first 40 bits of each SHA-256 (bytes and
pixels alike), delta-encoded as little-endian uint32 (uint64 if a gap ever needs it,
then ``v1w``). About 3 bytes a hash: 100,000 photos (two hashes each) take ~0.8 MB.
A new photo collides with a training one by chance with probability ~n / 2^40.
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Iterable

import numpy as np

BITS = 40
VERSION = "v1"


def _prefixes(hex_digests: Iterable[str]) -> np.ndarray:
    chars = BITS // 4
    values = {int(h[:chars], 16) for h in hex_digests if h}
    return np.array(sorted(values), dtype=np.uint64)


def encode(hex_digests: Iterable[str]) -> str:
    """The fingerprint string of these SHA-256 hex digests."""
    values = _prefixes(hex_digests)
    deltas = np.diff(values, prepend=np.uint64(0))
    wide = bool(len(deltas)) and int(deltas.max()) >= 2**32
    payload = deltas.astype("<u8" if wide else "<u4").tobytes()
    packed = base64.b64encode(zlib.compress(payload, 9)).decode("ascii")
    return f"{VERSION}{'w' if wide else ''}:{len(values)}:{packed}"


def decode(text: str) -> frozenset[int]:
    """The 40-bit prefixes in a fingerprint string; empty for ``""``."""
    if not text:
        return frozenset()
    tag, count, packed = text.split(":", 2)
    if tag not in (VERSION, VERSION + "w"):
        raise ValueError(f"unknown training-photo fingerprint version {tag!r}")
    dtype = "<u8" if tag.endswith("w") else "<u4"
    deltas = np.frombuffer(zlib.decompress(base64.b64decode(packed)), dtype=dtype)
    if len(deltas) != int(count):
        raise ValueError("training-photo fingerprint is damaged")
    return frozenset(int(v) for v in np.cumsum(deltas.astype(np.uint64)))


def seen(known: frozenset[int], *hex_digests: str) -> bool:
    """Whether any of these digests belongs to the fingerprint."""
    chars = BITS // 4
    return any(h and int(h[:chars], 16) in known for h in hex_digests)
