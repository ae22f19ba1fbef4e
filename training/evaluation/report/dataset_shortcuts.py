"""The report's "Possible shortcuts" section: what the check found the classes' photos
share apart from their subject (a frame, a format, a size, a camera, a corner mark), with
a few example photos of each class, right after the headline."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from training.evaluation.report.page import esc, gallery

if TYPE_CHECKING:
    from training.evaluation.report import ReportInput


def _examples(warning: Any) -> str:
    """Per class, a few of its photos: those with the fact in the class warned about, those
    without it in the others."""
    root = Path(warning.root) if warning.root is not None else None
    if root is None or not warning.examples:
        return ""
    rows = []
    for label, paths in warning.examples.items():
        if not paths:
            continue
        with_it, of = warning.shares.get(label, (0, 0))
        caption = f"{esc(label)}/ ({with_it} of {of} have it)" if warning.fact != "combined" else ""
        items = [(root / path, f"<small>{esc(Path(path).name)}</small>") for path in paths]
        rows.append(f"<div><p><b>{caption or esc(label) + '/'}</b></p>{gallery(items)}</div>")
    return "<div class='row'>" + "".join(rows) + "</div>"


def dataset_shortcuts(data: ReportInput) -> str:
    """The check's shortcut warnings, each with example photos; nothing when it found none."""
    warnings = list(data.dataset_shortcuts)
    if not warnings:
        return ""
    parts = [
        "<h2>Possible shortcuts in the photos</h2>"
        "<p class='muted'>Something other than the subject tells these classes apart. The "
        "model may have learnt it, and the numbers above would then promise more than it "
        "does on photos without it.</p>"
    ]
    for warning in warnings:
        parts.append(f"<ul class='warnings'><li>{esc(warning.message)}</li></ul>")
        parts.append(_examples(warning))
    return "".join(parts)
