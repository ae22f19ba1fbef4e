"""Do facts that are not the subject predict the class? The check's shortcut audit.

For every fact of :mod:`training.data.doctor.shortcut_facts` and every class, a one-fact
rule ("has a frame", "is a PNG", "at least 1200 px on the shorter side") is fitted on four
fifths of the photos and applied to the fifth it did not see (five folds, copies always in
one fold). The fact is worth a warning when, on those held-out photos, the share of the
class the rule picks is far above the share of the other classes it picks: the lower end
of the first share's 95% Wilson interval minus the upper end of the second's is at least
``FACT_MARGIN``. Intervals keep small folders quiet (5 of 5 against 0 of 5 is not enough).

A small classifier on all the facts together (nearest neighbours, the same folds) catches
combinations no single fact shows; it warns, when no single fact did, if the lower end of
its accuracy's interval is ``COMBINED_MARGIN`` of the way from the majority rate to 100%.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from training.data.doctor.shortcut_facts import AuditPhoto, Fact, classifier_matrix, fact_table
from training.data.doctor.split import cross_validation_folds
from training.json_types import JsonObject

FACT_MARGIN = 0.5  # Wilson low of the class's share minus Wilson high of the others'
COMBINED_MARGIN = 0.5  # share of the way from the majority rate to 100%, at the Wilson low
FOLDS = 5
MIN_PER_CLASS = 8  # fewer photos in a class: no audit (nothing could be shown anyway)
NEIGHBOURS = 9
MAX_COMBINED = 4000  # photos the combined classifier uses at most (a deterministic sample)
MAX_WARNINGS = 6
Z95 = 1.959964


def wilson(k: float, n: float) -> tuple[float, float]:
    """95% Wilson score interval of k successes in n trials ((0, 1) when n is 0); k may be
    a share times an effective n."""
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + Z95**2 / (2 * n)) / (1 + Z95**2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / (1 + Z95**2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Rule:
    """Which photos a one-fact rule picks: category codes, or values above/below a cut."""

    codes: frozenset[int] | None = None
    threshold: float = 0.0
    above: bool = True

    def flags(self, values: np.ndarray) -> np.ndarray:
        known = ~np.isnan(values)
        if self.codes is not None:
            picked = np.isin(values, sorted(self.codes))
        else:
            with np.errstate(invalid="ignore"):
                picked = values >= self.threshold if self.above else values < self.threshold
        return picked & known


def fit_rule(values: np.ndarray, is_class: np.ndarray, fact: Fact) -> Rule | None:
    """The rule that best separates the class from the others on these photos (largest
    share of the class picked minus share of the others picked); None when it cannot.
    A 0/1 fact's rule is always "has it": the class that has it is the one warned about."""
    if fact.flag:
        return Rule(threshold=0.5, above=True)
    categorical = fact.categorical
    known = ~np.isnan(values)
    v, c = values[known], is_class[known]
    n_c, n_o = int(c.sum()), int((~c).sum())
    if n_c == 0 or n_o == 0:
        return None
    if categorical:
        codes = np.unique(v)
        share_c = np.array([np.sum(c & (v == k)) for k in codes]) / n_c
        share_o = np.array([np.sum(~c & (v == k)) for k in codes]) / n_o
        picked = frozenset(int(k) for k in codes[share_c > share_o])
        return Rule(codes=picked) if picked else None
    order = np.argsort(v, kind="stable")
    v, c = v[order], c[order]
    starts = np.flatnonzero(np.r_[True, v[1:] != v[:-1]])[1:]  # first index of each new value
    if not len(starts):
        return None
    below_c = np.cumsum(c)[starts - 1]
    below_o = np.cumsum(~c)[starts - 1]
    diff = (n_c - below_c) / n_c - (n_o - below_o) / n_o  # picking values >= the cut
    cuts = (v[starts - 1] + v[starts]) / 2
    best_up, best_down = int(np.argmax(diff)), int(np.argmin(diff))
    if fact.upward or diff[best_up] >= -diff[best_down]:
        return Rule(threshold=float(cuts[best_up]), above=True)
    return Rule(threshold=float(cuts[best_down]), above=False)


@dataclass(frozen=True)
class Separation:
    """How well one rule picks one class, on photos it was not fitted on. Shares are of
    files; their intervals count each group of copies once (a burst of 40 near-copies is
    one photo's worth of evidence)."""

    picked: int  # photos of the class the rule picked
    of: int  # photos of the class where the fact is known
    others_picked: int
    others_of: int
    groups: int = 0  # distinct duplicate groups among ``of`` (0: as many as photos)
    others_groups: int = 0

    @property
    def share(self) -> float:
        return self.picked / self.of if self.of else 0.0

    @property
    def others_share(self) -> float:
        return self.others_picked / self.others_of if self.others_of else 0.0

    @property
    def strength(self) -> float:
        """Wilson low of the class's share minus Wilson high of the others' share."""
        n, m = self.groups or self.of, self.others_groups or self.others_of
        return wilson(self.share * n, n)[0] - wilson(self.others_share * m, m)[1]

    @property
    def balanced_accuracy(self) -> float:
        return (self.share + 1 - self.others_share) / 2


