"""metrics.json as one typed object: built once per run, serialised once.

`isit train` and `isit evaluate` each build one :class:`Metrics`; the report and the
CLI read its attributes; :meth:`Metrics.to_dict` is the only place its JSON shape
(``metrics.schema.json``) is written down, and :func:`served_metrics` the only place the
shape the model carries for ``GET /api/model`` is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from training.evaluation.proportions import Proportion
from training.json_types import JsonObject

if TYPE_CHECKING:  # interpretation builds BestGuess (through classification): no cycle
    from training.evaluation.interpretation import Outcomes
    from training.evaluation.label_review import LabelIssue
    from training.evaluation.shortcuts import ClassEvidence


@dataclass(frozen=True)
class ClassScores:
    n: int  # held-out photos of the class
    precision: Proportion  # of the photos called this class, the share that were
    recall: Proportion  # of the class's photos, the share called this class
    f1: float

    def to_dict(self) -> JsonObject:
        return {
            "precision": self.precision.value,
            "precision_interval": self.precision.to_dict(),
            "recall": self.recall.value,
            "recall_interval": self.recall.to_dict(),
            "f1": self.f1,
            "n": self.n,
        }


@dataclass(frozen=True)
class BestGuess:
    """The best guess for each held-out photo, "not sure" answers counted by their guess:
    the classifier's own figures, secondary to the :class:`Outcomes` the user sees."""

    labels: tuple[str, ...]
    accuracy: Proportion
    per_class: Mapping[str, ClassScores]
    confusion: tuple[tuple[int, ...], ...]  # rows: true class, columns: predicted
    ece: float  # expected calibration error of the (calibrated) scores

    @property
    def n(self) -> int:
        return self.accuracy.n

    def to_dict(self) -> JsonObject:
        return {
            "n": self.n,
            "accuracy": self.accuracy.value,
            "accuracy_interval": self.accuracy.to_dict(),
            "per_class": {label: scores.to_dict() for label, scores in self.per_class.items()},
            "confusion": {"labels": list(self.labels), "matrix": [list(r) for r in self.confusion]},
            "ece": self.ece,
        }


@dataclass(frozen=True)
class Calibration:
    """The temperature inside model.onnx and the calibration error it changed."""

    temperature: float
    fitted_on: str  # which held-out predictions, in words
    ece_before: float
    ece_after: float
    n: int

    def to_dict(self) -> JsonObject:
        return {
            "temperature": self.temperature,
            "fitted_on": self.fitted_on,
            "ece_before": self.ece_before,
            "ece_after": self.ece_after,
            "n": self.n,
        }


@dataclass(frozen=True)
class UnknownMetrics:
    """The unknown rule and how it did: held-out photos accepted, unrelated ones rejected."""

    threshold: float
    uncertain_margin: float
    accepted: Proportion  # held-out photos of real classes not answered unknown
    probes_rejected: Proportion  # unrelated photos answered unknown
    method: str | None = None  # training only: how the threshold was chosen
    negative_labels: tuple[str, ...] | None = None  # training only
    calibration_n: int | None = None  # training only: scores the threshold was set on
    acceptance_target: float | None = None  # training only: share of them accepted
    reference_rows: int | None = None  # training only: photos the score compares with
    unknown_rate: float | None = None  # evaluation only: all photos answered unknown

    def to_dict(self) -> JsonObject:
        block: JsonObject = {
            "threshold": self.threshold,
            "method": self.method,
            "uncertain_margin": self.uncertain_margin,
            "in_distribution_accepted": self.accepted.value,
            "in_distribution_n": self.accepted.n,
            "in_distribution_accepted_interval": self.accepted.to_dict(),
            "unknown_rate": self.unknown_rate,
            "probe_rejected": self.probes_rejected.value,
            "probe_n": self.probes_rejected.n,
            "probe_rejected_interval": self.probes_rejected.to_dict(),
            "negative_labels": None if self.negative_labels is None else list(self.negative_labels),
            "calibration_n": self.calibration_n,
            "acceptance_target": self.acceptance_target,
            "reference_rows": self.reference_rows,
        }
        return {k: v for k, v in block.items() if v is not None}  # absent: not measured


@dataclass(frozen=True)
class Split:
    train: int
    val: int
    test: int

    def to_dict(self) -> JsonObject:
        return {"train": self.train, "val": self.val, "test": self.test}


@dataclass(frozen=True)
class WhereSummary:
    """Where the model looked, per class (the report has the pictures)."""

    available: bool = False  # False: the head has no exact heatmap (a hidden layer)
    warnings: tuple[str, ...] = ()
    evidence: tuple[ClassEvidence, ...] = ()

    def to_dict(self) -> JsonObject:
        return {
            "available": self.available,
            "warnings": list(self.warnings),
            "classes": {
                e.label: {
                    "photos": e.photos,
                    "border_share": round(e.border_share, 4),
                    "spot_share": round(e.spot_share, 4),
                    "spot_agreement": round(e.spot_agreement, 4),
                    "spot_where": e.spot_where,
                }
                for e in self.evidence
            },
        }


