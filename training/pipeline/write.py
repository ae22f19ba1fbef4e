"""Stage 7, outputs: the run's :class:`Metrics` (metrics.json), the report's input, and
held_out.csv (each photo's content hash and held-out outcome, for ``isit compare``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from training.evaluation.interpretation import photo_outcomes
from training.evaluation.label_review import LabelIssue
from training.evaluation.metrics import Metrics, Split, TrainingRun
from training.evaluation.report import Probes, ReportInput
from training.evaluation.where_it_looked import WhereItLooked
from training.loop.run_photos import HELD_OUT_NAME, TRAINED_ON, PhotoRow, write_held_out
from training.pipeline.featurize import Backbone, Features
from training.pipeline.fit import FittedHead
from training.pipeline.held_out import HeldOutEvaluation
from training.pipeline.load import TrainingData
from training.pipeline.package import Exported
from training.pipeline.threshold import UnknownRule
from training.settings import TrainConfig


@dataclass(frozen=True)
class Run:
    """Everything the stages produced, for the outputs."""

    data: TrainingData
    backbone: Backbone
    features: Features
    head: FittedHead
    rule: UnknownRule
    held: HeldOutEvaluation
    exported: Exported
    config: TrainConfig
    label_issues: tuple[LabelIssue, ...] = ()
    where: WhereItLooked = field(default_factory=WhereItLooked)


def metrics_of(run: Run, seconds: float, timings: Mapping[str, float]) -> Metrics:
    held, data = run.held, run.data
    return Metrics(
        evaluation=held.kind,
        outcomes=held.outcomes,
        best_guess=held.best_guess,
        unknown=held.unknown,
        split=Split(**data.split_counts()),
        labels=tuple(data.labels),
        backbone=run.backbone.name,
        warnings=tuple(data.warnings),
        run=TrainingRun(
            evaluation_reason=data.headline_reason(),
            calibration=held.calibration(run.head),
            epochs_run=run.head.epochs_run,
            best_epoch=run.head.best_epoch,
            augment=run.config.augment,
            seed=run.config.seed,
            parity=run.exported.parity,
            cache_hits=run.features.cache_hits,
            cache_computed=run.features.cache_computed,
            train_seconds=seconds,
            timings=dict(timings),
            label_issues=run.label_issues,
            where_it_looked=run.where.summary(),
        ),
    )


def report_of(run: Run, metrics: Metrics) -> ReportInput:
    data, probes = run.data, run.held.probes
    return ReportInput(
        title=f"isit model “{run.exported.metadata.name}” — {run.backbone.name}",
        metrics=metrics,
        interpretation=run.held.interpretation,
        history=run.head.history,
        probes=Probes.of(probes.items, probes.ood, probes.rejected),
        raw_probabilities=run.held.raw_probabilities,
        where=run.where,
        dataset_shortcuts=data.shortcuts,
        unknown_points=run.rule.reported_points(),
        facts={
            "photos (train / validation / test)": (
                f"{len(data.train)} / {len(data.val)} / {len(data.test)}"
            ),
            "classes": ", ".join(data.labels),
            "backbone (the pretrained network that reads each photo)": run.backbone.name,
            **_head_fact(run.head),
            **({"fine-tuning": run.backbone.tuning} if run.backbone.tuning else {}),
            "augmented views per photo": str(run.config.augment),
            "training time": f"{metrics.run.train_seconds:.1f} s" if metrics.run else "",
            "model file": str(run.exported.model_path),
        },
    )


def _head_fact(head: FittedHead) -> dict[str, str]:
    if head.chosen_c is not None:
        return {  # plain words: "inner CV" meant nothing to a photo owner
            "classifier on top": f"linear, regularisation C = {head.chosen_c:.3g} (the one "
            "that did best on the training photos, each answered by a model without it)"
        }
    return {"classifier on top": f"a hidden layer, trained {head.epochs_run} rounds (--epochs)"}



def held_out_rows(run: Run) -> list[PhotoRow]:
    """held_out.csv's rows: every held-out photo's outcome, then the photos trained on."""
    interp, data = run.held.interpretation, run.data
    sha = {s.relative: s.sha256 for s in data.every_photo}
    outcomes = photo_outcomes(interp, data.negative_idx)
    rows = [
        PhotoRow(
            path=name,
            sha256=sha.get(name, ""),
            label=interp.labels[int(interp.y_true[i])],
            answer=interp.answer(i),
            outcome=outcomes[i],
            best_guess=interp.labels[int(interp.predicted[i])],
            confidence=float(interp.confidence[i]),
        )
        for i, name in enumerate(interp.names)
    ]
    held = set(interp.names)
    rows += [
        PhotoRow(s.relative, s.sha256, s.label, "", TRAINED_ON)
        for s in data.every_photo
        if s.relative not in held
    ]
    return rows


def write_held_out_file(run: Run, out_dir: Path) -> Path:
    """``held_out.csv`` next to metrics.json: what ``isit compare`` matches runs on."""
    return write_held_out(out_dir / HELD_OUT_NAME, held_out_rows(run))