def _separation(
    flags: np.ndarray, is_class: np.ndarray, known: np.ndarray, groups: np.ndarray
) -> Separation:
    mine, others = known & is_class, known & ~is_class
    return Separation(
        int((flags & is_class).sum()),
        int(mine.sum()),
        int((flags & ~is_class).sum()),
        int(others.sum()),
        len(np.unique(groups[mine])),
        len(np.unique(groups[others])),
    )


def held_out_separation(
    fact: Fact, is_class: np.ndarray, folds: np.ndarray, groups: np.ndarray
) -> Separation:
    """The rule fitted without each fold, judged on that fold."""
    flags = np.zeros(len(is_class), dtype=bool)
    for fold in np.unique(folds):
        test = folds == fold
        rule = fit_rule(fact.values[~test], is_class[~test], fact)
        if rule is not None:
            flags[test] = rule.flags(fact.values[test])
    return _separation(flags, is_class, ~np.isnan(fact.values), groups)


@dataclass(frozen=True)
class Finding:
    """A fact that tells one class apart, with its rule (fitted on every photo)."""

    fact: Fact
    label: str
    rule: Rule
    held_out: Separation
    flags: np.ndarray  # which photos the rule picks


def _classes_to_test(fact: Fact, labels: Sequence[str]) -> Sequence[str]:
    return [fact.owner] if fact.owner else labels


def best_finding(
    fact: Fact, label_of: np.ndarray, labels: Sequence[str], folds: np.ndarray, groups: np.ndarray
) -> Finding | None:
    """The class this fact separates best, if any clears ``FACT_MARGIN`` held out."""
    best: Finding | None = None
    known = ~np.isnan(fact.values)
    for label in _classes_to_test(fact, labels):
        is_class = label_of == label
        rule = fit_rule(fact.values, is_class, fact)
        if rule is None:
            continue
        flags = rule.flags(fact.values)
        # On every photo the fit is at its most flattering: below the margin there, it
        # cannot clear it held out, so the folds are skipped.
        if _separation(flags, is_class, known, groups).strength < FACT_MARGIN:
            continue
        held = held_out_separation(fact, is_class, folds, groups)
        if held.strength >= FACT_MARGIN and (
            best is None or held.strength > best.held_out.strength
        ):
            best = Finding(fact, label, rule, held, flags)
    return best


@dataclass(frozen=True)
class Combined:
    """The nearest-neighbour classifier on all facts, held out."""

    right: int
    n: int
    majority: float  # share of the largest class
    groups: int = 0  # distinct duplicate groups among the n photos (0: as many as photos)

    @property
    def interval(self) -> tuple[float, float]:
        n = self.groups or self.n
        return wilson(self.accuracy * n, n)

    @property
    def accuracy(self) -> float:
        return self.right / self.n if self.n else 0.0

    @property
    def warns(self) -> bool:
        return self.interval[0] >= self.majority + COMBINED_MARGIN * (1 - self.majority)

    def to_json(self) -> JsonObject:
        low, high = self.interval
        return {
            "accuracy": round(self.accuracy, 4),
            "low": round(low, 4),
            "high": round(high, 4),
            "n": self.n,
            "majority": round(self.majority, 4),
            "warns": self.warns,
        }


def combined_classifier(
    matrix: np.ndarray, y: np.ndarray, folds: np.ndarray, groups: np.ndarray
) -> Combined:
    """Held-out accuracy of a k-nearest-neighbour vote on the fact matrix."""
    n = len(y)
    keep = np.arange(n)
    if n > MAX_COMBINED:
        keep = np.linspace(0, n - 1, MAX_COMBINED).astype(int)
    x, y, folds, groups = matrix[keep], y[keep], folds[keep], groups[keep]
    right = 0
    classes = int(y.max()) + 1
    for fold in np.unique(folds):
        test, train = folds == fold, folds != fold
        if not train.any():
            continue
        a, b = x[test], x[train]
        dist = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
        k = min(NEIGHBOURS, int(train.sum()))
        near = np.argpartition(dist, k - 1, axis=1)[:, :k]
        votes = np.zeros((len(a), classes))
        np.add.at(votes, (np.repeat(np.arange(len(a)), k), y[train][near].ravel()), 1.0)
        right += int((votes.argmax(axis=1) == y[test]).sum())
    majority = np.bincount(y).max() / len(y)
    return Combined(right, len(y), float(majority), len(np.unique(groups)))


