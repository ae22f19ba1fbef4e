"""`python -m training evaluate MODEL.onnx DATA_DIR [--out DIR]`: metrics and report on any
labelled folder (e.g. a user's separate test photos), computed by the exported model
itself through the core, exactly as the Function would answer.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from isit.bundle import ModelBundle
from isit.errors import IsitError
from training import unknown as ood
from training.batch_predict import predict_files
from training.evaluation import classification_metrics
from training.report import HeldOut, Probes, ReportInput, write_metrics, write_report


class UnknownLabels(IsitError):
    """The folder has classes the model was not trained on."""

    code = "unknown_labels"


@dataclass
class EvaluationResult:
    metrics: dict[str, Any]
    metrics_path: Path
    report_path: Path


def evaluate(
    model_path: str | os.PathLike[str],
    data_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    probes: bool = True,
) -> EvaluationResult:
    """Evaluate ``model_path`` on the labelled folder ``data_dir``; write metrics and report.

    Raises :class:`UnknownLabels` naming folders the model does not know, and
    :class:`isit.errors.IsitError` for an unusable model or folder.
    """
    from training.doctor.layout import scan_layout

    bundle = ModelBundle(model_path)
    labels = list(bundle.labels)
    root = Path(data_dir)
    layout = scan_layout(root)
    if layout.fatal:
        raise IsitError("\n".join(layout.fatal))
    if not layout.class_names:
        raise IsitError(f"{root} has no class folders; put the photos in one folder per class.")
    strangers = sorted(set(layout.class_names) - set(labels))
    if strangers:
        raise UnknownLabels(
            f"The model does not know the labels {', '.join(repr(s) for s in strangers)}; it "
            f"was trained on {', '.join(repr(label) for label in labels)}. Rename those "
            "folders to one of these labels, or remove them."
        )

    # Identical files count once (the first one, in sorted order).
    seen: set[str] = set()
    files: list[tuple[Path, str]] = []
    truth: dict[str, str] = {}
    duplicates = 0
    for candidate in layout.candidates:
        path = root / candidate.path
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            digest = candidate.path  # unreadable: reported by predict_files below
        if digest in seen:
            duplicates += 1
            continue
        seen.add(digest)
        files.append((path, candidate.path))
        truth[candidate.path] = candidate.label

    outcomes = [o for o in predict_files(bundle, files) if o.prediction is not None]
    errors = len(files) - len(outcomes)
    if not outcomes:
        raise IsitError(f"None of the {len(files)} files in {root} could be read as images.")
    y_true = np.array([labels.index(truth[o.display]) for o in outcomes], dtype=np.int64)
    probabilities = np.stack([o.probabilities for o in outcomes]).astype(np.float32)
    scores = np.array([o.prediction.ood_score for o in outcomes], dtype=np.float32)
    is_unknown = np.array([o.prediction.unknown for o in outcomes])
    negative_idx = [labels.index(n) for n in bundle.negative_labels]
    positive = ~np.isin(y_true, negative_idx)

    probe_items = ood.probe_images() if probes else []
    probe_outcomes = []
    if probe_items:
        from isit.imaging import preprocess

        batch = np.stack([preprocess(data, bundle.metadata.preprocess) for _, data in probe_items])
        probe_outcomes = bundle.predict_arrays(batch)
    probe_rejected = np.array([p.unknown for p in probe_outcomes], dtype=bool)

    warnings = []
    if errors:
        warnings.append(f"{errors} files could not be read as images and were skipped.")
    if duplicates:
        warnings.append(f"{duplicates} files are byte-identical copies of others; counted once.")
    missing = sorted(set(labels) - set(layout.class_names))
    if missing:
        warnings.append(f"No photos of {', '.join(missing)} in this folder.")
    metrics: dict[str, Any] = {
        "test": classification_metrics(y_true, probabilities, labels),
        "evaluation": f"evaluation folder {root.name}",
        "unknown": {
            "threshold": bundle.threshold,
            "in_distribution_accepted": float((~is_unknown[positive]).mean())
            if positive.any()
            else 0.0,
            "unknown_rate": float(is_unknown.mean()),
            "probe_rejected": float(probe_rejected.mean()) if len(probe_rejected) else 0.0,
            "probe_n": len(probe_items),
        },
        "split": {"train": 0, "val": 0, "test": len(outcomes)},
        "labels": labels,
        "backbone": bundle.metadata.backbone.name,
        "model": {"name": bundle.metadata.name, "version": bundle.metadata.version},
        "skipped": errors,
        "warnings": warnings,
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    metrics_path = out / "metrics.json"
    write_metrics(metrics_path, metrics)
    report_path = write_report(
        ReportInput(
            title=f"isit model “{bundle.metadata.name}” on {root.name}",
            labels=labels,
            metrics=metrics,
            held_out=HeldOut(
                names=[o.display for o in outcomes],
                sources=[o.path for o in outcomes],
                y_true=y_true,
                probabilities=probabilities,
                ood=scores,
                unknown=is_unknown,
            ),
            evaluation_kind=f"folder {root.name}",
            warnings=warnings,
            probes=Probes.of(
                probe_items,
                np.array([p.ood_score for p in probe_outcomes], dtype=np.float32),
                probe_rejected,
            ),
            threshold=bundle.threshold,
            facts={
                "model": f"{bundle.metadata.name} {bundle.metadata.version}",
                "backbone": bundle.metadata.backbone.name,
                "photos evaluated": str(len(outcomes)),
            },
        ),
        out / "report.html",
    )
    return EvaluationResult(metrics, metrics_path, report_path)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL.onnx", help="a model trained by isit")
    parser.add_argument("data_dir", metavar="DATA_DIR", help="folder with one sub-folder per class")
    parser.add_argument(
        "--out", default="evaluation", metavar="DIR", help="where to write (default ./evaluation)"
    )


def run(args: argparse.Namespace) -> int:
    try:
        result = evaluate(args.model, args.data_dir, args.out)
    except IsitError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    test = result.metrics["test"]
    unknown = result.metrics["unknown"]
    print(
        f"accuracy {test['accuracy']:.3f} on {test['n']} photos; "
        f"{unknown['in_distribution_accepted']:.1%} accepted, "
        f"{unknown['probe_rejected']:.1%} of {unknown['probe_n']} unrelated photos rejected"
    )
    print(f"metrics: {result.metrics_path}")
    print(f"report:  {result.report_path}")
    return 0
