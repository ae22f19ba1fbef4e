"""Stage 7, outputs: metrics.json (schema: evaluation/metrics.schema.json) and report.html."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training.evaluation.label_review import LabelIssue
from training.evaluation.report import Probes, ReportInput, write_metrics, write_report
from training.pipeline.featurize import Backbone, Features
from training.pipeline.fit import FittedHead
from training.pipeline.held_out import HeldOutEvaluation
from training.pipeline.load import TrainingData
from training.pipeline.look import WhereItLooked
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


def metrics_of(run: Run, seconds: float, timings: dict[str, float]) -> dict[str, Any]:
    return {
        "outcomes": run.held.interpretation.outcomes(run.rule.negative_idx).to_dict(),
        "test": run.held.interpretation.metrics(),
        "evaluation": run.held.kind,
        "evaluation_reason": run.data.headline_reason(),
        "calibration": run.held.calibration_metrics(run.head),
        "unknown": run.held.unknown_metrics(run.rule),
        "split": run.data.split_counts(),
        "labels": list(run.data.labels),
        "backbone": run.backbone.name,
        "epochs_run": run.head.epochs_run,
        "best_epoch": run.head.best_epoch,
        "augment": run.config.augment,
        "seed": run.config.seed,
        "parity": run.exported.parity,
        "cache": {"hits": run.features.cache_hits, "computed": run.features.cache_computed},
        "train_seconds": seconds,
        "timings": dict(timings),
        "warnings": list(run.data.warnings),
        "label_issues": [issue.to_dict() for issue in run.label_issues],
        "where_it_looked": run.where.to_dict(),
    }


def report_of(run: Run, metrics: dict[str, Any]) -> ReportInput:
    data, probes = run.data, run.held.probes
    return ReportInput(
        title=f"isit model “{run.exported.metadata.name}” — {run.backbone.name}",
        metrics=metrics,
        interpretation=run.held.interpretation,
        evaluation_kind=run.held.kind,
        history=run.head.history,
        warnings=list(data.warnings),
        probes=Probes.of(probes.items, probes.ood, probes.rejected),
        threshold=run.rule.threshold,
        raw_probabilities=run.held.raw_probabilities,
        label_issues=run.label_issues,
        where=run.where,
        dataset_shortcuts=data.shortcuts,
        facts={
            "photos (train / validation / test)": (
                f"{len(data.train)} / {len(data.val)} / {len(data.test)}"
            ),
            "classes": ", ".join(data.labels),
            "backbone": run.backbone.name,
            **_head_fact(run.head),
            "augmented views per photo": str(run.config.augment),
            "training time": f"{metrics['train_seconds']:.1f} s",
            "model file": str(run.exported.model_path),
        },
    )


def _head_fact(head: FittedHead) -> dict[str, str]:
    if head.chosen_c is not None:
        return {"head": f"linear, regularisation C = {head.chosen_c:.3g} (chosen by inner CV)"}
    return {"head": f"hidden layer, {head.epochs_run} epochs (best {head.best_epoch})"}


def write_outputs(out_dir: Path, metrics: dict[str, Any], report: ReportInput) -> tuple[Path, Path]:
    """``(metrics.json, report.html)`` paths, both written atomically."""
    return (
        write_metrics(out_dir / "metrics.json", metrics),
        write_report(report, out_dir / "report.html"),
    )
