"""Held-out evaluation: what the model says about photos it never saw.

The test split, or, when it is too small to say much, out-of-fold answers for every
photo (:mod:`training.pipeline.crossvalidate`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.evaluation.interpretation import Interpretation, Outcomes
from training.evaluation.metrics import BestGuess, Calibration, UnknownMetrics, served_metrics
from training.evaluation.proportions import Proportion
from training.json_types import JsonObject
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
    outcomes: Outcomes  # right / wrong / not sure, as the user would have seen them
    best_guess: BestGuess
    unknown: UnknownMetrics  # the rule, held-out photos accepted, unrelated ones rejected
    probes: ProbeResult
    raw_probabilities: np.ndarray  # the same photos before temperature scaling
    features: np.ndarray  # [N, D] the same photos' cached features (the export's check)
    hashes: tuple[str, ...]  # the same photos' file sha256, from the check

    def calibration(self, head: FittedHead) -> Calibration:
        """The temperature and the calibration error it changed."""
        from training.evaluation.classification import expected_calibration_error

        y = self.interpretation.y_true
        return Calibration(
            temperature=head.temperature,
            fitted_on=head.temperature_fitted_on,
            ece_before=expected_calibration_error(self.raw_probabilities, y),
            ece_after=expected_calibration_error(self.interpretation.probabilities, y),
            n=len(y),
        )

    @property
    def cross_validated(self) -> bool:
        return self.kind != TEST_SPLIT

    def served(self) -> JsonObject:
        """What model.onnx carries for ``GET /api/model``."""
        return served_metrics(self.kind, self.outcomes, self.best_guess, self.unknown)


def _unknown(
    rule: UnknownRule, accepted: Proportion, probes: ProbeResult, reference_rows: int
) -> UnknownMetrics:
    return UnknownMetrics(
        threshold=rule.threshold,
        uncertain_margin=rule.uncertain_margin,
        accepted=accepted,
        probes_rejected=probes.rejection(),
        method=rule.method,
        negative_labels=tuple(rule.negative_labels),
        calibration_n=rule.calibration_n,
        acceptance_target=rule.target,
        reference_rows=reference_rows,
    )


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
        raw, x = head.raw_probabilities(features.x_test), features.x_test
        samples = data.test
    else:
        interpretation = _cross_validated(data, cv, rule)
        repeated = f", repeated {cv.repeats}x" if cv.repeats > 1 else ""
        kind = f"{cv.folds}-fold cross-validation{repeated}, duplicates grouped"
        raw, x = cv.raw_probabilities, features.all_x()
        samples = data.every_photo
    probes = score_probes(features, head, rule)
    return HeldOutEvaluation(
        interpretation,
        kind,
        interpretation.outcomes(rule.negative_idx),
        interpretation.best_guess(),
        _unknown(rule, interpretation.acceptance(rule.negative_idx), probes, len(head.reference)),
        probes,
        raw,
        x,
        tuple(sample.sha256 for sample in samples),
    )
