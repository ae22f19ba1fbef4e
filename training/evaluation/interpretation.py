"""One object for "what did the model say about these labelled photos?".

Built from the truths, probabilities, unknown scores and answers of held-out photos
(a test split, out-of-fold predictions, or a user's evaluation folder), like fastai's
``Interpretation``. ``train`` and ``evaluate`` both build one; metrics.json's
``outcomes`` and ``best_guess`` blocks and the report's galleries come from its methods,
so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.evaluation.classification import best_guess
from training.evaluation.metrics import BestGuess
from training.evaluation.proportions import Proportion, proportion
from training.json_types import JsonObject

GALLERY_SIZE = 10


@dataclass(frozen=True)
class Interpretation:
    labels: tuple[str, ...]
    y_true: np.ndarray  # [N] class index
    probabilities: np.ndarray  # [N, C]
    ood: np.ndarray  # [N] unknown score
    unknown: np.ndarray  # [N] bool: answered "unknown"
    names: tuple[str, ...]  # what the user calls each photo (relative path)
    sources: tuple[Path | bytes, ...]  # where its picture is
    uncertain: np.ndarray  # [N] bool: the top two classes are close (a hesitant answer)

    def __post_init__(self) -> None:
        n = len(self.y_true)
        sizes = {len(self.probabilities), len(self.ood), len(self.unknown), len(self.names)}
        sizes |= {len(self.uncertain)}
        if sizes | {len(self.sources)} != {n}:
            raise ValueError("Interpretation: every per-photo array needs one entry per photo")

    @classmethod
    def of(
        cls,
        labels: Sequence[str],
        y_true: np.ndarray,
        probabilities: np.ndarray,
        ood: np.ndarray,
        unknown: np.ndarray,
        names: Sequence[str],
        sources: Sequence[Path | bytes],
        uncertain: Sequence[bool] | np.ndarray | None = None,
    ) -> Interpretation:
        """Build one from any sequences (copied into arrays/tuples); ``uncertain`` defaults
        to none."""
        n_classes = len(labels)
        n = len(y_true)
        return cls(
            labels=tuple(labels),
            y_true=np.asarray(y_true, dtype=np.int64),
            probabilities=np.asarray(probabilities, dtype=np.float32).reshape(-1, n_classes),
            ood=np.asarray(ood, dtype=np.float32),
            unknown=np.asarray(unknown, dtype=bool),
            names=tuple(names),
            sources=tuple(sources),
            uncertain=np.zeros(n, bool) if uncertain is None else np.asarray(uncertain, bool),
        )

    @property
    def n(self) -> int:
        return len(self.y_true)

    @property
    def predicted(self) -> np.ndarray:
        """The best guess per photo (class index)."""
        return self.probabilities.argmax(axis=1) if self.n else np.zeros(0, np.int64)

    @property
    def confidence(self) -> np.ndarray:
        return self.probabilities.max(axis=1) if self.n else np.zeros(0, np.float32)

    @property
    def correct(self) -> np.ndarray:
        return self.predicted == self.y_true

    def best_guess(self) -> BestGuess:
        """The best guess's figures (accuracy, per class, confusion, ECE)."""
        return best_guess(self.y_true, self.probabilities, self.labels)

    def outcomes(self, negative_idx: Sequence[int]) -> Outcomes:
        """Right / wrong / not sure, as the user would have seen the answers."""
        return count_outcomes(self, negative_idx)

    def acceptance(self, negative_idx: Sequence[int]) -> Proportion:
        """Photos of real classes (not ``other``) not answered unknown, of how many."""
        positive = ~np.isin(self.y_true, list(negative_idx))
        return proportion(int((~self.unknown[positive]).sum()), int(positive.sum()))

    def answer(self, i: int) -> str:
        """What the user is told for photo ``i``: a label or "unknown"."""
        return "unknown" if self.unknown[i] else self.labels[int(self.predicted[i])]

    def most_confidently_wrong(self, k: int = GALLERY_SIZE) -> list[int]:
        wrong = np.flatnonzero(~self.correct)
        return [int(i) for i in wrong[np.argsort(-self.confidence[wrong], kind="stable")][:k]]

    def least_confident_right(self, k: int = GALLERY_SIZE) -> list[int]:
        right = np.flatnonzero(self.correct)
        return [int(i) for i in right[np.argsort(self.confidence[right], kind="stable")][:k]]

    def top_by_class(self, c: int, k: int = GALLERY_SIZE) -> list[int]:
        """The photos scored highest for class ``c``."""
        order = np.argsort(-self.probabilities[:, c], kind="stable") if self.n else []
        return [int(i) for i in order[:k]]

    def bottom_by_class(self, c: int, k: int = GALLERY_SIZE) -> list[int]:
        """The photos scored lowest for class ``c``."""
        order = np.argsort(-self.probabilities[:, c], kind="stable") if self.n else []
        return [int(i) for i in list(order[::-1][:k])]


