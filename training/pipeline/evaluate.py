"""Stage 5, held-out evaluation: what the model says about photos it never saw.

The test split, or, when a class is too small for one, out-of-fold predictions over
every photo (k-fold cross-validation, duplicates grouped, each photo scored by heads
and centroids that never saw it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from training import unknown as ood
from training.interpretation import Interpretation
from training.pipeline.data import TrainingData
from training.pipeline.features import Features
from training.pipeline.head import FittedHead, out_of_fold_probabilities
from training.pipeline.unknown import ProbeResult, UnknownRule, score_probes
from training.settings import TrainConfig
from training.stats import Proportion


@dataclass(frozen=True)
class HeldOutEvaluation:
    interpretation: Interpretation
    kind: str  # "test split" or "5-fold cross-validation, duplicates grouped"
    acceptance: Proportion  # held-out photos of real classes not answered unknown
    probes: ProbeResult

    @property
    def accepted(self) -> float:
        return self.acceptance.value

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


def _cross_validated(
    data: TrainingData, features: Features, rule: UnknownRule, config: TrainConfig
) -> Interpretation:
    samples = data.train + data.val + data.test
    x = np.concatenate([features.x_train, features.x_val, features.x_test])
    y = np.concatenate([features.y_train, features.y_val, features.y_test])
    groups = data.groups(samples)
    n_classes = len(data.labels)
    p = out_of_fold_probabilities(
        x, y, groups, n_classes, config, augmented=(features.x_aug, features.aug_index)
    )
    scores = ood.out_of_fold_scores(x, y, groups, n_classes, folds=config.folds, seed=config.seed)
    return Interpretation.of(
        data.labels,
        y,
        p,
        scores,
        rule.is_unknown(p, scores),
        [s.relative for s in samples],
        [s.path for s in samples],
        rule.is_uncertain(p),
    )


def evaluate_held_out(
    data: TrainingData,
    features: Features,
    head: FittedHead,
    rule: UnknownRule,
    config: TrainConfig,
) -> HeldOutEvaluation:
    # Acceptance is always measured on the test photos, which took no part in choosing
    # the threshold (out-of-fold scores of every photo would include calibration photos).
    test = _test_split(data, features, head, rule)
    if data.cross_validate:
        interpretation = _cross_validated(data, features, rule, config)
        kind = f"{config.folds}-fold cross-validation, duplicates grouped"
    else:
        interpretation, kind = test, "test split"
    return HeldOutEvaluation(
        interpretation, kind, test.acceptance(rule.negative_idx), score_probes(features, head, rule)
    )
