"""The report's plots: small SVG charts (:mod:`training.evaluation.report.svg`) and
heatmap images, inlined as data URIs."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from training.evaluation.classification import reliability_bins
from training.evaluation.report.svg import BLUE, GREY, ORANGE, RED, Chart, matrix


def confusion_svg(labels: Sequence[str], counts: Sequence[Sequence[int]]) -> str:
    return matrix(labels, np.asarray(counts), "confusion matrix")


# What chose C (training.model.head's history keys) -> how the plot names it.
PICKED_BY = {"cv_error_rate": "error rate (each class counting equally)"}


@dataclass(frozen=True)
class RegularisationCurve:
    """What the regularisation plot draws: the score that chose C for each C of the grid,
    and the C the exported model uses (ties are broken by another score, so it need not
    be the curve's first minimum)."""

    c: tuple[float, ...]
    scores: tuple[float, ...]
    quantity: str  # what the scores are, in words
    chosen_c: float

    @classmethod
    def of(cls, history: Mapping[str, Sequence[float]]) -> RegularisationCurve | None:
        """From the exact head's history; None for a Keras head's (epochs, no C)."""
        key = next((k for k in PICKED_BY if history.get(k)), None)
        if not history.get("C") or key is None or not history.get("chosen_C"):
            return None
        return cls(tuple(history["C"]), tuple(history[key]), PICKED_BY[key],
                   float(history["chosen_C"][0]))  # fmt: skip


def regularisation_svg(curve: RegularisationCurve) -> str:
    """The exact head's choice: the inner-CV score of each regularisation strength C."""
    top = max(max(curve.scores, default=0.0), 1e-6)
    chart = Chart(500, 320, (min(curve.c), max(curve.c)), (0.0, top * 1.1),
                  "C (weaker regularisation to the right)", curve.quantity, log_x=True)  # fmt: skip
    chart.line(curve.c, curve.scores, BLUE, "-", "o")
    chart.vline(curve.chosen_c, RED, ":", f"chosen, C = {curve.chosen_c:.3g}")
    return chart.uri()


def curves_svg(history: Mapping[str, Sequence[float]]) -> str | None:
    """The regularisation choice (exact head), else a Keras head's loss by epoch."""
    curve = RegularisationCurve.of(history)
    if curve is not None:
        return regularisation_svg(curve)
    if not history.get("loss"):
        return None
    series = {k: history[k] for k in ("loss", "val_loss", "accuracy", "val_accuracy")
              if history.get(k)}  # fmt: skip
    top = max(max(v) for v in series.values())
    chart = Chart(640, 320, (1.0, float(max(len(history["loss"]), 2))), (0.0, top * 1.05),
                  "epoch", "loss and accuracy")  # fmt: skip
    styles = {"loss": (BLUE, "-"), "val_loss": (BLUE, "--"), "accuracy": (ORANGE, "-"),
              "val_accuracy": (ORANGE, "--")}  # fmt: skip
    for key, values in series.items():
        chart.line(range(1, len(values) + 1), values, *styles[key], label=key)
    return chart.uri()


def ood_svg(held_out: np.ndarray, probes: np.ndarray | None, threshold: float) -> str:
    values = [v for v in (held_out, probes) if v is not None and len(v)]
    top = max(float(np.max(v)) for v in values) if values else 1.0
    bins = np.linspace(0, max(top, threshold) * 1.05 + 1e-6, 40)
    tallest = max((int(np.histogram(v, bins)[0].max()) for v in values), default=1)
    chart = Chart(700, 300, (0.0, float(bins[-1])), (0.0, tallest * 1.1),
                  "unknown score (higher = less like the training photos)")  # fmt: skip
    chart.bars(bins, np.histogram(held_out, bins)[0], BLUE, "your held-out photos")
    if probes is not None and len(probes):
        chart.bars(bins, np.histogram(probes, bins)[0], ORANGE, "unrelated photos (probes)")
    chart.vline(threshold, RED, "-", f"threshold {threshold:.3f}")
    return chart.uri()


def reliability_svg(raw: np.ndarray, calibrated: np.ndarray, y: np.ndarray, bins: int = 10) -> str:
    """Confidence against accuracy, before and after temperature scaling."""
    chart = Chart(420, 400, (0.0, 1.02), (0.0, 1.02), "confidence of the answer", "share right",
                  "reliability")  # fmt: skip
    chart.line([0, 1], [0, 1], GREY, ":", label="perfect")
    for probabilities, style, marker, name in ((raw, "--", "o", "before"),
                                               (calibrated, "-", "s", "after")):  # fmt: skip
        if len(y):
            curve = reliability_bins(probabilities, y, bins)
            conf, acc = [c for _, c, _ in curve], [r for _, _, r in curve]
            colour = BLUE if name == "before" else ORANGE
            chart.line(conf, acc, colour, style, marker, f"{name} temperature scaling")
    return chart.uri()


def average_heatmap_png(grid: np.ndarray) -> str:
    """A class's average evidence map (already upsampled) as a small viridis image."""
    from training.evaluation.report.overlay import colourise

    image = colourise(grid / max(float(grid.max()), 1e-12), 112)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
