"""report.html: one self-contained page a person would rather look at than read.

Plots are matplotlib PNGs and thumbnails are JPEGs, both inlined as data URIs, so the
file can be mailed or opened from anywhere. Every number comes from held-out images.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from isit.errors import IsitError
from isit.imaging import decode, read_image_bytes

THUMB = 112


@dataclass
class HeldOut:
    """The held-out images and what the model said about them."""

    names: list[str]  # shown under thumbnails (relative paths)
    sources: list[Path | bytes]  # where to read the pictures
    y_true: np.ndarray
    probabilities: np.ndarray
    ood: np.ndarray
    unknown: np.ndarray


@dataclass
class Probes:
    names: list[str]
    sources: list[Path | bytes]
    ood: np.ndarray
    rejected: np.ndarray

    @classmethod
    def of(
        cls, items: Sequence[tuple[str, bytes]], ood: np.ndarray, rejected: np.ndarray
    ) -> Probes | None:
        """The probe photos ``(name, bytes)`` with their scores; ``None`` when there are none."""
        if not items:
            return None
        return cls([name for name, _ in items], [data for _, data in items], ood, rejected)


def write_metrics(path: Path, metrics: dict[str, Any]) -> Path:
    """``metrics.json``: the report's numbers, for machines."""
    path.write_text(json.dumps(metrics, indent=2, ensure_ascii=False), "utf-8")
    return path


@dataclass
class ReportInput:
    title: str
    labels: list[str]
    metrics: dict[str, Any]
    held_out: HeldOut
    evaluation_kind: str = "test split"  # or "5-fold cross-validation", "evaluation folder"
    history: dict[str, list[float]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    probes: Probes | None = None
    threshold: float | None = None
    facts: dict[str, str] = field(default_factory=dict)  # small key/value table


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=96, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _thumb(source: Path | bytes) -> str | None:
    try:
        data = source if isinstance(source, bytes) else read_image_bytes(source)
        img = decode(data, min_side=THUMB).image
    except (IsitError, OSError):
        return None
    img.thumbnail((THUMB, THUMB))
    buffer = io.BytesIO()
    img.save(buffer, "JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def _confusion_png(labels: list[str], matrix: list[list[int]]) -> str:
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
    return _png(fig)


def _curves_png(history: dict[str, list[float]]) -> str | None:
    import matplotlib.pyplot as plt

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
    return _png(fig)


def _ood_png(held_out: np.ndarray, probes: np.ndarray | None, threshold: float) -> str:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3))
    values = [held_out] + ([probes] if probes is not None and len(probes) else [])
    top = max(float(np.max(v)) for v in values if len(v)) if any(len(v) for v in values) else 1
    bins = np.linspace(0, max(top, threshold) * 1.05 + 1e-6, 40)
    ax.hist(held_out, bins=bins, alpha=0.6, label="your held-out photos")
    if probes is not None and len(probes):
        ax.hist(probes, bins=bins, alpha=0.6, label="unrelated photos (probes)")
    ax.axvline(threshold, color="red", label=f"threshold {threshold:.3f}")
    ax.set_xlabel("unknown score (higher = less like the training photos)")
    ax.legend()
    return _png(fig)


def _esc(value: Any) -> str:
    return html.escape(str(value))


