"""Backbone features computed once per image and kept on disk.

Why: the backbone is frozen, so an image's features never change for a given backbone
and preprocessing. Re-training with other settings (epochs, seed, hidden layer, ...)
then costs no backbone pass at all.

Key: sha256 of the file bytes + backbone name + weights sha256 + preprocessing spec
(+ the augmentation view index; view 0 is the un-augmented image). Features are computed
with :class:`isit.feature_extractor.FeatureExtractor`, so the pixels go through the core's
decoding and resize rule, exactly as when the Function serves the model.

Trust (issue 26): a file is read once to compute its features, and those bytes are hashed
too; features are stored under the hash of the bytes actually decoded, never under the
hash the dataset check saw earlier (the photo may have been replaced since). A photo that
changed is reported (:class:`PhotosChanged`). Each entry carries the content hash and view
it was computed from, and an entry that does not match its name is discarded.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import struct
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance
from tqdm import tqdm

from isit.errors import ImageError, IsitError
from isit.feature_extractor import FeatureExtractor
from isit.imaging import decode, normalize, read_image_bytes, to_pixels
from training import settings
from training.atomic import atomic_write_with
from training.workers import map_fits, worker_count

# Bump when the augmentation recipe changes: old augmented views are then not reused.
AUGMENT_VERSION = 1
# An entry file: MAGIC, the 32-byte sha256 of the image bytes, view and dimension (uint32
# little-endian), then the float32 features. Bumping MAGIC's digits orphans old entries.
MAGIC = b"ISITF002"
HEADER = struct.Struct("<8s32sII")
CHANGED_LISTED = 3


class PhotosChanged(IsitError):
    """Files whose bytes are no longer those the dataset check hashed."""

    code = "photos_changed"

    def __init__(self, paths: Sequence[str]) -> None:
        shown = ", ".join(paths[:CHANGED_LISTED])
        more = f" and {len(paths) - CHANGED_LISTED} more" if len(paths) > CHANGED_LISTED else ""
        super().__init__(
            f"{len(paths)} photo(s) changed while training ({shown}{more}); their old "
            "features were not used. Leave the folder alone while it runs, and re-run."
        )
        self.paths = tuple(paths)


def encode_entry(sha256: str, view: int, vector: np.ndarray) -> bytes:
    """The bytes of one cache entry: what it was computed from, then the features."""
    data = np.ascontiguousarray(vector, dtype="<f4")
    return HEADER.pack(MAGIC, bytes.fromhex(sha256), view, data.size) + data.tobytes()


def decode_entry(raw: bytes, sha256: str, view: int, dim: int) -> np.ndarray | None:
    """The features in ``raw`` if it is a whole entry computed from (``sha256``, ``view``)."""
    if len(raw) != HEADER.size + 4 * dim:
        return None  # half-written, another backbone, or another format
    magic, digest, stored_view, stored_dim = HEADER.unpack_from(raw)
    if magic != MAGIC or digest.hex() != sha256 or stored_view != view or stored_dim != dim:
        return None
    return np.frombuffer(raw, dtype="<f4", offset=HEADER.size).astype(np.float32)


def cache_key(extractor: FeatureExtractor) -> str:
    """The cache folder's name for a backbone: its name, weights and preprocessing."""
    backbone = extractor.metadata.backbone
    tag = json.dumps(
        {
            "backbone": backbone.name,
            "weights_sha256": backbone.weights_sha256,
            "preprocess": extractor.spec.to_dict(),
        },
        sort_keys=True,
    )
    return f"{backbone.name}-{hashlib.sha256(tag.encode()).hexdigest()[:16]}"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Entry:
    """One image view to featurise: the file's sha256, where its bytes are, which view."""

    sha256: str
    source: Path | bytes
    view: int = 0  # 0 = the image itself; k >= 1 = the k-th augmented view

    def read(self) -> bytes:
        return self.source if isinstance(self.source, bytes) else read_image_bytes(self.source)

    def name(self) -> str:
        return "<bytes>" if isinstance(self.source, bytes) else str(self.source)


def augment(img: Image.Image, sha256: str, view: int) -> Image.Image:
    """The ``view``-th augmented copy: random crop, flip, small colour/brightness changes.

    Seeded by (file hash, view), so a cached view is always the same picture.
    """
    seed = int(sha256[:12], 16) * 1009 + view * 7919 + AUGMENT_VERSION
    rng = np.random.default_rng(seed)
    width, height = img.size
    area = width * height * rng.uniform(0.6, 1.0)
    aspect = float(np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3))))
    crop_w = int(min(width, round(np.sqrt(area * aspect))))
    crop_h = int(min(height, round(np.sqrt(area / aspect))))
    left = int(rng.integers(0, width - crop_w + 1))
    top = int(rng.integers(0, height - crop_h + 1))
    out = img.crop((left, top, left + crop_w, top + crop_h))
    if rng.random() < 0.5:
        out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    out = ImageEnhance.Brightness(out).enhance(rng.uniform(0.85, 1.15))
    out = ImageEnhance.Contrast(out).enhance(rng.uniform(0.85, 1.15))
    return ImageEnhance.Color(out).enhance(rng.uniform(0.85, 1.15))


