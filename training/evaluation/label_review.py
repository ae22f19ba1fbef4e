"""Likely label mistakes: photos whose folder their own out-of-fold prediction disputes.

Confident learning (cleanlab's ``find_label_issues``, ``prune_by_noise_rate``): from
out-of-fold probabilities (each photo scored by a head that never saw it nor its
copies), estimate how often each class is confused with each other one, and flag the
photos most likely to sit in the wrong folder, most suspicious first. Nothing is moved:
the user is shown the photo, its folder, and the class it looks like.

:func:`combined_mistakes` (issue 23) adds two more witnesses and ranks by one score:
the share of a photo's nearest photos (cosine on the features) filed elsewhere, and the
out-of-fold probabilities of a head refitted without the first round's suspects (a
misfiled photo pulls its fold's head towards itself; dropping the suspects removes that
pull). The suspicion: how much the witnesses, on average, prefer another class.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from training.json_types import JsonObject

# Defaults of the combined review, in one place.
NEIGHBOURS = 10  # nearest photos asked for their folder
# Listed above this suspicion: on average over the witnesses, another class is preferred
# to the folder's by this much (a share of the votes or of the probability).
FLAG_SUSPICION = 0.2
SHOWN_NEIGHBOURS = 3  # per class, beside each suspect in the report

# photos to learn from (boolean mask) -> every photo's out-of-fold probabilities, or None
Refit = Callable[[np.ndarray], "np.ndarray | None"]

# cleanlab's n_jobs: its default forks a pool per call, which costs more than the work on
# a photo folder's few classes, and would fork while `isit train` exports in a thread.
ONE_PROCESS = 1


@dataclass(frozen=True)
class LabelIssue:
    name: str  # as the user knows it (relative path)
    source: Path | bytes
    given: str  # the folder it is in
    looks_like: str  # the class its out-of-fold prediction prefers
    probability: float  # of looks_like
    given_probability: float  # of the folder's class
    # The nearest photos in its folder's class, then in the class it looks like, for a
    # person to compare side by side: (name, source, label). Not in metrics.json.
    neighbours: tuple[tuple[str, Path | bytes, str], ...] = ()

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
        flagged = find_label_issues(y, p, return_indices_ranked_by="self_confidence",
                                    n_jobs=ONE_PROCESS)  # fmt: skip
    return _issues(flagged, p, y, labels, names, sources)


def _issues(
    flagged: Sequence[int] | np.ndarray,
    p: np.ndarray,
    y: np.ndarray,
    labels: Sequence[str],
    names: Sequence[str],
    sources: Sequence[Path | bytes],
) -> list[LabelIssue]:
    """One :class:`LabelIssue` per flagged row, in the order given; ``looks_like`` is the
    likeliest other class under ``p``."""
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


def _confident_flags(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    """cleanlab's flags (a boolean mask), quiet about small classes."""
    import warnings

    from cleanlab.filter import find_label_issues

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(find_label_issues(y, p, n_jobs=ONE_PROCESS), dtype=bool)


def with_nearest_photos(
    issues: Sequence[LabelIssue],
    x: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    labels: Sequence[str],
    names: Sequence[str],
    sources: Sequence[Path | bytes],
    per_class: int = SHOWN_NEIGHBOURS,
) -> list[LabelIssue]:
    """Each issue with its ``per_class`` nearest photos (the cosine of
    :func:`neighbour_votes`) in its folder's class and in the class it looks like,
    never itself nor its copies."""
    z = np.asarray(x, np.float64)
    z = z - z.mean(axis=0)
    z /= np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)
    row_of = {name: i for i, name in enumerate(names)}
    found = []
    for issue in issues:
        i = row_of[issue.name]
        sim = z @ z[i]
        sim[groups == groups[i]] = -np.inf
        near: list[tuple[str, Path | bytes, str]] = []
        for label in (issue.given, issue.looks_like):
            pool = np.flatnonzero((y == labels.index(label)) & np.isfinite(sim))
            for j in pool[np.argsort(-sim[pool], kind="stable")][:per_class]:
                near.append((names[j], sources[j], label))
        found.append(replace(issue, neighbours=tuple(near)))
    return found


