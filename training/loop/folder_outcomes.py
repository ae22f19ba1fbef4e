"""``isit compare --folder DIR``: each model's outcome on every photo of a labelled folder.

The same rows as a run's held_out.csv, so two models are compared exactly as two runs
are. A photo either model learnt from (its training-photo fingerprint) is set aside for
both: a model judged on photos it learnt from would look better than it is.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from isit.bundle import ModelBundle, Prediction, load_bundle
from isit.errors import IsitError
from training.loop.run_photos import PhotoRow
from training.model import learnt_from
from training.predict.batch import predict_files


class FolderMismatch(IsitError):
    code = "compare_folder"


@dataclass(frozen=True)
class FolderRows:
    a: list[PhotoRow]
    b: list[PhotoRow]
    set_aside: int  # photos one of the models learnt from
    unreadable: list[str]


def outcome_of(prediction: Prediction, label: str, negative_labels: tuple[str, ...]) -> str:
    """Right / wrong / not sure, as :func:`training.evaluation.interpretation.photo_outcomes`."""
    if label in negative_labels:  # "other/": right when answered unknown
        return "right" if prediction.unknown else "wrong"
    if prediction.unknown:
        return "not sure"
    return "right" if prediction.best_guess == label else "wrong"


def _photos(root: Path, bundles: list[ModelBundle]) -> tuple[list[tuple[Path, str, str, str]], int]:
    """(path, shown, label, sha256) of the folder's photos neither model learnt from."""
    from training.data.doctor.layout import scan_layout

    layout = scan_layout(root)
    if layout.fatal or not layout.class_names:
        raise FolderMismatch(
            "\n".join(layout.fatal) or f"{root} has no class folders (one per class)."
        )
    for bundle in bundles:
        strangers = sorted(set(layout.class_names) - set(bundle.labels))
        if strangers:
            raise FolderMismatch(
                f"{bundle.path.name} does not know the classes {', '.join(strangers)} of "
                f"{root}; it was trained on {', '.join(bundle.labels)}."
            )
    known = [learnt_from.decode(b.metadata.training_photos) for b in bundles]
    photos, set_aside = [], 0
    for candidate in layout.candidates:
        path = root / candidate.path
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            continue  # vanished or unreadable: predict_files would say the same
        if any(learnt_from.seen(k, digest) for k in known):
            set_aside += 1
            continue
        photos.append((path, candidate.path, candidate.label, digest))
    return photos, set_aside


def _rows(bundle: ModelBundle, photos: list[tuple[Path, str, str, str]]) -> list[PhotoRow]:
    rows = []
    files = [(path, shown) for path, shown, _, _ in photos]
    for outcome, (_, shown, label, digest) in zip(
        predict_files(bundle, files, progress=False), photos, strict=True
    ):
        p = outcome.prediction
        if p is None:
            continue
        word = outcome_of(p, label, tuple(bundle.negative_labels))
        rows.append(PhotoRow(shown, digest, label, p.label, word, p.best_guess, p.confidence))
    return rows


def folder_rows(model_a: Path, model_b: Path, root: Path) -> FolderRows:
    bundles = [load_bundle(model_a), load_bundle(model_b)]
    photos, set_aside = _photos(root, bundles)
    a, b = (_rows(bundle, photos) for bundle in bundles)
    answered = {r.path for r in a} & {r.path for r in b}
    unreadable = [shown for _, shown, _, _ in photos if shown not in answered]
    return FolderRows(a, b, set_aside, unreadable)
