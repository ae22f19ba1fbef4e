"""``isit compare``: two runs (or two models on one folder), photo by photo.

Photos are matched by content (SHA-256), so a renamed or moved file is still the same
photo. On the photos **both** runs held out **under the same label**, each run's outcomes
(right / wrong / not sure, with 95% intervals) and a paired test: McNemar's exact test
(a two-sided binomial test on the photos only one of the two got right; scipy), the test
for two classifiers judged on the same photos. Photos whose label differs between the
runs (moved to another class folder) are listed on their own: their outcomes are not
comparable, and they are usually the change that was made.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from training.evaluation.proportions import Proportion, proportion
from training.loop.run_photos import PhotoRow, data_fingerprint

SIGNIFICANCE = 0.05  # the level at which a difference is called more than noise


@dataclass(frozen=True)
class Side:
    name: str
    rows: int  # photos the run used
    held_out: int
    fingerprint: str


@dataclass(frozen=True)
class Paired:
    """One photo both runs held out."""

    a: PhotoRow
    b: PhotoRow

    @property
    def relabelled(self) -> bool:
        return self.a.label != self.b.label


@dataclass(frozen=True)
class RunOutcomes:
    right: Proportion
    wrong: int
    not_sure: int


@dataclass(frozen=True)
class Comparison:
    a: Side
    b: Side
    added: int  # photos (by content) only B used
    removed: int  # only A used
    relabelled: list[Paired]  # used by both under other labels (held out or not)
    same: list[Paired]  # held out by both, same label: the fair comparison
    only_a_right: int  # of ``same``: right in A, not in B
    only_b_right: int
    p_value: float  # McNemar's exact test on the two counts above

    @property
    def answer_changed(self) -> list[Paired]:
        return [p for p in self.same if p.a.answer != p.b.answer or p.a.outcome != p.b.outcome]

    def outcomes(self, side: str) -> RunOutcomes:
        rows = [getattr(p, side) for p in self.same]
        right = sum(r.outcome == "right" for r in rows)
        return RunOutcomes(
            proportion(right, len(rows)),
            sum(r.outcome == "wrong" for r in rows),
            sum(r.outcome == "not sure" for r in rows),
        )

    @property
    def beyond_noise(self) -> bool:
        return self.p_value < SIGNIFICANCE

    def verdict(self) -> str:
        b, c = self.only_a_right, self.only_b_right
        if not self.same:
            return "No photo was held out by both runs under the same label: nothing to compare."
        if b == c == 0:
            return "Both got exactly the same photos right: no difference."
        better = self.b.name if c > b else self.a.name
        what = (
            f"{self.b.name} got {c} photos right that {self.a.name} did not, and "
            f"{self.a.name} {b} that {self.b.name} did not (McNemar exact p = {self.p_value:.3g})"
        )
        if self.beyond_noise:
            return f"{what}: {better} is better, more than noise."
        return f"{what}: a difference this size is within noise."


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided p-value of McNemar's exact test from the discordant pair counts."""
    from scipy.stats import binomtest

    n = only_a + only_b
    return 1.0 if n == 0 else float(binomtest(min(only_a, only_b), n, 0.5).pvalue)


def _by_content(rows: Sequence[PhotoRow]) -> dict[str, PhotoRow]:
    out: dict[str, PhotoRow] = {}
    for row in rows:
        if row.sha256:
            out.setdefault(row.sha256, row)
    return out


def compare_rows(
    name_a: str, rows_a: Sequence[PhotoRow], name_b: str, rows_b: Sequence[PhotoRow]
) -> Comparison:
    """Match two runs' photos by content and compare them."""
    a, b = _by_content(rows_a), _by_content(rows_b)
    both = [Paired(a[h], b[h]) for h in sorted(a.keys() & b.keys(), key=lambda h: a[h].path)]
    same = [p for p in both if not p.relabelled and p.a.held_out and p.b.held_out]
    only_a = sum(p.a.right and not p.b.right for p in same)
    only_b = sum(p.b.right and not p.a.right for p in same)
    return Comparison(
        a=Side(name_a, len(a), sum(r.held_out for r in a.values()), data_fingerprint(rows_a)),
        b=Side(name_b, len(b), sum(r.held_out for r in b.values()), data_fingerprint(rows_b)),
        added=len(b.keys() - a.keys()),
        removed=len(a.keys() - b.keys()),
        relabelled=[p for p in both if p.relabelled],
        same=same,
        only_a_right=only_a,
        only_b_right=only_b,
        p_value=mcnemar_exact(only_a, only_b),
    )
