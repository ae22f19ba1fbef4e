"""report.html: one self-contained page a person would rather look at than read, and
metrics.json beside it for machines.

Plots are SVG charts and thumbnails are JPEGs, both inlined as data URIs, so the
file can be mailed or opened from anywhere. Every number comes from held-out images,
through one :class:`training.evaluation.interpretation.Interpretation`; the page is rendered
section by section (:mod:`training.evaluation.report.sections`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from training.atomic import atomic_write
from training.evaluation.interpretation import Interpretation
from training.evaluation.metrics import Metrics

if TYPE_CHECKING:
    from training.data.doctor.shortcut_audit import ShortcutWarning
    from training.evaluation.where_it_looked import WhereItLooked


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
    metrics: Metrics  # every figure the page shows (and metrics.json holds)
    interpretation: Interpretation  # the same photos, for the galleries and plots
    history: Mapping[str, Sequence[float]] = field(default_factory=dict)  # head's curves
    probes: Probes | None = None
    facts: dict[str, str] = field(default_factory=dict)  # small key/value table
    raw_probabilities: np.ndarray | None = None  # before temperature scaling
    where: WhereItLooked | None = None  # heatmaps and shortcut warnings
    dataset_shortcuts: Sequence[ShortcutWarning] = ()  # the check's, with example photos
    # (--unknown-acceptance, the threshold it gives): the unknown trade-off's marked points
    unknown_points: Sequence[tuple[float, float]] = ()

    @property
    def labels(self) -> tuple[str, ...]:
        return self.interpretation.labels


def write_metrics(path: str | os.PathLike[str], metrics: Metrics) -> Path:
    """``metrics.json``: the report's numbers, for machines (schema: metrics.schema.json)."""
    text = json.dumps(metrics.to_dict(), indent=2, ensure_ascii=False) + "\n"
    return atomic_write(path, text)


def render(data: ReportInput) -> str:
    """The whole page as a string."""
    from training.evaluation.report.page import document
    from training.evaluation.report.sections import SECTIONS

    return document(data.title, "\n".join(section(data) for section in SECTIONS))


def write_report(data: ReportInput, path: str | os.PathLike[str]) -> Path:
    return atomic_write(path, render(data))


__all__ = ["Probes", "ReportInput", "render", "write_metrics", "write_report"]