@dataclass(frozen=True)
class TrainingRun:
    """What only `isit train` knows."""

    evaluation_reason: str  # why the test split, or cross-validation
    calibration: Calibration
    epochs_run: int
    best_epoch: int
    augment: int
    seed: int
    parity: Mapping[str, float]  # ONNX against the training side, largest differences
    cache_hits: int
    cache_computed: int
    train_seconds: float  # up to the report
    timings: Mapping[str, float]  # seconds per stage
    label_issues: tuple[LabelIssue, ...] = ()  # likely in the wrong folder, worst first
    where_it_looked: WhereSummary = field(default_factory=WhereSummary)

    def to_dict(self) -> JsonObject:
        return {
            "evaluation_reason": self.evaluation_reason,
            "calibration": self.calibration.to_dict(),
            "epochs_run": self.epochs_run,
            "best_epoch": self.best_epoch,
            "augment": self.augment,
            "seed": self.seed,
            "parity": dict(self.parity),
            "cache": {"hits": self.cache_hits, "computed": self.cache_computed},
            "train_seconds": self.train_seconds,
            "timings": dict(self.timings),
            "label_issues": [issue.to_dict() for issue in self.label_issues],
            "where_it_looked": self.where_it_looked.to_dict(),
        }


@dataclass(frozen=True)
class FolderRun:
    """What only `isit evaluate` knows."""

    model_name: str
    model_version: str
    skipped: int  # files that could not be read
    set_aside: int  # photos the model learnt from (or exact copies): not held out

    def to_dict(self) -> JsonObject:
        return {
            "model": {"name": self.model_name, "version": self.model_version},
            "skipped": self.skipped,
            "set_aside": self.set_aside,
        }


@dataclass(frozen=True)
class Metrics:
    """Every figure of a run, from held-out photos only; ``evaluation`` says which."""

    evaluation: str  # "test split", "5-fold cross-validation, ...", "evaluation folder X"
    outcomes: Outcomes  # right / wrong / not sure, as the user sees the answers
    best_guess: BestGuess
    unknown: UnknownMetrics
    split: Split
    labels: tuple[str, ...]
    backbone: str
    warnings: tuple[str, ...]
    run: TrainingRun | None = None  # `isit train`
    folder: FolderRun | None = None  # `isit evaluate`

    def __post_init__(self) -> None:
        if (self.run is None) == (self.folder is None):
            raise ValueError("Metrics: either a training run or a folder evaluation")

    @property
    def cross_validated(self) -> bool:
        return "cross-validation" in self.evaluation

    @property
    def label_issues(self) -> tuple[LabelIssue, ...]:
        return self.run.label_issues if self.run else ()

    @property
    def shortcut_warnings(self) -> tuple[str, ...]:
        return self.run.where_it_looked.warnings if self.run else ()

    def with_timings(self, timings: Mapping[str, float]) -> Metrics:
        """The same run with its stage timings completed (the report is timed last)."""
        if self.run is None:
            return self
        return replace(self, run=replace(self.run, timings=dict(timings)))

    def to_dict(self) -> JsonObject:
        """metrics.json (schema: metrics.schema.json)."""
        common: JsonObject = {
            "outcomes": self.outcomes.to_dict(),
            "best_guess": self.best_guess.to_dict(),
            "evaluation": self.evaluation,
            "unknown": self.unknown.to_dict(),
            "split": self.split.to_dict(),
            "labels": list(self.labels),
            "backbone": self.backbone,
            "warnings": list(self.warnings),
        }
        own = self.run.to_dict() if self.run else self.folder.to_dict()  # type: ignore[union-attr]
        return {**common, **own}


def served_metrics(
    evaluation: str, outcomes: Outcomes, best_guess: BestGuess, unknown: UnknownMetrics
) -> JsonObject:
    """The held-out headline model.onnx carries (``GET /api/model``, the page's footer)."""
    return {
        "evaluation": evaluation,
        "n": best_guess.n,
        "outcomes": outcomes.to_dict(),
        "accuracy": best_guess.accuracy.value,  # of the best guess, "not sure" included
        "accuracy_interval": best_guess.accuracy.to_dict(),
        "in_distribution_accepted": unknown.accepted.value,
        "in_distribution_accepted_interval": unknown.accepted.to_dict(),
        "probe_rejected": unknown.probes_rejected.value,
        "probe_rejected_interval": unknown.probes_rejected.to_dict(),
    }
