"""One pass over each file: read it, hash it, decode it once, and compute its perceptual hashes.

A file the doctor accepts is a file the Function can read: decoding goes through the core
decoder ``isit.imaging.decode`` with the same limits. Large JPEGs decode in draft mode
(reduced scale), which is all the perceptual hash needs.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_all_start_methods, get_context
from multiprocessing.context import BaseContext
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image
from tqdm import tqdm

from isit.errors import ImageError
from isit.imaging import DEFAULT_LIMITS, DecodedImage, DecodeLimits, decode, read_image_bytes
from training.data.doctor.photo_facts import PhotoFacts, photo_facts

DRAFT_MIN_SIDE = 256  # JPEGs decode at the smallest scale keeping this shorter side
HASH_BASE = 96  # grey square the crop alignments are cut from
THUMB_SIDE = 64  # stored colour thumbnail, for verifying near-duplicate candidates
# Crop alignments per axis, as (start, end) fractions: the full frame, and 95% windows at
# the start, centre and end. A copy with up to ~5% cut off any sides lines up with one of
# the 4 x 4 boxes to within ~1.25% of the frame (see duplicates.py).
AXIS_WINDOWS = ((0.0, 1.0), (0.0, 0.95), (0.025, 0.975), (0.05, 1.0))
CROP_BOXES = tuple((x0, y0, x1, y1) for (x0, x1) in AXIS_WINDOWS for (y0, y1) in AXIS_WINDOWS)


@dataclass(frozen=True)
class Fingerprint:
    """What the doctor keeps of one readable image (a few KB, not the pixels)."""

    sha256: str  # of the file bytes: exact copies, and training's feature-cache key
    pixel_sha256: str  # of the decoded RGB pixels: a re-saved PNG of the same pixels
    width: int  # upright (after EXIF orientation), in pixels
    height: int
    format: str
    nbytes: int
    phashes: np.ndarray  # uint64[len(CROP_BOXES)]; [0] is the full frame
    thumb: np.ndarray  # uint8[THUMB_SIDE, THUMB_SIDE, 3] RGB, aspect ignored
    facts: PhotoFacts | None = None  # for the shortcut audit; None when not computed


@dataclass(frozen=True)
class Unreadable:
    kind: str  # "empty", "not_an_image", "unsupported_format", "too_large", "too_small", ...
    reason: str


_ERROR_KINDS = {"empty_body": "empty"}


def phash64(img: Image.Image) -> int:
    """imagehash's 64-bit DCT perceptual hash as one integer."""
    bits = imagehash.phash(img).hash.ravel()
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


def hash_square(img: Image.Image) -> Image.Image:
    """The grey HASH_BASE square (aspect ignored) the perceptual hashes are cut from."""
    return img.convert("L").resize((HASH_BASE, HASH_BASE), Image.Resampling.BILINEAR)