def neighbour_votes(
    x: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    groups: np.ndarray | None = None,
    voters: np.ndarray | None = None,
    k: int = NEIGHBOURS,
) -> np.ndarray:
    """Each photo's share of its ``k`` nearest photos (cosine on the mean-centred
    features) per class, never counting itself nor its copies (same group); only the
    ``voters`` (a mask; default all) vote."""
    z = np.asarray(x, np.float64)
    z = z - z.mean(axis=0)  # why: all-positive pooled features are all alike by raw cosine
    z /= np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)
    groups = np.arange(len(y)) if groups is None else np.asarray(groups)
    voters = np.ones(len(y), bool) if voters is None else np.asarray(voters, bool)
    votes = np.zeros((len(y), n_classes))
    cand = np.flatnonzero(voters)
    k = min(k, len(cand) - 1)
    if k < 1:
        return np.full((len(y), n_classes), 1.0 / n_classes)
    for start in range(0, len(y), 512):  # bounded memory on big folders
        rows = np.arange(start, min(start + 512, len(y)))
        sim = z[rows] @ z[cand].T
        sim[groups[rows][:, None] == groups[cand][None, :]] = -np.inf
        near = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        np.add.at(votes, (np.repeat(rows, k), y[cand][near].ravel()), 1.0)
    return votes / k


def suspicion(witnesses: Sequence[np.ndarray], y: np.ndarray) -> np.ndarray:
    """How much the witnesses (per-class shares, one row per photo), on average, prefer
    the likeliest other class to the photo's folder (from -1 to 1). Why a margin and not
    the folder's share alone: with three classes or more, a photo between two looks
    gives its folder under half without anyone preferring another class."""
    mean = np.mean([np.asarray(w, np.float64) for w in witnesses], axis=0)
    rows = np.arange(len(y))
    given = mean[rows, y]
    mean[rows, y] = -np.inf
    return mean.max(axis=1) - given


def combined_mistakes(
    probabilities: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray | None,
    labels: Sequence[str],
    names: Sequence[str],
    sources: Sequence[Path | bytes],
    refit: Refit | None = None,
    flag_above: float = FLAG_SUSPICION,
) -> list[LabelIssue]:
    """Likely mistakes from three witnesses, most suspicious first: the out-of-fold
    probabilities, the nearest photos' folders, and (``refit``) out-of-fold probabilities
    of heads that never learnt from the first round's suspects (cleanlab's flags, or a
    :func:`suspicion` above ``flag_above``); listed: a final suspicion above it."""
    y = np.asarray(y, dtype=np.int64)
    p = np.asarray(probabilities, dtype=np.float64)
    if len(y) < 2 * len(labels) or len(np.unique(y)) < 2:
        return []
    p = p / p.sum(axis=1, keepdims=True)
    knn = neighbour_votes(x, y, len(labels), groups)
    suspects = _confident_flags(p, y) | (suspicion([p, knn], y) > flag_above)  # round one
    witnesses = [p, knn]
    if suspects.any() and not suspects.all():
        clean_knn = neighbour_votes(x, y, len(labels), groups, voters=~suspects)
        witnesses = [p, clean_knn]
        refitted = None if refit is None else refit(~suspects)
        if refitted is not None:
            refitted = np.asarray(refitted, np.float64)
            witnesses.append(refitted / refitted.sum(axis=1, keepdims=True))
    score = suspicion(witnesses, y)
    order = np.argsort(-score, kind="stable")
    flagged = order[score[order] > flag_above]
    # looks_like from the witnesses' mean: what the photo resembles by all accounts
    return _issues(flagged, np.mean(witnesses, axis=0), y, labels, names, sources)


def wrong_folder_headline(count: int) -> str:
    """"1 photo may be in the wrong folder" / "3 photos may be ..." (train, check, report)."""
    return f"{count} photo{'' if count == 1 else 's'} may be in the wrong folder"
