"""The report shows the unknown threshold's trade-off on the user's own folder: the
threshold each --unknown-acceptance would choose, with its held-out photos accepted and
unrelated photos rejected, the model's own row marked (issue 22)."""

from __future__ import annotations

import re

import numpy as np

from training.evaluation.interpretation import Interpretation
from training.evaluation.metrics import FolderRun, Metrics, Split, UnknownMetrics
from training.evaluation.proportions import proportion
from training.evaluation.report import Probes, ReportInput
from training.evaluation.report.sections import unknown_photos
from training.pipeline.threshold import REPORTED_TARGETS, UnknownRule


def _report(rule: UnknownRule, held_scores: np.ndarray, probe_scores: np.ndarray) -> str:
    n = len(held_scores)
    interp = Interpretation.of(
        ("a", "b"), [0] * n, np.tile([[0.9, 0.1]], (n, 1)), held_scores,
        held_scores > rule.threshold, [f"a/{i}.png" for i in range(n)], [b""] * n,
    )  # fmt: skip
    probes = Probes.of([(f"p{i}", b"") for i in range(len(probe_scores))], probe_scores,
                       probe_scores > rule.threshold)  # fmt: skip
    metrics = Metrics(
        evaluation="test split", outcomes=interp.outcomes([]), best_guess=interp.best_guess(),
        unknown=UnknownMetrics(threshold=rule.threshold, uncertain_margin=0.2,
                               accepted=interp.acceptance([]),
                               probes_rejected=proportion(int((probe_scores > rule.threshold)
                                                              .sum()), len(probe_scores)),
                               acceptance_target=rule.target),
        split=Split(train=0, val=0, test=n), labels=interp.labels, backbone="test",
        warnings=(), folder=FolderRun(model_name="t", model_version="1", skipped=0, set_aside=0),
    )  # fmt: skip
    data = ReportInput(title="t", metrics=metrics, interpretation=interp, probes=probes,
                       unknown_points=rule.reported_points())  # fmt: skip
    return unknown_photos(data)


def test_the_report_tabulates_each_acceptance_target_on_the_folder():
    import matplotlib

    matplotlib.use("Agg")
    calibration = np.linspace(0.0, 1.0, 101)  # the k-th score accepts k of 101
    rule = UnknownRule(threshold=0.0, negative_labels=(), negative_idx=(),
                       calibration=calibration, target=0.97, uncertain_margin=0.2)  # fmt: skip
    rule = UnknownRule(rule.threshold_at(0.97), (), (), calibration, 0.97, 0.2)
    held = np.linspace(0.0, 1.0, 50)
    probes = np.array([0.5, 0.92, 0.985, 0.995])
    html = _report(rule, held, probes)
    assert "The threshold accepts 97% of your photos" in html
    rows = re.findall(r"<tr><td>([^<]+)</td><td>([^<]+)</td><td>([^<]+)</td><td>([^<]+)</td>", html)
    targets = [r[0] for r in rows]
    assert REPORTED_TARGETS == (0.9, 0.95, 0.98, 0.99)
    assert targets == ["0.9", "0.95", "0.97 (this model)", "0.98", "0.99"]
    for target_text, threshold_text, accepted, rejected in rows:
        target = float(target_text.split()[0])
        cut = rule.threshold_at(target)
        assert float(threshold_text) == round(cut, 4)
        assert accepted.startswith(f"{100 * np.mean(held <= cut):.0f}%")
        assert rejected.startswith(f"{100 * np.mean(probes > cut):.0f}%")
    # A higher target: a looser threshold, more of your photos, fewer unrelated rejected.
    cuts = [float(r[1]) for r in rows]
    assert cuts == sorted(cuts)


def test_no_trade_off_without_unrelated_photos():
    rule = UnknownRule(0.5, (), (), np.linspace(0, 1, 11), 0.95, 0.2)
    assert "The trade-off" not in _report(rule, np.linspace(0, 1, 10), np.zeros(0))
