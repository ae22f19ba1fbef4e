"""Group exact and near-duplicate images with union-find.

Three ways two files end up in one group:

1. identical bytes (same SHA-256): "x.jpg" and "x - Copy.jpg";
2. identical decoded pixels: a PNG re-save of the same image;
3. a near-copy (resized, re-compressed, lightly cropped), found in two steps:

   - candidates: the 64-bit DCT perceptual hash (``imagehash.phash``) of one image's full
     frame is within ``HAMMING_THRESHOLD`` bits of the hash of the other image, or of one of
     its 15 crop alignments (95% windows: a copy with up to ~5% cut off lines up with one of
     them). Measured on 900 copies of generated photos (halved, quality 40, random crops
     of 5%), copies sit 0-6 bits apart; unrelated photos around 32 (random bits), but with
     16 alignments a few pairs in a thousand photos come within 8-12. 10 leaves margin
     for copies; the hash only picks candidates, cheaply, for every pair, and (at 2,080
     generated photos) about 100 candidates are then verified instead of ~1,200 at 14.
   - verification: the pair's 24x24 colour thumbnails, reduced to their detail (minus a
     1-pixel Gaussian blur, so that "a dark object on white" alone does not match), must
     correlate at ``MIN_CORRELATION`` or more in the best of the 16 alignments. Colour,
     not grey: two colours of equal brightness are an edge in colour only. Measured on
     300 generated photos: resized and quality-40 copies score 0.98-1.0, uneven 5% crops
     0.87-0.95, unrelated photos at most 0.37; on vader_elsa, two different product shots
     of the same toy score 0.69 and a colour-graded copy of one photo 0.72 (not merged:
     re-graded copies are beyond "resized, re-compressed, lightly cropped").

A nearly flat image (a blank wall: no detail but sensor noise) has nothing to verify, so
only its exact copies are found.

A photo and its near-copy merge transitively (A~B and B~C puts A, B and C in one group);
with the thresholds above chains between unrelated photos have not been seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter
from scipy.cluster.hierarchy import DisjointSet

from training.data.doctor.file_hashes import CROP_BOXES, THUMB_SIDE, Fingerprint

HAMMING_THRESHOLD = 10
MIN_CORRELATION = 0.78
_CORR_SIDE = 24
_DETAIL_BLUR = 1.0  # pixels at _CORR_SIDE: what is removed to keep only detail
_BLOCK_ELEMENTS = 4_000_000  # bounds the memory of one block of hash comparisons


@dataclass(frozen=True)
class Group:
    members: tuple[int, ...]  # indices into the fingerprint list, sorted
    kind: str  # "identical_bytes", "identical_pixels" or "near"


def _normalised(thumb: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    img = Image.fromarray(thumb, "RGB").resize(
        (_CORR_SIDE, _CORR_SIDE),
        Image.Resampling.BILINEAR,
        box=tuple(v * THUMB_SIDE for v in box),
    )
    blurred = img.filter(ImageFilter.GaussianBlur(_DETAIL_BLUR))
    vec = (np.asarray(img, np.float32) - np.asarray(blurred, np.float32)).ravel()
    vec = vec - vec.mean()
    norm = float(np.linalg.norm(vec))
    return vec / norm if norm > 1e-3 else vec  # a flat image correlates with nothing


class _Thumbs:
    """Normalised crop thumbnails, made on demand (only candidates need them)."""

    def __init__(self, fps: Sequence[Fingerprint]) -> None:
        self.fps = fps
        self.cache: dict[int, np.ndarray] = {}

    def __getitem__(self, i: int) -> np.ndarray:
        if i not in self.cache:
            self.cache[i] = np.stack([_normalised(self.fps[i].thumb, b) for b in CROP_BOXES])
        return self.cache[i]


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Best correlation of either full frame with the other's crop alignments."""
    return float(max((a @ b[0]).max(), (b @ a[0]).max()))


def all_pairs_candidates(phashes: np.ndarray, threshold: int = HAMMING_THRESHOLD) -> np.ndarray:
    """The reference candidate search: every pair compared (quadratic; tests and benches)."""
    n, k = phashes.shape
    full = phashes[:, 0]
    rows = max(1, _BLOCK_ELEMENTS // max(1, n * k))
    found = [np.zeros((0, 2), dtype=np.int64)]
    for start in range(0, n, rows):
        stop = min(n, start + rows)
        # d[i, j]: block image i's full frame vs every alignment of j, and the other way round
        there = np.bitwise_count(full[start:stop, None, None] ^ phashes[None, :, :]).min(-1)
        back = np.bitwise_count(phashes[start:stop, None, :] ^ full[None, :, None]).min(-1)
        close = np.minimum(there, back) <= threshold
        i, j = np.nonzero(close)
        i = i + start
        keep = i < j
        found.append(np.stack([i[keep], j[keep]], axis=1).astype(np.int64))
    return np.concatenate(found)


def candidate_pairs(phashes: np.ndarray, threshold: int = HAMMING_THRESHOLD) -> np.ndarray:
    """Pairs (i < j) whose full-frame hash is within ``threshold`` of the other's alignments.

    The same pairs as :func:`all_pairs_candidates`, sorted, without comparing all pairs: a
    multi-index hash (:mod:`training.data.doctor.hash_index`) over every alignment.
    """
    from training.data.doctor.hash_index import within

    n, k = phashes.shape
    if n < 2 or threshold < 0:
        return np.zeros((0, 2), dtype=np.int64)
    # Queries: every full frame; entries: every alignment (entry e belongs to image e // k).
    query, entry = within(phashes[:, 0], phashes.ravel(), threshold)
    other = entry // k
    keep = query != other
    lo = np.minimum(query[keep], other[keep])
    hi = np.maximum(query[keep], other[keep])
    codes = np.unique(lo * n + hi)
    return np.stack([codes // n, codes % n], axis=1).astype(np.int64)


def find_groups(
    fps: Sequence[Fingerprint],
    *,
    threshold: int = HAMMING_THRESHOLD,
    min_correlation: float = MIN_CORRELATION,
) -> list[Group]:
    """Every group of two or more fingerprints that are copies of each other."""
    sets = DisjointSet(range(len(fps)))
    first_by_key: dict[str, int] = {}
    for i, fp in enumerate(fps):
        for key in ("b" + fp.sha256, "p" + fp.pixel_sha256):
            if key in first_by_key:
                sets.merge(first_by_key[key], i)
            else:
                first_by_key[key] = i
    if fps:
        thumbs = _Thumbs(fps)
        phashes = np.stack([fp.phashes for fp in fps])
        for i, j in candidate_pairs(phashes, threshold).tolist():
            if sets.connected(i, j):
                continue
            if correlation(thumbs[i], thumbs[j]) >= min_correlation:
                sets.merge(i, j)
    groups = []
    for subset in sets.subsets():
        if len(subset) < 2:
            continue
        members = tuple(sorted(subset))
        if len({fps[i].sha256 for i in members}) == 1:
            kind = "identical_bytes"
        elif len({fps[i].pixel_sha256 for i in members}) == 1:
            kind = "identical_pixels"
        else:
            kind = "near"
        groups.append(Group(members, kind))
    return sorted(groups, key=lambda g: g.members)
