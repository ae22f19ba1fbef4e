"""``isit suggest``: which unlabelled photos would teach the model most, and why.

Each photo gets a value from two signals the model itself gives:

- **unsure**: ``1 - margin`` between its top two calibrated probabilities (a photo the
  model is torn on sits near its decision boundary: its label moves the boundary);
- **far**: its unknown score against the model's threshold (a photo unlike every
  training photo covers ground the model has not seen), ``min(ood / threshold, 2) / 2``.

Then a greedy pick, in the spirit of "core-set" active learning: each next photo is the
one of highest value minus ``DIVERSITY_WEIGHT`` x its similarity to the photos already
picked, and a near-copy of a picked photo (cosine similarity over
``NEAR_COPY_SIMILARITY``) is never picked: ten near-copies teach what one does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.loop.model_features import unit_rows
from training.settings import DIVERSITY_WEIGHT, NEAR_COPY_SIMILARITY


@dataclass(frozen=True)
class Suggestion:
    index: int  # into the scored photos
    rank: int  # 1 = first to label
    best_guess: str
    runner_up: str
    confidence: float
    margin: float
    ood: float
    value: float  # unsure + far, before the diversity penalty
    similarity: float  # to the most similar photo picked before it (0 for the first)
    why: str


@dataclass(frozen=True)
class Ranked:
    suggestions: list[Suggestion]
    near_copies: int  # photos left out as near-copies of picked ones


def _margins(probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top class, runner-up class and the margin between their probabilities."""
    order = np.argsort(-probabilities, axis=1, kind="stable")
    rows = np.arange(len(probabilities))
    top, second = order[:, 0], order[:, 1] if probabilities.shape[1] > 1 else order[:, 0]
    return top, second, probabilities[rows, top] - probabilities[rows, second]


def values(probabilities: np.ndarray, ood: np.ndarray, threshold: float) -> np.ndarray:
    """How much each photo would teach: unsure + far, each in 0..1."""
    _, _, margin = _margins(probabilities)
    if threshold > 0:
        far = np.clip(ood / threshold, 0.0, 2.0) / 2.0
    else:  # no threshold to compare with: rank the scores among themselves
        far = np.argsort(np.argsort(ood)) / max(len(ood) - 1, 1)
    return (1.0 - margin) + far


def _why(
    labels: tuple[str, ...],
    top: int,
    second: int,
    margin: float,
    ood: float,
    threshold: float,
    similarity: float,
    unsure_margin: float,
) -> str:
    reasons = []
    if margin < unsure_margin:
        reasons.append(f"torn between {labels[top]} and {labels[second]} (margin {margin:.2f})")
    if threshold > 0 and ood >= threshold:
        reasons.append(
            f"unlike the training photos (unknown score {ood:.2f}, threshold {threshold:.2f})"
        )
    elif threshold > 0 and ood >= threshold / 2:
        reasons.append(f"far from most training photos (unknown score {ood:.2f})")
    if not reasons:
        reasons.append(
            f"the model is fairly sure ({labels[top]}, margin {margin:.2f}); listed for "
            f"variety: unlike the photos above it (similarity {similarity:.2f})"
        )
    return "; ".join(reasons)


def rank(
    labels: tuple[str, ...],
    probabilities: np.ndarray,
    ood: np.ndarray,
    features: np.ndarray,
    *,
    threshold: float,
    unsure_margin: float,
    top: int,
) -> Ranked:
    """The ``top`` photos to label first, most useful first."""
    worth = values(probabilities, ood, threshold)
    tops, seconds, margins = _margins(probabilities)
    unit = unit_rows(features)
    closest = np.zeros(len(worth))  # similarity to the nearest photo picked so far
    open_ = np.ones(len(worth), bool)
    picked: list[Suggestion] = []
    while open_.any() and len(picked) < top:
        score = np.where(open_, worth - DIVERSITY_WEIGHT * np.clip(closest, 0, 1), -np.inf)
        i = int(np.argmax(score))
        picked.append(
            Suggestion(
                index=i,
                rank=len(picked) + 1,
                best_guess=labels[tops[i]],
                runner_up=labels[seconds[i]],
                confidence=float(probabilities[i, tops[i]]),
                margin=float(margins[i]),
                ood=float(ood[i]),
                value=float(worth[i]),
                similarity=float(closest[i]),
                why=_why(
                    labels,
                    tops[i],
                    seconds[i],
                    float(margins[i]),
                    float(ood[i]),
                    threshold,
                    float(closest[i]),
                    unsure_margin,
                ),
            )
        )
        open_[i] = False
        closest = np.maximum(closest, unit @ unit[i])
        open_ &= closest <= NEAR_COPY_SIMILARITY
    near_copies = int(np.sum(closest > NEAR_COPY_SIMILARITY)) - len(picked)
    return Ranked(picked, max(near_copies, 0))
