"""The shortcut audit's table: each photo's facts (not its subject) as columns to test.

A column is a :class:`Fact`: one value per photo (NaN where it does not apply, e.g. the
JPEG quality of a PNG), numbers or category codes. Borders become frames and bars, EXIF
hours become night, and each class's typical corner patch becomes a column of how much
every photo's corner looks like it (left out for the photo itself, so a photo never
matches its own patch).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from training.data.doctor.photo_facts import CORNERS, PhotoFacts

MIN_FRAME = 0.015  # a band narrower than this share of its side is no frame
MIN_BAR = 0.04  # letterbox / pillarbox bars cover at least this share of the height / width
BAND_RATIO = 2.5  # the widest side of a frame (or pair of bars) at most this times the narrowest
BAND_COLOUR_SPREAD = 60  # the sides of one frame share a colour (per channel, 0..255)
DARK = 40  # mean grey level under which a photo is "very dark" (night, underexposed)
NIGHT = (21, 6)  # capture hours from, to (camera clock)
NO_CAMERA = "no camera recorded"
QUALITY_STEP = 5  # JPEG qualities are compared to the nearest 5


@dataclass(frozen=True)
class AuditPhoto:
    """One usable photo as the audit sees it."""

    path: str  # relative to the data folder
    label: str
    group: str  # duplicate group key: copies share it (and a fold)
    width: int  # upright pixels
    height: int
    format: str
    facts: PhotoFacts | None  # None when the check was made without them (a features table)


@dataclass(frozen=True)
class Fact:
    """One column: what is measured, and its value for every photo."""

    key: str  # unique: "frame", "corner_pattern:elsa:top-left", ...
    family: str  # what a warning names: frame, bars_tb, bars_lr, format, size, ...
    values: np.ndarray  # float64 per photo; NaN where unknown
    categories: tuple[str, ...] = ()  # a categorical fact: the name of each code
    corner: str = ""  # corner facts: which corner
    owner: str = ""  # corner patterns: the class whose typical patch it is
    extra: dict[str, np.ndarray] = field(default_factory=dict)  # e.g. frame widths in px
    flag: bool = False  # 0/1: the photo has it or not (the rule is always "has it")
    upward: bool = False  # only "more than" rules mean something (more detail: text, a logo)

    @property
    def categorical(self) -> bool:
        return bool(self.categories)


def _colour_close(colours: tuple[tuple[int, int, int], ...]) -> bool:
    array = np.asarray(colours, dtype=np.int16)
    return bool((array.max(axis=0) - array.min(axis=0)).max() <= BAND_COLOUR_SPREAD)


def colour_name(rgb: np.ndarray) -> str:
    """A plain colour word for a frame or bars."""
    low, high = float(np.min(rgb)), float(np.max(rgb))
    if high <= 60:
        return "black"
    if low >= 200:
        return "white"
    return "grey" if high - low <= 30 else "coloured"


def _bars(a: float, b: float, across_a: float, across_b: float) -> bool:
    """Two facing bars of similar width (a, b), and nothing on the other two sides."""
    return (
        min(a, b) >= MIN_BAR
        and max(across_a, across_b) < MIN_FRAME
        and max(a, b) <= BAND_RATIO * min(a, b)
    )


def _borders(p: AuditPhoto) -> tuple[float, float, float, np.ndarray]:
    """(frame width px, letterbox bar px, pillarbox bar px) with 0 for none, and the colour."""
    f = p.facts
    if f is None:
        return np.nan, np.nan, np.nan, np.zeros(3)
    top, right, bottom, left = f.bands
    px = np.array([top * p.height, right * p.width, bottom * p.height, left * p.width])
    frame = letterbox = pillarbox = 0.0
    colour = np.mean(f.band_colours, axis=0)
    if min(f.bands) >= MIN_FRAME and px.max() <= BAND_RATIO * px.min():
        frame = float(px.min()) if _colour_close(f.band_colours) else 0.0
    elif _bars(top, bottom, left, right):
        letterbox = float(min(px[0], px[2]))
        colour = np.mean([f.band_colours[0], f.band_colours[2]], axis=0)
    elif _bars(left, right, top, bottom):
        pillarbox = float(min(px[1], px[3]))
        colour = np.mean([f.band_colours[1], f.band_colours[3]], axis=0)
    return frame, letterbox, pillarbox, colour


def _categorical(key: str, names: list[str]) -> Fact:
    categories = tuple(sorted(set(names)))
    codes = np.array([categories.index(n) for n in names], dtype=np.float64)
    return Fact(key, key, codes, categories)


def _facts_of(photos: list[AuditPhoto], get: object) -> np.ndarray:
    return np.array(
        [np.nan if p.facts is None or get(p.facts) is None else get(p.facts) for p in photos],
        dtype=np.float64,
    )


def _coarse_quality(facts: PhotoFacts) -> float | None:
    """The JPEG quality to the nearest QUALITY_STEP: encoders' tables differ slightly at the
    same setting, and a point or two of quality is nothing a model can see."""
    q = facts.jpeg_quality
    return None if q is None else QUALITY_STEP * round(q / QUALITY_STEP)


def _night(hour: int | None) -> float | None:
    if hour is None:
        return None
    start, end = NIGHT
    return float(hour >= start or hour < end)


def file_facts(photos: list[AuditPhoto]) -> list[Fact]:
    """Format, size, shape, compression, camera, night and darkness."""
    have = any(p.facts is not None for p in photos)
    facts = [
        _categorical("format", [p.format for p in photos]),
        Fact("size", "size", np.array([min(p.width, p.height) for p in photos], np.float64)),
        Fact("aspect", "aspect", np.array([p.width / p.height for p in photos], np.float64)),
    ]
    if not have:
        return facts
    cameras = [NO_CAMERA if p.facts is None else p.facts.camera or NO_CAMERA for p in photos]
    facts += [
        Fact("quality", "quality", _facts_of(photos, _coarse_quality)),
        _categorical("camera", cameras),
        Fact("night", "night", _facts_of(photos, lambda f: _night(f.hour)), flag=True),
        Fact("dark", "dark", _facts_of(photos, lambda f: float(f.brightness < DARK)), flag=True),
    ]
    return facts


def border_facts(photos: list[AuditPhoto]) -> list[Fact]:
    """A frame on all four sides, bars above and below, bars left and right (0/1), with
    their widths in pixels and colours kept for the message."""
    rows = [_borders(p) for p in photos]
    colours = np.array([r[3] for r in rows])
    out = []
    for n, family in enumerate(("frame", "bars_tb", "bars_lr")):
        width = np.array([r[n] for r in rows], np.float64)
        flag = np.where(np.isnan(width), np.nan, (width > 0).astype(np.float64))
        extra = {"width": width, "colour": colours}
        out.append(Fact(family, family, flag, extra=extra, flag=True))
    return out


def corner_facts(photos: list[AuditPhoto], labels: list[str]) -> list[Fact]:
    """Per corner: its detail against the photo's other corners, and, per class, how much
    the corner looks like that class's typical corner (a logo or caption repeats)."""
    if any(p.facts is None for p in photos):
        return []
    detail = np.array([p.facts.corner_detail for p in photos], np.float64)  # type: ignore[union-attr]
    overall = np.array([p.facts.detail for p in photos], np.float64)  # type: ignore[union-attr]
    relative = detail / (overall[:, None] + 1.0)  # against the whole photo's detail
    patterns = np.stack([p.facts.corners for p in photos]).astype(np.float64)  # type: ignore[union-attr]
    patterns = patterns.reshape(len(photos), len(CORNERS), -1)
    own = (patterns**2).sum(axis=2)  # 1, or 0 for a flat corner
    label_of = np.array([p.label for p in photos])
    facts = [
        Fact(f"corner_detail:{name}", "corner_detail", relative[:, k], corner=name, upward=True)
        for k, name in enumerate(CORNERS)
    ]
    for label in labels:
        member = label_of == label
        total = patterns[member].sum(axis=0)  # [corners, d]
        for k, name in enumerate(CORNERS):
            dots = patterns[:, k] @ total[k]
            sq = float(total[k] @ total[k])
            # Members are compared with their class's patch made without them.
            dots_loo = np.where(member, dots - own[:, k], dots)
            norms = np.sqrt(np.maximum(np.where(member, sq - 2 * dots + own[:, k], sq), 1e-12))
            cosine = np.where(own[:, k] > 0, dots_loo / norms, 0.0)
            facts.append(
                Fact(
                    f"corner_pattern:{label}:{name}",
                    "corner_pattern",
                    cosine,
                    corner=name,
                    owner=label,
                )
            )
    return facts


