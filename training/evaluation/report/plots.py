"""The report's plots: matplotlib figures as inlined PNG data URIs."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from training.evaluation.classification import reliability_bins


def png_uri(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=96, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def confusion_png(labels: Sequence[str], matrix: Sequence[Sequence[int]]) -> str:
    import matplotlib.pyplot as plt

    m = np.asarray(matrix)
    size = 1.2 + 0.7 * len(labels)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    ax.imshow(m, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    top = m.max() if m.size else 0
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            colour = "white" if top and m[i, j] > top / 2 else "black"
            ax.text(j, i, str(m[i, j]), ha="center", va="center", color=colour)
    ax.set_title("confusion matrix")
    return png_uri(fig)


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


def regularisation_png(curve: RegularisationCurve) -> str:
    """The exact head's choice: the inner-CV score of each regularisation strength C."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.semilogx(curve.c, curve.scores, "o-")
    ax.axvline(
        curve.chosen_c, color="red", linestyle=":", label=f"chosen, C = {curve.chosen_c:.3g}"
    )
    ax.set_xlabel("C (weaker regularisation to the right)")
    ax.set_ylabel(curve.quantity)
    ax.legend()
    return png_uri(fig)


def curves_png(history: Mapping[str, Sequence[float]]) -> str | None:
    import matplotlib.pyplot as plt

    curve = RegularisationCurve.of(history)
    if curve is not None:
        return regularisation_png(curve)
    if not history.get("loss"):
        return None
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
        for key, style in ((metric, "-"), (f"val_{metric}", "--")):
            if key in history:
                ax.plot(range(1, len(history[key]) + 1), history[key], style, label=key)
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.legend()
    return png_uri(fig)


def ood_png(held_out: np.ndarray, probes: np.ndarray | None, threshold: float) -> str:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3))
    values = [v for v in (held_out, probes) if v is not None and len(v)]
    top = max(float(np.max(v)) for v in values) if values else 1.0
    bins = np.linspace(0, max(top, threshold) * 1.05 + 1e-6, 40)
    ax.hist(held_out, bins=bins, alpha=0.6, label="your held-out photos")
    if probes is not None and len(probes):
        ax.hist(probes, bins=bins, alpha=0.6, label="unrelated photos (probes)")
    ax.axvline(threshold, color="red", label=f"threshold {threshold:.3f}")
    ax.set_xlabel("unknown score (higher = less like the training photos)")
    ax.legend()
    return png_uri(fig)


def reliability_png(raw: np.ndarray, calibrated: np.ndarray, y: np.ndarray, bins: int = 10) -> str:
    """Confidence against accuracy, before and after temperature scaling."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.2, 4))
    ax.plot([0, 1], [0, 1], ":", color="grey", label="perfect")
    for probabilities, style, name in ((raw, "o--", "before"), (calibrated, "s-", "after")):
        if len(y):
            curve = reliability_bins(probabilities, y, bins)
            conf, acc = [c for _, c, _ in curve], [r for _, _, r in curve]
            ax.plot(conf, acc, style, label=f"{name} temperature scaling")
    ax.set_xlabel("confidence of the answer")
    ax.set_ylabel("share right")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title("reliability")
    return png_uri(fig)


def average_heatmap_png(grid: np.ndarray) -> str:
    """A class's average evidence map (already upsampled) as a small viridis image."""
    from training.evaluation.report.overlay import colourise

    image = colourise(grid / max(float(grid.max()), 1e-12), 112)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