@dataclass(frozen=True)
class ShortcutWarning:
    """A fact that is not the subject and predicts a class, in words and numbers."""

    fact: str  # family: frame, bars_tb, bars_lr, format, size, aspect, quality, camera, ...
    label: str  # the class it points to ("" for the combined classifier)
    message: str  # plain words, with what to do
    shares: dict[str, tuple[int, int]]  # class -> (photos with it, photos where known)
    held_out_accuracy: float  # balanced accuracy of the rule (or the classifier) held out
    examples: dict[str, list[str]] = field(default_factory=dict)  # class -> a few paths
    root: Any = None  # the data folder (a Path) the example paths are relative to

    def to_json(self) -> JsonObject:
        from isit.display import display_path

        return {
            "fact": self.fact,
            "class": display_path(self.label),
            "message": display_path(self.message),
            "shares": {display_path(k): {"with": a, "of": n} for k, (a, n) in self.shares.items()},
            "held_out_accuracy": round(self.held_out_accuracy, 4),
            "examples": {
                display_path(k): [display_path(p) for p in v] for k, v in self.examples.items()
            },
        }


@dataclass(frozen=True)
class ShortcutAudit:
    """The audit's result: its warnings, and the numbers behind its silence too."""

    warnings: list[ShortcutWarning]
    combined: Combined | None
    photos: int
    seconds: float = 0.0
    skipped: str = ""  # why the audit did not run, when it did not

    def to_json(self) -> JsonObject:
        return {
            "warnings": [w.to_json() for w in self.warnings],
            "combined_classifier": self.combined.to_json() if self.combined else None,
            "photos": self.photos,
            "seconds": round(self.seconds, 3),
            "skipped": self.skipped,
        }


def photo_folds(photos: Sequence[AuditPhoto], k: int = FOLDS) -> np.ndarray:
    """Each photo's fold: stratified by class, copies (one group) in one fold."""
    keys: dict[str, list[str]] = {}
    for p in photos:
        keys.setdefault(p.label, []).append(p.group)
    fold_of = cross_validation_folds({label: sorted(set(g)) for label, g in keys.items()}, k)
    return np.array([fold_of[p.group] for p in photos])


BORDERS = ("frame", "bars_tb", "bars_lr")
CORNER_FACTS = ("corner_pattern", "corner_detail")


def _one_per_cause(ranked: list[Finding]) -> list[Finding]:
    """One corner warning per class, and none when a frame or bars tell classes apart: they
    change every class's corners against the others' (what the check re-run after removing
    them would still find is worth its own warning then)."""
    bordered = any(f.fact.family in BORDERS for f in ranked)
    cornered: set[str] = set()
    kept = []
    for finding in ranked:
        if finding.fact.family in CORNER_FACTS:
            if bordered or finding.label in cornered:
                continue
            cornered.add(finding.label)
        kept.append(finding)
    return kept


def audit_shortcuts(photos: Sequence[AuditPhoto]) -> ShortcutAudit:
    """Test every fact of ``photos`` (every usable file; copies share a group)."""
    import time

    from training.data.doctor.shortcut_words import combined_warning, finding_warning

    started = time.perf_counter()
    photos = list(photos)
    labels = sorted({p.label for p in photos})
    groups_of = {label: {p.group for p in photos if p.label == label} for label in labels}
    if len(labels) < 2 or min(len(g) for g in groups_of.values()) < MIN_PER_CLASS:
        why = f"needs 2 classes of at least {MIN_PER_CLASS} distinct photos"
        return ShortcutAudit([], None, len(photos), time.perf_counter() - started, why)
    label_of = np.array([p.label for p in photos])
    groups = np.unique([p.group for p in photos], return_inverse=True)[1]
    folds = photo_folds(photos)
    facts = fact_table(photos, labels)
    best: dict[str, Finding] = {}  # the strongest finding of each family
    for fact in facts:
        found = best_finding(fact, label_of, labels, folds, groups)
        kept = best.get(fact.family)
        if found and (kept is None or found.held_out.strength > kept.held_out.strength):
            best[fact.family] = found
    ranked = _one_per_cause(sorted(best.values(), key=lambda f: -f.held_out.strength))
    ranked = ranked[:MAX_WARNINGS]
    warnings = [finding_warning(f, photos, labels) for f in ranked]
    y = np.searchsorted(labels, label_of)
    combined = combined_classifier(classifier_matrix(facts), y, folds, groups)
    if not warnings and combined.warns:
        warnings.append(combined_warning(combined, facts, photos, labels, label_of))
    return ShortcutAudit(warnings, combined, len(photos), time.perf_counter() - started)