def fingerprint_image(
    img: Image.Image, grey: Image.Image | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Perceptual hashes of the full frame and of the crop alignments, plus a small thumb.
    ``grey``: :func:`hash_square` of ``img``, when made already."""
    grey = hash_square(img) if grey is None else grey
    hashes = np.fromiter(
        (
            phash64(
                grey.resize(
                    (32, 32), Image.Resampling.BILINEAR, box=tuple(v * HASH_BASE for v in box)
                )
            )
            for box in CROP_BOXES
        ),
        dtype=np.uint64,
        count=len(CROP_BOXES),
    )
    thumb = np.asarray(img.resize((THUMB_SIDE, THUMB_SIDE), Image.Resampling.BILINEAR))
    return hashes, thumb


def fingerprint_file(
    path: str, min_side: int = 32, limits: DecodeLimits = DEFAULT_LIMITS, facts: bool = True
) -> Fingerprint | Unreadable:
    """Fingerprint one file, or say in plain words why it cannot be used."""
    try:
        data = read_image_bytes(path, limits=limits)
    except ImageError as exc:
        return Unreadable(exc.code, exc.message)
    except OSError as exc:
        return Unreadable(
            "unreadable",
            f"cannot be read ({exc.strerror or exc}); check its permissions or copy it again",
        )
    return fingerprint_bytes(data, min_side, limits, facts)


def fingerprint_bytes(
    data: bytes, min_side: int = 32, limits: DecodeLimits = DEFAULT_LIMITS, facts: bool = True
) -> Fingerprint | Unreadable:
    """Fingerprint a file's bytes (read already, e.g. by Spark), or say why they are unusable."""
    decoded = decode_for_fingerprint(data, limits)
    if isinstance(decoded, Unreadable):
        return decoded
    return fingerprint_decoded(data, decoded, min_side, facts)


def decode_for_fingerprint(
    data: bytes, limits: DecodeLimits = DEFAULT_LIMITS
) -> DecodedImage | Unreadable:
    """The decoding half of :func:`fingerprint_bytes` (JPEGs in draft mode)."""
    try:
        return decode(data, limits=limits, min_side=DRAFT_MIN_SIDE)
    except ImageError as exc:
        return Unreadable(_ERROR_KINDS.get(exc.code, exc.code), exc.message)


def fingerprint_decoded(
    data: bytes, decoded: DecodedImage, min_side: int = 32, facts: bool = True
) -> Fingerprint | Unreadable:
    """The hashing half of :func:`fingerprint_bytes`: ``decoded`` is ``data`` decoded at
    ``min_side=DRAFT_MIN_SIDE``. ``facts``: also the shortcut audit's :class:`PhotoFacts`."""
    img = decoded.image
    width, height = decoded.original_size
    if (img.width > img.height) != (width > height) and img.width != img.height:
        width, height = height, width  # EXIF rotated it by 90 degrees
    small = too_small(width, height, min_side)
    if small is not None:
        return small
    rgb = np.asarray(img)  # the same bytes as img.tobytes(), shared with the facts
    pixels = hashlib.sha256(f"{img.width}x{img.height}:".encode())
    pixels.update(rgb)
    grey = hash_square(img)
    hashes, thumb = fingerprint_image(img, grey)
    return Fingerprint(
        sha256=hashlib.sha256(data).hexdigest(),
        pixel_sha256=pixels.hexdigest(),
        width=width,
        height=height,
        format=decoded.format,
        nbytes=len(data),
        phashes=hashes,
        thumb=thumb,
        facts=photo_facts(data, rgb, np.asarray(grey)) if facts else None,
    )


def too_small(width: int, height: int, min_side: int) -> Unreadable | None:
    """The problem of a photo under ``min_side`` pixels on its shorter side, else None."""
    if min(width, height) >= min_side:
        return None
    return Unreadable(
        "too_small",
        f"Only {width}x{height} pixels, skipped: photos need at least "
        f"{min_side} pixels on the shorter side. Use a larger version.",
    )


def _job(args: tuple[str, int, bool]) -> Fingerprint | Unreadable:
    return fingerprint_file(args[0], args[1], facts=args[2])


def _pool_context() -> BaseContext:
    """fork starts workers in milliseconds; spawn is safe when TensorFlow's threads run.
    onnxruntime is not a reason: the workers never touch a session (and `isit train` has
    it loaded before its check, whose workers would each import everything again)."""
    threaded = any(name in sys.modules for name in ("tensorflow", "torch"))
    methods = get_all_start_methods()
    return get_context("fork" if "fork" in methods and not threaded else "spawn")


def default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def show_progress(progress: bool | None) -> bool:
    """None means: only when a person is watching (stderr is a terminal)."""
    return sys.stderr.isatty() if progress is None else bool(progress)


def fingerprint_files(
    paths: Iterable[Path],
    *,
    min_side: int = 32,
    workers: int | None = None,
    progress: bool | None = None,
    facts: bool = True,
    cache: bool = True,
) -> Iterator[Fingerprint | Unreadable]:
    """Fingerprints in the order of ``paths``; several processes for long lists. With
    ``cache``, a file unchanged since an earlier check (same path, size, mtime, inode)
    is not read again (:mod:`training.data.doctor.check_cache`); ``facts``: with the
    shortcut audit's facts (a cached entry without them is examined again)."""
    from training.data.doctor.check_cache import CheckCache, file_key

    names = [str(p) for p in paths]
    store = CheckCache() if cache else None
    keys = [file_key(n) for n in names] if store else [None] * len(names)
    known = [store.get(k) if store else None for k in keys]
    known = [fp if fp is None or fp.facts is not None or not facts else None for fp in known]
    todo = [i for i, fp in enumerate(known) if fp is None]
    bar = tqdm(
        total=len(names),
        unit="img",
        desc="checking",
        disable=not show_progress(progress),
        file=sys.stderr,
        dynamic_ncols=True,
    )
    try:
        bar.update(len(names) - len(todo))
        jobs = [(names[i], min_side, facts) for i in todo]
        fresh = iter(_fingerprint_all(jobs, workers, bar))
        for i, fp in enumerate(known):
            if fp is None:
                result = next(fresh)
                if store and isinstance(result, Fingerprint):
                    store.put(keys[i], result)
                yield result
            else:
                yield too_small(fp.width, fp.height, min_side) or fp
    finally:
        bar.close()


def _fingerprint_all(
    jobs: list[tuple[str, int, bool]], workers: int | None, bar: tqdm
) -> Iterator[Fingerprint | Unreadable]:
    """Fingerprints of ``jobs`` in order: here for a few, in worker processes for many."""
    workers = default_workers() if workers is None else max(1, workers)
    if workers == 1 or len(jobs) < 64:
        for result in map(_job, jobs):
            bar.update()
            yield result
        return
    with ProcessPoolExecutor(workers, mp_context=_pool_context()) as pool:
        for result in pool.map(_job, jobs, chunksize=16):
            bar.update()
            yield result
