"""Unknown: the threshold above which a photo is answered "unknown"."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from isit.bundle import is_uncertain, is_unknown
from training.evaluation.proportions import Proportion, proportion
from training.model import unknown as ood
from training.pipeline.featurize import Features
from training.pipeline.fit import FittedHead
from training.pipeline.load import TrainingData
from training.settings import TrainConfig

# The acceptance targets the report marks on the unknown trade-off (and the model's own).
REPORTED_TARGETS = (0.9, 0.95, 0.98, 0.99)


@dataclass(frozen=True)
class UnknownRule:
    threshold: float
    negative_labels: tuple[str, ...]
    negative_idx: tuple[int, ...]
    calibration: np.ndarray  # the leave-one-cluster-out scores the threshold was set on
    target: float  # the share of them it accepts
    uncertain_margin: float
    method: str = ood.METHOD

    @property
    def calibration_n(self) -> int:
        return len(self.calibration)

    def threshold_at(self, target: float) -> float:
        """The threshold another ``--unknown-acceptance`` would have chosen."""
        return ood.choose_threshold(self.calibration, target)

    def reported_points(self) -> tuple[tuple[float, float], ...]:
        """(target, threshold) for the report's trade-off: a few, and this rule's own."""
        targets = sorted({*REPORTED_TARGETS, self.target})
        return tuple((t, self.threshold if t == self.target else self.threshold_at(t))
                     for t in targets)  # fmt: skip

    def is_unknown(
        self, probabilities: np.ndarray, scores: np.ndarray, thresholds: np.ndarray | None = None
    ) -> np.ndarray:
        """The model's own rule (:func:`isit.bundle.is_unknown`); ``thresholds``: one
        per photo (each cross-validation fold's own) instead of this rule's."""
        threshold = self.threshold if thresholds is None else thresholds
        return is_unknown(probabilities, scores, threshold, self.negative_idx)

    def is_uncertain(self, probabilities: np.ndarray) -> np.ndarray:
        return is_uncertain(probabilities, self.uncertain_margin)


def calibrate_unknown(data: TrainingData, head: FittedHead, config: TrainConfig) -> UnknownRule:
    """The threshold accepting ``config.unknown_acceptance`` of the leave-one-cluster-out
    unknown scores of the photos the head's reference was fitted on (each scored against
    training photos other than it and its look-alikes, duplicates grouped): the train +
    validation photos with a test split (the test photos take no part, so their
    acceptance is an honest measurement), every photo with cross-validation."""
    calibration = head.reference.calibration
    return UnknownRule(
        threshold=ood.choose_threshold(calibration, config.unknown_acceptance),
        negative_labels=data.negative_labels,
        negative_idx=tuple(data.negative_idx),
        calibration=calibration,
        target=config.unknown_acceptance,
        uncertain_margin=config.uncertain_margin,
    )


@dataclass(frozen=True)
class ProbeResult:
    """The unrelated photos: their scores and whether the rule rejected them."""

    items: tuple[tuple[str, bytes], ...]
    ood: np.ndarray
    rejected: np.ndarray

    @property
    def rejected_share(self) -> float:
        return float(self.rejected.mean()) if len(self.rejected) else 0.0

    def rejection(self) -> Proportion:
        return proportion(int(self.rejected.sum()), len(self.rejected))


def score_probes(features: Features, head: FittedHead, rule: UnknownRule) -> ProbeResult:
    scores = head.ood_scores(features.x_probe)
    rejected = rule.is_unknown(head.probabilities(features.x_probe), scores)
    return ProbeResult(features.probe_items, scores, rejected)
