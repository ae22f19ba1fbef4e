"""Stable, exactly stratified train/val/test assignment of duplicate groups.

Each group's key (the smallest SHA-256 of its files) is hashed to a number u in [0, 1).
Per class, the groups are ranked by u and carved by rank: the first ones go to test,
the next to val, the rest to train, in counts that match the requested fractions to
within one group (largest remainders), so a class's test share is exact. The order is
a pure function of content, so names and file order never matter, and adding photos
moves old ones only across a neighbouring edge of the ranking (test <-> val or
val <-> train), never between train and test unless the additions are several times
the val share and all hash below them. Classes of 3 or more groups always get a group
in val and in test. A class too small to hold out at least ``MIN_HELD_OUT`` groups in
each of val and test is flagged: training then estimates accuracy by k-fold
cross-validation (``cross_validation_folds``).

Groups spanning classes (conflicts) have no class to be stratified in: they take the
split whose band holds u (``by_fraction``).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence

SPLITS = ("train", "val", "test")
MIN_HELD_OUT = 2  # expected groups per class in each of val and test


def parse_split(text: str) -> tuple[float, float, float]:
    """'80/10/10', '0.8,0.1,0.1' or '70 15 15' to fractions summing to 1."""
    parts = [p for p in text.replace(",", "/").replace(" ", "/").split("/") if p]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != 3 or min(values) < 0 or sum(values) <= 0:
        raise ValueError(f"--split {text!r}: give three numbers train/val/test, e.g. 80/10/10")
    return validate_fractions(tuple(v / sum(values) for v in values))  # type: ignore[arg-type]


def validate_fractions(split: Sequence[float]) -> tuple[float, float, float]:
    if len(split) != 3 or min(split) < 0 or sum(split) <= 0:
        raise ValueError(f"split {tuple(split)} needs three non-negative fractions")
    total = float(sum(split))
    train, val, test = (float(v) / total for v in split)
    if train <= 0 or val <= 0 or test <= 0:
        raise ValueError(
            f"split {train:.0%}/{val:.0%}/{test:.0%}: train, val and test all need a share, "
            "e.g. 80/10/10"
        )
    return train, val, test


def unit(key: str) -> float:
    """A group key to a number in [0, 1), uniformly and reproducibly."""
    digest = hashlib.sha256(b"isit-split:" + key.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def by_fraction(u: float, fractions: Mapping[str, float]) -> str:
    """The split whose band holds u; bands in train, val, test order, renormalised."""
    total = sum(fractions.values())
    edge = 0.0
    for name in SPLITS:
        if name in fractions:
            edge += fractions[name] / total
            if u < edge:
                return name
    return [n for n in SPLITS if n in fractions][-1]


CARVE_ORDER = ("test", "val", "train")  # rank order: the smallest u go to test


def split_counts(n: int, fractions: Mapping[str, float]) -> dict[str, int]:
    """Whole counts summing to ``n``, each within one of ``n * share`` (largest
    remainders; ties to the earlier split in CARVE_ORDER); with 3+ groups, val and test
    (when asked for) get at least one, taken from train."""
    names = [name for name in CARVE_ORDER if name in fractions]
    total = sum(fractions[name] for name in names)
    exact = {name: n * fractions[name] / total for name in names}
    counts = {name: math.floor(exact[name]) for name in names}
    by_remainder = sorted(
        names, key=lambda name: (-(exact[name] - counts[name]), names.index(name))
    )
    for name in by_remainder[: n - sum(counts.values())]:
        counts[name] += 1
    for name in ("test", "val"):
        lacking = name in counts and counts[name] == 0 and n >= 3
        if lacking and counts.get("train", 0) > 1:
            counts[name], counts["train"] = 1, counts["train"] - 1
    return counts


def carve_by_rank(keys: Sequence[str], fractions: Mapping[str, float]) -> dict[str, str]:
    """Group key -> split for one class's groups: ranked by u, carved test, val, train."""
    ranked = sorted(keys, key=lambda key: (unit(key), key))
    counts = split_counts(len(ranked), fractions)
    assigned: dict[str, str] = {}
    start = 0
    for name in CARVE_ORDER:
        for key in ranked[start : start + counts.get(name, 0)]:
            assigned[key] = name
        start += counts.get(name, 0)
    return assigned


def min_groups_for_held_out(split: tuple[float, float, float]) -> int:
    """Smallest class size whose expected val and test counts are MIN_HELD_OUT each."""
    return math.ceil(MIN_HELD_OUT / min(split[1], split[2]) - 1e-9)


def guard_empty(
    assigned: dict[str, str],
    units: Mapping[str, float],
    movable: set[str],
    targets: Sequence[str] = ("val", "test"),
) -> None:
    """Per class: fill an empty val or test from the nearest movable group, if one can go.

    ``assigned`` maps group key -> split for one class and is changed in place. A group
    moves only from a split that keeps at least one group.
    """
    for target in targets:
        if any(s == target for s in assigned.values()):
            continue
        counts = {s: sum(1 for v in assigned.values() if v == s) for s in SPLITS}
        # Take from the largest split that can spare one; nearest to the target's band.
        donors = [s for s in ("train", "val", "test") if s != target and counts[s] >= 2]
        if not donors:
            continue
        donor = max(donors, key=lambda s: (counts[s], s == "train"))
        pool = [k for k, s in assigned.items() if s == donor and k in movable]
        if not pool:
            continue
        # The bands run train < val < test, so the donor's largest u is nearest to them.
        nearest = max(pool, key=lambda k: (units[k], k))
        assigned[nearest] = target


def cross_validation_folds(
    keys_by_class: Mapping[str, Sequence[str]], k: int = 5
) -> dict[str, int]:
    """Group key -> fold 0..k-1, stratified: each class's groups dealt round-robin by u."""
    if k < 2:
        raise ValueError("cross-validation needs at least 2 folds")
    folds: dict[str, int] = {}
    for keys in keys_by_class.values():
        for rank, key in enumerate(sorted(keys, key=lambda g: (unit(g), g))):
            folds[key] = rank % k
    return folds


def headline_by_cross_validation(test_per_class: Sequence[int], class_too_small: bool) -> bool:
    """Training's rule for where its numbers come from: cross-validation over every photo
    unless the test split has ``MIN_TEST_PHOTOS`` photos and ``MIN_TEST_PER_CLASS`` of
    each class (see :mod:`training.settings`), or when a class is too small to hold out."""
    from training.settings import MIN_TEST_PER_CLASS, MIN_TEST_PHOTOS

    return (
        class_too_small
        or sum(test_per_class) < MIN_TEST_PHOTOS
        or min(test_per_class, default=0) < MIN_TEST_PER_CLASS
    )
