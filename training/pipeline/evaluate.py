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


@dataclass(frozen=True)
class HeldOutEvaluation:
    interpretation: Interpretation
    kind: str  # "test split" or "5-fold cross-validation, duplicates grouped"
    accepted: float  # share of test photos of real classes not answered unknown...
    accepted_n: int  # ...of this many
    probes: ProbeResult

    def unknown_metrics(self, rule: UnknownRule) -> dict[str, Any]:
        """The ``unknown`` block of metrics.json."""
        return {
            "threshold": rule.threshold,
            "method": rule.method,
            "in_distribution_accepted": self.accepted,
            "in_distribution_n": self.accepted_n,
            "probe_rejected": self.probes.rejected_share,
            "probe_n": len(self.probes.items),
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
    accepted, accepted_n = test.accepted_share(rule.negative_idx)
    if data.cross_validate:
        interpretation = _cross_validated(data, features, rule, config)
        kind = f"{config.folds}-fold cross-validation, duplicates grouped"
    else:
        interpretation, kind = test, "test split"
    return HeldOutEvaluation(
        interpretation, kind, accepted, accepted_n, score_probes(features, head, rule)
    )
