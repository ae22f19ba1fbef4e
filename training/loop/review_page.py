"""``isit feedback review``: one page to judge the photos ``feedback pull`` brought in.

For each inbox photo: the photo, the class the visitor claimed, what the model says now
(re-predicted), what it said then (the record), and, given the training folder, the
nearest training photos of the claimed class and of the model's answer, by cosine
similarity of the model's own backbone features (the feature cache's, so a folder trained
on is not computed again). A photo that looks like the claimed class's photos is likely a
good addition; one that looks like neither may not belong to any class. Nothing is moved.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from isit.errors import IsitError
from training.atomic import atomic_write
from training.evaluation.report.page import document, esc, gallery
from training.loop.inbox import MANIFEST_NAME, cell_value
from training.loop.model_features import ModelFeatures, Scored, unit_rows
from training.predict.batch import list_images
from training.settings import REVIEW_NEIGHBOURS


@dataclass
class ReviewPage:
    path: Path
    photos: int
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Training:
    paths: list[Path]
    labels: list[str]
    unit: np.ndarray  # [N, D] unit-length features


def _manifest(inbox: Path) -> dict[str, dict[str, str]]:
    """``{file: row}`` of the inbox's manifest (empty without one)."""
    try:
        with open(inbox / MANIFEST_NAME, newline="", encoding="utf-8") as handle:
            rows = [{k: cell_value(v or "") for k, v in r.items()} for r in csv.DictReader(handle)]
    except FileNotFoundError:
        return {}
    return {row.get("file", ""): row for row in rows}


def _inbox_photos(inbox: Path) -> list[tuple[Path, str]]:
    """``(path, claimed label)``: every file in a class folder of the inbox."""
    photos = []
    for folder in sorted(p for p in inbox.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files, _ = list_images([folder])
        photos += [(path, folder.name) for path, _ in files]
    return photos


def _training(model: ModelFeatures, data_dir: Path) -> _Training:
    files, _ = list_images([data_dir])
    files = [(p, d) for p, d in files if len(p.relative_to(data_dir).parts) >= 2]
    paths = [p for p, _ in files]
    if model.has_backbone_features:
        try:
            features = _cached_features(model, paths)
        except (IsitError, OSError):  # an unreadable photo: score one by one instead
            features = None
        if features is not None:
            labels = [p.relative_to(data_dir).parts[0] for p in paths]
            return _Training(paths, labels, unit_rows(features))
    scored: Scored = model.score(paths)
    labels = [p.relative_to(data_dir).parts[0] for p in scored.paths]
    return _Training(scored.paths, labels, unit_rows(scored.features))


def _cached_features(model: ModelFeatures, paths: list[Path]) -> np.ndarray:
    """The training photos' backbone features from the feature cache `isit train` filled."""
    from training.data.feature_cache import Entry, FeatureCache

    entries = [Entry(hashlib.sha256(p.read_bytes()).hexdigest(), p) for p in paths]
    return FeatureCache(model, progress=False).get(entries, desc="training photos")  # type: ignore[arg-type]


def _neighbours(training: _Training, vector: np.ndarray, label: str) -> str:
    idx = [i for i, known in enumerate(training.labels) if known == label]
    if not idx:
        return f"<p class='muted'>no training photos of {esc(label)}</p>"
    similarity = training.unit[idx] @ vector
    best = np.argsort(-similarity, kind="stable")[:REVIEW_NEIGHBOURS]
    items = [
        (training.paths[idx[j]], f"{esc(training.paths[idx[j]].name)}<br>similarity "
         f"{similarity[j]:.2f}")
        for j in best
    ]  # fmt: skip
    return gallery(items)


def _section(
    path: Path, claimed: str, record: dict[str, str], answer: str, confidence: float,
    neighbours: list[tuple[str, str]],
) -> str:  # fmt: skip
    then = record.get("model_answer") or "?"
    version = record.get("model_version") or "?"
    agree = "agrees with" if answer == claimed else "differs from"
    caption = (
        f"<b>{esc(path.parent.name)}/{esc(path.name)}</b><br>claimed: <b>{esc(claimed)}</b>"
        f"<br>model now: <b>{esc(answer)}</b> ({100 * confidence:.0f}%), {agree} the claim"
        f"<br>then: {esc(then)} (model {esc(version)}), {esc(record.get('received', ''))}"
    )
    blocks = "".join(
        f"<div><h4>nearest training photos of {esc(label)}</h4>{html}</div>"
        for label, html in neighbours
    )
    return f"<section class='row'>{gallery([(path, caption)])}{blocks}</section><hr>"


def write_review(
    inbox: Path,
    model_path: Path,
    out: Path,
    *,
    data_dir: Path | None = None,
    progress: bool | None = None,
) -> ReviewPage:
    """Write the review page for every photo in ``inbox``'s class folders."""
    model = ModelFeatures(model_path)
    photos = _inbox_photos(inbox)
    claimed = dict(photos)
    scored = model.score([p for p, _ in photos])
    records = _manifest(inbox)
    training = _training(model, data_dir) if data_dir is not None else None
    unit = unit_rows(scored.features)
    sections = []
    for i, path in enumerate(scored.paths):
        prediction = model.bundle.interpret(scored.probabilities[i], float(scored.ood[i]))
        label = claimed[path]
        shown = [label, prediction.best_guess] if label != prediction.best_guess else [label]
        neighbours = [(c, _neighbours(training, unit[i], c)) for c in shown if training is not None]
        record = records.get(path.relative_to(inbox).as_posix(), {})
        sections.append(
            _section(path, label, record, prediction.label, prediction.confidence, neighbours)
        )
    intro = (
        f"{len(scored.paths)} photos in {inbox}, as {model.metadata.name} "
        f"(version {model.metadata.version}) answers them now. Nothing was moved: put the "
        "photos you agree with into your data folder's class folders, then train again. "
        f"Similarity: {model.features_kind}."
    )
    body = f"<h1>Flagged photos to review</h1><p>{esc(intro)}</p>" + "".join(sections)
    atomic_write(out, document("isit feedback review", body))
    problems = [f"{path}: {reason}" for path, reason in scored.unreadable]
    return ReviewPage(out, len(scored.paths), problems)
