"""report.html: one self-contained page a person would rather look at than read, and
metrics.json beside it for machines.

Plots are matplotlib PNGs and thumbnails are JPEGs, both inlined as data URIs, so the
file can be mailed or opened from anywhere. Every number comes from held-out images,
through one :class:`training.evaluation.interpretation.Interpretation`; the page is rendered
section by section (:mod:`training.evaluation.report.sections`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from training.atomic import atomic_write
from training.evaluation.interpretation import Interpretation


@dataclass(frozen=True)
class Probes:
    """Unrelated photos and what the unknown rule said about them."""

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


@dataclass(frozen=True)
class ReportInput:
    title: str
    metrics: dict[str, Any]
    interpretation: Interpretation
    evaluation_kind: str = "test split"  # or "5-fold cross-validation", "folder X"
    history: dict[str, list[float]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    probes: Probes | None = None
    threshold: float | None = None
    facts: dict[str, str] = field(default_factory=dict)  # small key/value table
    raw_probabilities: np.ndarray | None = None  # before temperature scaling
    label_issues: Sequence[Any] = ()  # training.evaluation.label_review.LabelIssue, worst first
    where: Any = None  # training.pipeline.look.WhereItLooked: heatmaps, shortcut warnings
    dataset_shortcuts: Sequence[Any] = ()  # the check's ShortcutWarning, with example photos

    @property
    def labels(self) -> tuple[str, ...]:
        return self.interpretation.labels


def write_metrics(path: str | os.PathLike[str], metrics: dict[str, Any]) -> Path:
    """``metrics.json``: the report's numbers, for machines (schema: metrics.schema.json)."""
    return atomic_write(path, json.dumps(metrics, indent=2, ensure_ascii=False) + "\n")


def render(data: ReportInput) -> str:
    """The whole page as a string."""
    from training.evaluation.report.page import document
    from training.evaluation.report.sections import SECTIONS

    return document(data.title, "\n".join(section(data) for section in SECTIONS))


def write_report(data: ReportInput, path: str | os.PathLike[str]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    return atomic_write(path, render(data))


__all__ = ["Probes", "ReportInput", "render", "write_metrics", "write_report"]
