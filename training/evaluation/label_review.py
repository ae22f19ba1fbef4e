"""Likely label mistakes: photos whose folder their own out-of-fold prediction disputes.

Confident learning (cleanlab's ``find_label_issues``, ``prune_by_noise_rate``): from
out-of-fold probabilities (each photo scored by a head that never saw it nor its
copies), estimate how often each class is confused with each other one, and flag the
photos most likely to sit in the wrong folder, most suspicious first. Nothing is moved:
the user is shown the photo, its folder, and the class it looks like.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.json_types import JsonObject


@dataclass(frozen=True)
class LabelIssue:
    name: str  # as the user knows it (relative path)
    source: Path | bytes
    given: str  # the folder it is in
    looks_like: str  # the class its out-of-fold prediction prefers
    probability: float  # of looks_like
    given_probability: float  # of the folder's class

    def to_dict(self) -> JsonObject:
        return {
            "path": self.name,
            "given": self.given,
            "looks_like": self.looks_like,
            "probability": round(self.probability, 4),
            "given_probability": round(self.given_probability, 4),
        }


def likely_mistakes(
    probabilities: np.ndarray,
    y: np.ndarray,
    labels: Sequence[str],
    names: Sequence[str],
    sources: Sequence[Path | bytes],
) -> list[LabelIssue]:
    """The photos cleanlab flags, most suspicious first (lowest self-confidence)."""
    import warnings

    from cleanlab.filter import find_label_issues

    y = np.asarray(y, dtype=np.int64)
    p = np.asarray(probabilities, dtype=np.float64)
    if len(y) < 2 * len(labels) or len(np.unique(y)) < 2:
        return []
    p = p / p.sum(axis=1, keepdims=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. "class with few examples"
        flagged = find_label_issues(y, p, return_indices_ranked_by="self_confidence")
    issues = []
    for i in flagged:
        guess = int(np.argmax(np.where(np.arange(p.shape[1]) == y[i], -1.0, p[i])))
        issues.append(
            LabelIssue(
                name=names[i],
                source=sources[i],
                given=labels[y[i]],
                looks_like=labels[guess],
                probability=float(p[i, guess]),
                given_probability=float(p[i, y[i]]),
            )
        )
    return issues


def wrong_folder_headline(count: int) -> str:
    """"1 photo may be in the wrong folder" / "3 photos may be ..." (train, check, report)."""
    return f"{count} photo{'' if count == 1 else 's'} may be in the wrong folder"