def fact_table(photos: list[AuditPhoto], labels: list[str]) -> list[Fact]:
    """Every column the audit tests."""
    facts = file_facts(photos)
    if any(p.facts is not None for p in photos):
        facts += border_facts(photos) + corner_facts(photos, labels)
    return facts


def classifier_matrix(facts: list[Fact]) -> np.ndarray:
    """The facts as one matrix for the combined classifier: numbers as ranks in 0..1 (no
    unit dominates a distance), categories one-hot, unknown values -1. Corner patterns are
    left out: each is made from one class's photos."""
    columns = []
    for fact in facts:
        if fact.family == "corner_pattern":
            continue
        values = fact.values
        known = ~np.isnan(values)
        if fact.categorical:
            columns += [(values == code).astype(np.float64) for code in range(len(fact.categories))]
            continue
        ranks = np.full(len(values), -1.0)
        if known.any():  # average ranks: ties (a 0/1 fact) share one value
            ordered = np.sort(values[known])
            low = np.searchsorted(ordered, values[known], "left")
            high = np.searchsorted(ordered, values[known], "right") - 1
            ranks[known] = (low + high) / 2 / max(1, known.sum() - 1)
        columns.append(ranks)
    return np.stack(columns, axis=1) if columns else np.zeros((0, 0))