@dataclass(frozen=True)
class Outcomes:
    """Each photo as the user sees it: right, wrong, or "not sure" (answered unknown).

    A photo of a real class answered "unknown" is *not sure*; one of a negatives class
    (``other/``) is *right* when answered unknown and *wrong* when given a real class.
    ``uncertain`` answers (top two classes close) still count as right or wrong, and are
    counted again on their own.
    """

    n: int
    right: int
    wrong: int
    not_sure: int
    uncertain: int
    uncertain_right_n: int  # of the uncertain answers, those right

    @property
    def answered(self) -> int:
        return self.right + self.wrong

    @property
    def coverage(self) -> Proportion:
        """Photos answered (not "not sure")."""
        return proportion(self.answered, self.n)

    @property
    def right_when_answered(self) -> Proportion:
        return proportion(self.right, self.answered)

    @property
    def right_overall(self) -> Proportion:
        return proportion(self.right, self.n)

    @property
    def uncertain_right(self) -> Proportion:
        return proportion(self.uncertain_right_n, self.uncertain)

    def headline(self, strong: Callable[[str], str] = str) -> str:
        """ "right on 37 of 40 held-out photos (92% (80–97%)); not sure on 3, wrong on 0":
        the one sentence train, evaluate, the demo and the report lead with (``strong``
        marks the two counts up, e.g. in bold)."""
        return (
            f"right on {strong(str(self.right))} of {strong(str(self.n))} held-out photos "
            f"({self.right_overall.interval()}); not sure on {self.not_sure}, "
            f"wrong on {self.wrong}"
        )

    def to_dict(self) -> JsonObject:
        return {
            "n": self.n,
            "right": self.right,
            "wrong": self.wrong,
            "not_sure": self.not_sure,
            "uncertain": self.uncertain,
            "coverage": self.coverage.to_dict(),
            "right_when_answered": self.right_when_answered.to_dict(),
            "right_overall": self.right_overall.to_dict(),
            "uncertain_right": self.uncertain_right.to_dict(),
        }


def _outcome_masks(
    interp: Interpretation, negative_idx: Sequence[int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per photo: right, wrong, not sure (exactly one is true)."""
    negative = np.isin(interp.y_true, list(negative_idx))
    right = np.where(negative, interp.unknown, ~interp.unknown & interp.correct)
    not_sure = ~negative & interp.unknown
    return right, ~right & ~not_sure, not_sure


def photo_outcomes(interp: Interpretation, negative_idx: Sequence[int]) -> list[str]:
    """Each photo's outcome as a word: ``right``, ``wrong`` or ``not sure`` (held_out.csv)."""
    right, wrong, _ = _outcome_masks(interp, negative_idx)
    return [
        "right" if r else "wrong" if w else "not sure" for r, w in zip(right, wrong, strict=True)
    ]


def count_outcomes(interp: Interpretation, negative_idx: Sequence[int]) -> Outcomes:
    right, wrong, not_sure = _outcome_masks(interp, negative_idx)
    uncertain = interp.uncertain & ~interp.unknown
    return Outcomes(
        n=interp.n,
        right=int(right.sum()),
        wrong=int(wrong.sum()),
        not_sure=int(not_sure.sum()),
        uncertain=int(uncertain.sum()),
        uncertain_right_n=int((uncertain & right).sum()),
    )