# Photos per task of the forked feature workers: few enough that both stay busy to the end.
WORKER_CHUNK = 16
_worker_extractors: dict[Path, FeatureExtractor] = {}  # in a forked worker: its own sessions


def _worker_extractor(path: Path) -> FeatureExtractor:
    """The backbone session of this worker process (one thread: the other worker has
    the other core), opened on its first task."""
    if path not in _worker_extractors:
        _worker_extractors[path] = FeatureExtractor(path, 1)
    return _worker_extractors[path]


class FeatureCache:
    """Features of image views for one backbone, from disk when known, else computed."""

    def __init__(
        self,
        extractor: FeatureExtractor,
        root: str | os.PathLike[str] | None = None,
        *,
        batch_size: int = settings.BACKBONE_BATCH,
        progress: bool | None = None,
        preset: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        self.extractor = extractor
        # sha256 -> features of the un-augmented image, computed elsewhere (the features
        # table: training.data.features_table.feature_preset); consulted before the disk cache.
        self.preset = preset or {}
        self.spec = extractor.spec
        self.key = cache_key(extractor)
        self.dir = Path(root) if root is not None else settings.cache_root() / "features" / self.key
        self.batch_size = batch_size
        # None: a progress bar only when a person watches (stderr is a terminal).
        self.progress = sys.stderr.isatty() if progress is None else progress
        self.hits = 0  # views read from disk
        self.computed = 0  # views run through the backbone
        self.discarded = 0  # entries found not to match their name (never used)
        self.writable = True  # False after a failed write: the cache is only an optimisation

    def _path(self, entry: Entry) -> Path:
        suffix = "" if entry.view == 0 else f".aug{AUGMENT_VERSION}-{entry.view}"
        return self.dir / entry.sha256[:2] / f"{entry.sha256}{suffix}.feat"

    def _load(self, entry: Entry) -> np.ndarray | None:
        vector = self.preset.get(entry.sha256) if entry.view == 0 else None
        if vector is not None and vector.shape == (self.extractor.feature_dim,):
            return vector
        path = self._path(entry)
        try:
            raw = path.read_bytes()
        except OSError:  # missing, or the cache cannot be read: computed again
            return None
        vector = decode_entry(raw, entry.sha256, entry.view, self.extractor.feature_dim)
        if vector is None:  # computed from something else, or half-written: never used
            self.discarded += 1
            with contextlib.suppress(OSError):
                path.unlink()
        return vector

    def holds(self, entry: Entry) -> bool:
        """Whether ``entry``'s features are known (in the preset or on disk)."""
        return (entry.view == 0 and entry.sha256 in self.preset) or self._path(entry).is_file()

    def _store(self, entry: Entry, vector: np.ndarray) -> None:
        # Atomic: a concurrent or interrupted run never sees half a file. Not fsynced: a
        # cache entry lost in a power cut is just computed again.
        if not self.writable:
            return
        payload = encode_entry(entry.sha256, entry.view, vector)
        try:
            atomic_write_with(self._path(entry), lambda h: h.write(payload), sync=False)
        except OSError as exc:  # full disk, read-only, a file in the way: go on without
            self.writable = False
            print(
                f"warning: cannot write the feature cache in {self.dir} "
                f"({exc.strerror or exc}); going on without it. Free some space there, or "
                f"set {settings.CACHE_ENV} to a writable folder.",
                file=sys.stderr,
                flush=True,
            )

    def _pixels(self, entry: Entry) -> tuple[np.ndarray | None, str | None]:
        """Decode + (augment) + the core's resize rule + normalisation, and the sha256 of
        the very bytes decoded; ``(None, None)`` when the file is gone or unreadable now."""
        try:
            data = entry.read()
            sha256 = sha256_bytes(data)
            # Augmented crops need the full-resolution image; view 0 may use JPEG draft mode.
            decoded = decode(data, min_side=self.spec.size if entry.view == 0 else 0)
        except (OSError, ImageError):  # it was readable when checked: it changed since
            return None, None
        img = decoded.image if entry.view == 0 else augment(decoded.image, sha256, entry.view)
        return normalize(to_pixels(img, self.spec), self.spec), sha256

    def _batches(
        self, entries: Sequence[Entry], pool: ThreadPoolExecutor
    ) -> Iterator[list[tuple[int, np.ndarray | None, str | None]]]:
        """Decoded batches of (index, pixels, sha256 of the bytes decoded), the next one
        decoding (in threads) while the current one runs."""
        chunks = [
            list(range(i, min(i + self.batch_size, len(entries))))
            for i in range(0, len(entries), self.batch_size)
        ]
        Decoded = Future[tuple[np.ndarray | None, str | None]]

        def submit(chunk: list[int]) -> list[Decoded]:
            return [pool.submit(self._pixels, entries[i]) for i in chunk]

        pending = submit(chunks[0]) if chunks else []
        for n, chunk in enumerate(chunks):
            current = pending
            pending = submit(chunks[n + 1]) if n + 1 < len(chunks) else []
            yield [(i, *f.result()) for i, f in zip(chunk, current, strict=True)]

    def _compute(
        self, todo: Sequence[Entry], bar: tqdm, meanwhile: Callable[[], object] | None = None
    ) -> tuple[np.ndarray, list[str]]:
        """Features of ``todo``, stored under the hash of the bytes decoded, and the
        files whose bytes no longer have the hash they were listed with. On forked
        workers when there are cores for two (each decodes and runs its own one-thread
        session: faster than one session's two threads beside two decoding threads,
        bench/bench_retrain.py), else here."""
        chunks = [todo[i : i + WORKER_CHUNK] for i in range(0, len(todo), WORKER_CHUNK)]
        if worker_count(len(chunks)) < 2:
            if meanwhile is not None:
                meanwhile()
            return self._compute_here(todo, bar)
        out = np.zeros((len(todo), self.extractor.feature_dim), dtype=np.float32)
        changed: list[str] = []
        arrived = itertools.count()

        def keep_chunk(answer: tuple[np.ndarray, list[str | None]]) -> None:
            # Stored as each chunk arrives: a run stopped midway keeps what was computed.
            k, (vectors, hashes) = next(arrived), answer
            for i, (vector, sha) in enumerate(zip(vectors, hashes, strict=True)):
                j = k * WORKER_CHUNK + i
                changed.extend(self._keep(todo[j], sha, vector, out, j))
            bar.update(len(hashes))

        map_fits(partial(self._chunk_features, chunks), len(chunks), on_done=keep_chunk,
                 meanwhile=meanwhile)  # fmt: skip
        return out, changed

    def _chunk_features(
        self, chunks: Sequence[Sequence[Entry]], k: int
    ) -> tuple[np.ndarray, list[str | None]]:
        """A forked worker's task: chunk ``k``'s features (zeros where unreadable) and
        the sha256 of the bytes each decoded (None: unreadable now)."""
        extractor = _worker_extractor(self.extractor.path)
        found = [self._pixels(entry) for entry in chunks[k]]
        ready = [i for i, (pixels, _) in enumerate(found) if pixels is not None]
        vectors = np.zeros((len(found), extractor.feature_dim), dtype=np.float32)
        for lo in range(0, len(ready), self.batch_size):
            rows = ready[lo : lo + self.batch_size]
            vectors[rows] = extractor.run(np.stack([found[i][0] for i in rows]))
        return vectors, [sha for _, sha in found]

    def _keep(
        self, entry: Entry, sha: str | None, vector: np.ndarray, out: np.ndarray, j: int
    ) -> list[str]:
        """Store a computed vector under the hash of the bytes decoded (the right key
        even if the file changed) and put it in ``out[j]``; the entry's name when its
        bytes changed or could not be read."""
        if sha is None:
            return [entry.name()]
        self._store(Entry(sha, entry.source, entry.view), vector)
        if sha != entry.sha256:
            return [entry.name()]
        out[j] = vector
        return []

    def _compute_here(self, todo: Sequence[Entry], bar: tqdm) -> tuple[np.ndarray, list[str]]:
        """:meth:`_compute` in this process: two threads decode the next photos while
        the backbone runs on the current ones."""
        out = np.zeros((len(todo), self.extractor.feature_dim), dtype=np.float32)
        changed: list[str] = []
        with ThreadPoolExecutor(max_workers=2) as pool:
            for batch in self._batches(todo, pool):
                changed += [todo[j].name() for j, pixels, _ in batch if pixels is None]
                ready = [(j, pixels, sha) for j, pixels, sha in batch if pixels is not None]
                if ready:
                    features = self.extractor.run(np.stack([p for _, p, _ in ready]))
                    for (j, _, sha), vector in zip(ready, features, strict=True):
                        changed += self._keep(todo[j], sha, vector, out, j)
                bar.update(len(batch))
        return out, changed

    def get(
        self,
        entries: Sequence[Entry],
        desc: str = "features",
        meanwhile: Callable[[], object] | None = None,
    ) -> np.ndarray:
        """``len(entries) x D`` float32 features, computing (and storing) only what is new;
        ``meanwhile()`` is called once, here, while workers compute (else first)."""
        out = np.zeros((len(entries), self.extractor.feature_dim), dtype=np.float32)
        missing: list[int] = []
        for i, entry in enumerate(entries):
            vector = self._load(entry)
            if vector is None:
                missing.append(i)
            else:
                out[i] = vector
        self.hits += len(entries) - len(missing)
        if not missing:
            if meanwhile is not None:
                meanwhile()
            return out
        todo = [entries[i] for i in missing]
        bar = tqdm(
            total=len(todo),
            desc=f"{desc} ({len(entries) - len(missing)} cached)",
            unit="img",
            file=sys.stderr,
            disable=not self.progress,
            leave=False,
        )
        with bar:
            computed, changed = self._compute(todo, bar, meanwhile)
        if changed:
            raise PhotosChanged(sorted(set(changed)))
        out[missing] = computed
        self.computed += len(todo)
        return out
