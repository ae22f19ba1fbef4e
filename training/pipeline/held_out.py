"""Held-out evaluation: what the model says about photos it never saw.

The test split, or, when it is too small to say much, out-of-fold answers for every
photo (:mod:`training.pipeline.crossvalidate`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from training.evaluation.interpretation import Interpretation
from training.evaluation.proportions import Proportion
from training.pipeline.crossvalidate import CrossValidated
from training.pipeline.featurize import Features
from training.pipeline.fit import FittedHead
from training.pipeline.load import TrainingData
from training.pipeline.threshold import ProbeResult, UnknownRule, score_probes

TEST_SPLIT = "test split"


@dataclass(frozen=True)
class HeldOutEvaluation:
    interpretation: Interpretation
    kind: str  # "test split" or "5-fold cross-validation, duplicates grouped"
    acceptance: Proportion  # held-out photos of real classes not answered unknown
    probes: ProbeResult
    raw_probabilities: np.ndarray  # the same photos before temperature scaling

    def calibration_metrics(self, head: FittedHead) -> dict[str, Any]:
        """The ``calibration`` block: the temperature and the ECE it changed."""
        from training.evaluation.classification import expected_calibration_error

        y = self.interpretation.y_true
        return {
            "temperature": head.temperature,
            "fitted_on": head.temperature_fitted_on,
            "ece_before": expected_calibration_error(self.raw_probabilities, y),
            "ece_after": expected_calibration_error(self.interpretation.probabilities, y),
            "n": len(y),
        }

    @property
    def cross_validated(self) -> bool:
        return self.kind != TEST_SPLIT

    def unknown_metrics(self, rule: UnknownRule) -> dict[str, Any]:
        """The ``unknown`` block of metrics.json."""
        return {
            "threshold": rule.threshold,
            "method": rule.method,
            "uncertain_margin": rule.uncertain_margin,
            "in_distribution_accepted": self.acceptance.value,
            "in_distribution_n": self.acceptance.n,
            "in_distribution_accepted_interval": self.acceptance.to_dict(),
            "probe_rejected": self.probes.rejected_share,
            "probe_n": len(self.probes.items),
            "probe_rejected_interval": self.probes.rejection().to_dict(),
            "negative_labels": list(rule.negative_labels),
            "calibration_n": rule.calibration_n,
        }


def _test_split(
    data: TrainingData, features: Features, head: FittedHead, rule: UnknownRule
) -> Interpretation:
    p = head.probabilities(features.x_test)
    scores = head.ood_scores(features.x_test)
    return Interpretation.of(
        data.labels,
        features.y_test,
        p,
        scores,
        rule.is_unknown(p, scores),
        [s.relative for s in data.test],
        [s.path for s in data.test],
        rule.is_uncertain(p),
    )


def _cross_validated(data: TrainingData, cv: CrossValidated, rule: UnknownRule) -> Interpretation:
    samples = data.every_photo
    p = cv.probabilities
    return Interpretation.of(
        data.labels,
        data.y(samples),
        p,
        cv.ood,
        rule.is_unknown(p, cv.ood, cv.thresholds),
        [s.relative for s in samples],
        [s.path for s in samples],
        rule.is_uncertain(p),
    )


def evaluate_held_out(
    data: TrainingData,
    features: Features,
    head: FittedHead,
    rule: UnknownRule,
    cv: CrossValidated | None,
) -> HeldOutEvaluation:
    """With a test split, acceptance is measured on the test photos, which took no part
    in choosing the threshold; with cross-validation, each photo is judged against its
    fold's own threshold."""
    if cv is None:
        interpretation, kind = _test_split(data, features, head, rule), TEST_SPLIT
        raw = head.raw_probabilities(features.x_test)
    else:
        interpretation = _cross_validated(data, cv, rule)
        repeated = f", repeated {cv.repeats}x" if cv.repeats > 1 else ""
        kind = f"{cv.folds}-fold cross-validation{repeated}, duplicates grouped"
        raw = cv.raw_probabilities
    return HeldOutEvaluation(
        interpretation,
        kind,
        interpretation.acceptance(rule.negative_idx),
        score_probes(features, head, rule),
        raw,
    )
