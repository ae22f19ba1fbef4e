"""Evaluate a model.onnx on any labelled folder (e.g. a user's separate test photos).

The numbers are computed by the exported model itself through the core, exactly as the
Function would answer, into one :class:`training.evaluation.interpretation.Interpretation` that
metrics.json and the report are made from.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from isit.bundle import ModelBundle, load_bundle
from isit.errors import IsitError
from isit.imaging import preprocess_batch
from training.evaluation.interpretation import Interpretation
from training.evaluation.metrics import FolderRun, Metrics, Split, UnknownMetrics
from training.evaluation.proportions import proportion
from training.evaluation.report import Probes, ReportInput, write_metrics, write_report
from training.model import learnt_from as fingerprints
from training.model import unknown as ood
from training.outputs import EVALUATE_FILES, staged_outputs
from training.predict.batch import predict_files


class UnknownLabels(IsitError):
    """The folder has classes the model was not trained on."""

    code = "unknown_labels"


class NothingToEvaluate(IsitError):
    """A folder without class folders, or without a single readable photo."""

    code = "nothing_to_evaluate"


@dataclass(frozen=True)
class EvaluationResult:
    metrics: Metrics
    metrics_path: Path
    report_path: Path


@dataclass(frozen=True)
class _Folder:
    files: list[tuple[Path, str]]  # (path, display) of distinct files never trained on
    truth: dict[str, str]  # display -> class folder
    duplicates: int  # byte-identical copies counted once
    set_aside: int  # photos the model learnt from (or exact copies of them)
    missing_labels: list[str]  # model labels with no folder here


def _layout(root: Path, labels: list[str]) -> Any:
    from training.data.doctor.layout import scan_layout

    layout = scan_layout(root)
    if layout.fatal:
        raise NothingToEvaluate("\n".join(layout.fatal))
    if not layout.class_names:
        raise NothingToEvaluate(
            f"{root} has no class folders; put the photos in one folder per class."
        )
    strangers = sorted(set(layout.class_names) - set(labels))
    if strangers:
        raise UnknownLabels(
            f"The model does not know the labels {', '.join(repr(s) for s in strangers)}; it "
            f"was trained on {', '.join(repr(label) for label in labels)}. Rename those "
            "folders to one of these labels, or remove them."
        )
    return layout


def _learnt_from(path: Path, digest: str, known: frozenset[int]) -> bool:
    """Whether the model learnt from this file or an exact copy (bytes or pixels)."""
    from training.data.doctor.file_hashes import Fingerprint, fingerprint_file

    if not known:
        return False
    if fingerprints.seen(known, digest):
        return True
    result = fingerprint_file(str(path))
    return isinstance(result, Fingerprint) and fingerprints.seen(known, result.pixel_sha256)


def _scan(root: Path, bundle: ModelBundle) -> _Folder:
    labels = list(bundle.labels)
    layout = _layout(root, labels)
    known = fingerprints.decode(bundle.metadata.training_photos)
    seen: set[str] = set()
    files: list[tuple[Path, str]] = []
    truth: dict[str, str] = {}
    duplicates = set_aside = 0
    for candidate in layout.candidates:  # identical files count once (the first, sorted)
        path = root / candidate.path
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            digest = candidate.path  # unreadable: reported by predict_files
        if digest in seen:
            duplicates += 1
        elif _learnt_from(path, digest, known):
            set_aside += 1
        else:
            files.append((path, candidate.path))
            truth[candidate.path] = candidate.label
        seen.add(digest)
    if not files and set_aside:
        raise NothingToEvaluate(
            f"All {set_aside} photos in {root} were used to train this model (or are exact "
            "copies of them), so none can tell how it does on new photos. Evaluate on "
            "photos it has never seen."
        )
    missing = sorted(set(labels) - set(layout.class_names))
    return _Folder(files, truth, duplicates, set_aside, missing)


def _interpret(
    bundle: ModelBundle, folder: _Folder, progress: bool | None
) -> tuple[Interpretation, int]:
    """The model's answers on the folder's photos, and how many could not be read."""
    labels = list(bundle.labels)
    predicted = predict_files(bundle, folder.files, progress=progress)
    outcomes = [o for o in predicted if o.prediction is not None]
    if not outcomes:
        raise NothingToEvaluate(f"None of the {len(folder.files)} files could be read as images.")
    interpretation = Interpretation.of(
        labels,
        [labels.index(folder.truth[o.display]) for o in outcomes],
        np.stack([o.probabilities for o in outcomes]),
        [o.prediction.ood_score for o in outcomes],
        [o.prediction.unknown for o in outcomes],
        [o.display for o in outcomes],
        [o.path for o in outcomes],
        [o.prediction.uncertain for o in outcomes],
    )
    return interpretation, len(folder.files) - len(outcomes)


def _probes(bundle: ModelBundle, enabled: bool) -> Probes | None:
    items = ood.probe_images() if enabled else []
    if not items:
        return None
    batch = preprocess_batch([data for _, data in items], bundle.metadata.preprocess)
    predictions = bundle.predict_arrays(batch)
    return Probes.of(
        items,
        np.array([p.ood_score for p in predictions], dtype=np.float32),
        np.array([p.unknown for p in predictions], dtype=bool),
    )


def _warnings(folder: _Folder, unreadable: int) -> list[str]:
    warnings = []
    if unreadable:
        warnings.append(f"{unreadable} files could not be read as images and were skipped.")
    if folder.duplicates:
        warnings.append(
            f"{folder.duplicates} files are byte-identical copies of others; counted once."
        )
    if folder.set_aside:
        warnings.append(
            f"{folder.set_aside} photos were set aside: the model learnt from them (or from "
            "exact copies), so they are not held out."
        )
    if folder.missing_labels:
        warnings.append(f"No photos of {', '.join(folder.missing_labels)} in this folder.")
    return warnings


def _metrics(
    bundle: ModelBundle,
    folder: _Folder,
    root: Path,
    interp: Interpretation,
    probes: Probes | None,
    unreadable: int,
    warnings: list[str],
) -> Metrics:
    negative_idx = [bundle.labels.index(n) for n in bundle.negative_labels]
    rejected = int(probes.rejected.sum()) if probes else 0
    return Metrics(
        evaluation=f"evaluation folder {root.name}",
        outcomes=interp.outcomes(negative_idx),
        best_guess=interp.best_guess(),
        unknown=UnknownMetrics(
            threshold=bundle.threshold,
            uncertain_margin=bundle.margin,
            accepted=interp.acceptance(negative_idx),
            probes_rejected=proportion(rejected, len(probes.rejected) if probes else 0),
            unknown_rate=float(interp.unknown.mean()),
        ),
        split=Split(train=0, val=0, test=interp.n),
        labels=tuple(bundle.labels),
        backbone=bundle.metadata.backbone.name,
        warnings=tuple(warnings),
        folder=FolderRun(
            model_name=bundle.metadata.name,
            model_version=bundle.metadata.version,
            skipped=unreadable,
            set_aside=folder.set_aside,
        ),
    )


def evaluate(
    model_path: str | os.PathLike[str],
    data_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    probes: bool = True,
    progress: bool | None = None,
    force: bool = False,
) -> EvaluationResult:
    """Evaluate ``model_path`` on the labelled folder ``data_dir``; write metrics and report
    (together, when both are written; an earlier run in ``out_dir`` only with ``force``).

    Raises :class:`UnknownLabels` naming folders the model does not know, and
    :class:`isit.errors.IsitError` for an unusable model or folder.
    """
    bundle = load_bundle(model_path)  # loaded once per process (the CLI checked it first)
    out = Path(out_dir)
    with staged_outputs(out, EVALUATE_FILES, force=force) as staging:
        metrics, report = _measure(bundle, Path(data_dir), probes, progress)
        write_metrics(staging / "metrics.json", metrics)
        write_report(report, staging / "report.html")
    return EvaluationResult(metrics, out / "metrics.json", out / "report.html")


def _measure(
    bundle: Any, root: Path, probes: bool, progress: bool | None
) -> tuple[Metrics, ReportInput]:
    """The metrics and the report of ``bundle`` on the folder ``root``."""
    folder = _scan(root, bundle)
    interp, unreadable = _interpret(bundle, folder, progress)
    probe_result = _probes(bundle, probes)
    warnings = _warnings(folder, unreadable)
    metrics = _metrics(bundle, folder, root, interp, probe_result, unreadable, warnings)
    report = ReportInput(
        title=f"isit model “{bundle.metadata.name}” on {root.name}",
        metrics=metrics,
        interpretation=interp,
        probes=probe_result,
        facts={
            "model": f"{bundle.metadata.name} {bundle.metadata.version}",
            "backbone": bundle.metadata.backbone.name,
            "photos evaluated": str(interp.n),
            "set aside (the model learnt from them)": str(folder.set_aside),
        },
    )
    return metrics, report