def _gallery(items: Sequence[tuple[Path | bytes, str]]) -> str:
    if not items:
        return "<p class='muted'>none</p>"
    cells = []
    for source, caption in items:
        uri = _thumb(source)
        img = f"<img src='{uri}' alt=''>" if uri else "<div class='broken'>?</div>"
        cells.append(f"<figure>{img}<figcaption>{caption}</figcaption></figure>")
    return "<div class='gallery'>" + "".join(cells) + "</div>"


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def render(data: ReportInput) -> str:
    """The whole page as a string."""
    metrics = data.metrics
    test = metrics["test"]
    labels = data.labels
    held = data.held_out
    pred = held.probabilities.argmax(axis=1) if len(held.y_true) else np.zeros(0, int)
    confidence = held.probabilities.max(axis=1) if len(held.y_true) else np.zeros(0)
    wrong = np.flatnonzero(pred != held.y_true)
    right = np.flatnonzero(pred == held.y_true)

    def caption(i: int, score_of: int | None = None) -> str:
        """Thumbnail caption: the answer and its score (or one class's score), the truth."""
        answer = "unknown" if held.unknown[i] else labels[pred[i]]
        if score_of is None:
            head = f"<b>{_esc(answer)}</b> {confidence[i]:.3f}"
        else:
            head = (
                f"{_esc(labels[score_of])}: <b>{held.probabilities[i, score_of]:.3f}</b>"
                f"<br>answer: {_esc(answer)}"
            )
        return (
            f"{head}<br>true: {_esc(labels[held.y_true[i]])}<br>"
            f"<small>{_esc(held.names[i])}</small>"
        )

    worst = wrong[np.argsort(-confidence[wrong], kind="stable")][:10]
    unsure = right[np.argsort(confidence[right], kind="stable")][:10]
    parts: list[str] = []
    parts.append(f"<h1>{_esc(data.title)}</h1>")
    parts.append(
        f"<p class='headline'>{_pct(test['accuracy'])} correct on <b>{test['n']}</b> held-out "
        f"photos ({_esc(data.evaluation_kind)})</p>"
    )
    if data.facts:
        rows = "".join(
            f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in data.facts.items()
        )
        parts.append(f"<table class='facts'>{rows}</table>")
    if data.warnings:
        items = "".join(f"<li>{_esc(w)}</li>" for w in data.warnings)
        parts.append(f"<h2>Dataset warnings</h2><ul class='warnings'>{items}</ul>")

    parts.append("<h2>Per class</h2><div class='row'>")
    rows = "".join(
        f"<tr><td>{_esc(label)}</td><td>{v['n']}</td><td>{v['precision']:.3f}</td>"
        f"<td>{v['recall']:.3f}</td><td>{v['f1']:.3f}</td></tr>"
        for label, v in test["per_class"].items()
    )
    parts.append(
        "<table class='classes'><tr><th>class</th><th>n</th><th>precision</th><th>recall</th>"
        f"<th>F1</th></tr>{rows}</table>"
    )
    parts.append(
        f"<img class='plot' src='{_confusion_png(labels, test['confusion']['matrix'])}' "
        "alt='confusion matrix'></div>"
    )
    parts.append(
        f"<p class='muted'>Expected calibration error: {test['ece']:.3f} (0 = scores mean what "
        "they say).</p>"
    )

    parts.append("<h2>Most confidently wrong</h2>")
    parts.append(_gallery([(held.sources[i], caption(int(i))) for i in worst]))
    parts.append("<h2>Least confident right</h2>")
    parts.append(_gallery([(held.sources[i], caption(int(i))) for i in unsure]))

    for c in range(min(2, len(labels))):
        order = np.argsort(-held.probabilities[:, c], kind="stable") if len(pred) else []
        top = [(held.sources[i], caption(int(i), c)) for i in order[:10]]
        bottom = [(held.sources[i], caption(int(i), c)) for i in list(order[::-1][:10])]
        parts.append(f"<h2>Score for “{_esc(labels[c])}”: top 10</h2>{_gallery(top)}")
        parts.append(f"<h2>Score for “{_esc(labels[c])}”: bottom 10</h2>{_gallery(bottom)}")

    unknown = metrics.get("unknown")
    if unknown and data.threshold is not None:
        parts.append("<h2>Unknown photos</h2>")
        parts.append(
            f"<p>A photo is answered <b>unknown</b> when its unknown score is above "
            f"<b>{data.threshold:.4f}</b>. Of your held-out photos "
            f"<b>{_pct(unknown['in_distribution_accepted'])}</b> are accepted; of "
            f"{unknown.get('probe_n', 0)} unrelated photos that ship with scikit-image and "
            f"scikit-learn, <b>{_pct(unknown['probe_rejected'])}</b> are rejected.</p>"
        )
        probe_scores = data.probes.ood if data.probes else None
        parts.append(f"<img class='plot' src='{_ood_png(held.ood, probe_scores, data.threshold)}'>")
        if data.probes:
            items = [
                (
                    src,
                    f"{'rejected' if rej else '<b>accepted</b>'} {score:.3f}<br>"
                    f"<small>{_esc(name)}</small>",
                )
                for name, src, score, rej in zip(
                    data.probes.names,
                    data.probes.sources,
                    data.probes.ood,
                    data.probes.rejected,
                    strict=True,
                )
            ]
            parts.append(_gallery(items))

    curves = _curves_png(data.history)
    if curves:
        parts.append(f"<h2>Training curves</h2><img class='plot' src='{curves}' alt='curves'>")

    body = "\n".join(parts)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_esc(data.title)}</title>
<style>
body {{ font: 15px/1.45 system-ui, sans-serif; max-width: 1100px; margin: 2em auto;
       padding: 0 1em; color: #222; }}
.headline {{ font-size: 1.8em; margin: .3em 0; }}
.muted {{ color: #777; }}
table {{ border-collapse: collapse; margin: .5em 1.5em .5em 0; }}
td, th {{ border-bottom: 1px solid #ddd; padding: .25em .7em; text-align: left; }}
.row {{ display: flex; flex-wrap: wrap; align-items: flex-start; }}
.gallery {{ display: flex; flex-wrap: wrap; gap: 8px; }}
figure {{ margin: 0; width: {THUMB + 8}px; font-size: 12px; overflow-wrap: anywhere; }}
figure img, .broken {{ width: {THUMB}px; height: {THUMB}px; object-fit: contain;
       background: #f3f3f3; border-radius: 4px; }}
.plot {{ max-width: 100%; }}
.warnings li {{ color: #8a5a00; }}
</style></head>
<body>
{body}
</body></html>
"""


def write_report(data: ReportInput, path: str | os.PathLike[str]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".html.tmp")
    tmp.write_text(render(data), encoding="utf-8")
    tmp.replace(out)
    return out
