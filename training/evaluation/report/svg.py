"""Small SVG charts for the report, written directly: lines, markers, histogram bars,
reference lines, a legend, a labelled matrix. Why not matplotlib: importing and drawing
it cost more than the rest of the report, on every `isit train` (issue 25,
docs/benchmarks.md); these charts need none of its features. Each chart is an
``<img>`` data URI, so the page stays one self-contained file.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

import numpy as np

# matplotlib's default colours, which the charts used before
BLUE, ORANGE, GREEN, RED, GREY = "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#7f7f7f"
FONT = "font-family='DejaVu Sans, Arial, sans-serif' font-size='12'"
DASHES = {"-": "", "--": "6 4", ":": "2 3"}
MARGIN = (62, 16, 30, 48)  # left, right, top, bottom: room for ticks and labels


def data_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def nice_ticks(low: float, high: float, count: int = 6) -> list[float]:
    """Round values (1, 2 or 5 times a power of ten apart) spanning ``low..high``."""
    if not high > low:
        return [low]
    raw = (high - low) / count
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step - 1e-9)
    last = math.floor(high / step + 1e-9)
    return [round(k * step, 12) for k in range(first, last + 1)]


def _label(value: float) -> str:
    return f"{value:g}"


@dataclass
class Chart:
    """One plot area: ``x`` / ``y`` ranges in data units (``log_x``: a log10 x axis)."""

    width: int
    height: int
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    x_label: str = ""
    y_label: str = ""
    title: str = ""
    log_x: bool = False
    parts: list[str] = field(default_factory=list)
    legend: list[tuple[str, str, str]] = field(default_factory=list)  # label, colour, style

    def _x(self, value: float) -> float:
        low, high = self.x_range
        if self.log_x:
            value, low, high = math.log10(value), math.log10(low), math.log10(high)
        left, right = MARGIN[0], self.width - MARGIN[1]
        return left + (value - low) / ((high - low) or 1.0) * (right - left)

    def _y(self, value: float) -> float:
        low, high = self.y_range
        top, bottom = MARGIN[2], self.height - MARGIN[3]
        return bottom - (value - low) / ((high - low) or 1.0) * (bottom - top)

    def line(self, xs: Sequence[float], ys: Sequence[float], colour: str = BLUE,
             style: str = "-", marker: str = "", label: str = "") -> None:  # fmt: skip
        """A polyline (``style``: ``-``, ``--`` or ``:``); ``marker``: ``o`` or ``s``."""
        points = " ".join(f"{self._x(x):.1f},{self._y(y):.1f}" for x, y in zip(xs, ys, strict=True))
        if style:
            dashes = DASHES[style]
            self.parts.append(f"<polyline points='{points}' fill='none' stroke='{colour}' "
                              f"stroke-width='1.6' stroke-dasharray='{dashes}'/>")  # fmt: skip
        for x, y in zip(xs, ys, strict=True):
            self.marker(x, y, colour, marker)
        if label:
            self.legend.append((label, colour, style or marker))

    def marker(self, x: float, y: float, colour: str, shape: str = "o") -> None:
        cx, cy = self._x(x), self._y(y)
        if shape == "o":
            self.parts.append(f"<circle cx='{cx:.1f}' cy='{cy:.1f}' r='3.5' fill='{colour}'/>")
        elif shape == "s":
            self.parts.append(f"<rect x='{cx - 3.5:.1f}' y='{cy - 3.5:.1f}' width='7' height='7' "
                              f"fill='{colour}'/>")  # fmt: skip

    def bars(self, edges: np.ndarray, counts: np.ndarray, colour: str, label: str = "") -> None:
        """A histogram: ``counts[i]`` over ``edges[i]..edges[i + 1]``, see-through."""
        base = self._y(self.y_range[0])
        for left, right, count in zip(edges[:-1], edges[1:], counts, strict=True):
            if count > 0:
                x, top = self._x(left), self._y(count)
                self.parts.append(
                    f"<rect x='{x:.1f}' y='{top:.1f}' width='{self._x(right) - x:.1f}' "
                    f"height='{base - top:.1f}' fill='{colour}' fill-opacity='0.6'/>"
                )
        if label:
            self.legend.append((label, colour, "bar"))

    def vline(self, x: float, colour: str = RED, style: str = "-", label: str = "") -> None:
        self.line([x, x], list(self.y_range), colour, style)
        if label:
            self.legend.append((label, colour, style))

    def text(self, x: float, y: float, words: str, dx: float = 6, dy: float = 12) -> None:
        self.parts.append(f"<text x='{self._x(x) + dx:.1f}' y='{self._y(y) + dy:.1f}' "
                          f"{FONT}>{escape(words)}</text>")  # fmt: skip

    def _axes(self) -> list[str]:
        left, right = MARGIN[0], self.width - MARGIN[1]
        top, bottom = MARGIN[2], self.height - MARGIN[3]
        out = [f"<rect x='{left}' y='{top}' width='{right - left}' height='{bottom - top}' "
               "fill='none' stroke='#333'/>"]  # fmt: skip
        if self.log_x:
            low, high = (math.log10(v) for v in self.x_range)
            x_ticks = [10.0**k for k in range(math.ceil(low - 1e-9), math.floor(high + 1e-9) + 1)]
        else:
            x_ticks = nice_ticks(*self.x_range)
        for value in x_ticks:
            x = self._x(value)
            out.append(f"<line x1='{x:.1f}' y1='{bottom}' x2='{x:.1f}' y2='{bottom + 4}' "
                       f"stroke='#333'/><text x='{x:.1f}' y='{bottom + 17}' text-anchor='middle' "
                       f"{FONT}>{_label(value)}</text>")  # fmt: skip
        for value in nice_ticks(*self.y_range):
            y = self._y(value)
            out.append(f"<line x1='{left - 4}' y1='{y:.1f}' x2='{left}' y2='{y:.1f}' "
                       f"stroke='#333'/><text x='{left - 7}' y='{y + 4:.1f}' text-anchor='end' "
                       f"{FONT}>{_label(value)}</text>")  # fmt: skip
        middle = (left + right) / 2
        if self.x_label:
            out.append(f"<text x='{middle:.0f}' y='{self.height - 8}' text-anchor='middle' "
                       f"{FONT}>{escape(self.x_label)}</text>")  # fmt: skip
        if self.y_label:
            out.append(f"<text transform='translate(14 {(top + bottom) / 2:.0f}) rotate(-90)' "
                       f"text-anchor='middle' {FONT}>{escape(self.y_label)}</text>")  # fmt: skip
        if self.title:
            out.append(f"<text x='{middle:.0f}' y='18' text-anchor='middle' {FONT} "
                       f"font-weight='bold'>{escape(self.title)}</text>")  # fmt: skip
        return out

    def _legend(self) -> list[str]:
        out, x, y = [], MARGIN[0] + 10, MARGIN[2] + 16
        for label, colour, style in self.legend:
            if style == "bar":
                out.append(f"<rect x='{x}' y='{y - 9}' width='16' height='9' fill='{colour}' "
                           "fill-opacity='0.6'/>")  # fmt: skip
            elif style in DASHES:
                out.append(f"<line x1='{x}' y1='{y - 4}' x2='{x + 16}' y2='{y - 4}' "
                           f"stroke='{colour}' stroke-width='1.6' "
                           f"stroke-dasharray='{DASHES[style]}'/>")  # fmt: skip
            else:
                out.append(f"<circle cx='{x + 8}' cy='{y - 4}' r='3.5' fill='{colour}'/>")
            out.append(f"<text x='{x + 22}' y='{y}' {FONT}>{escape(label)}</text>")
            y += 17
        return out

    def svg(self) -> str:
        body = "".join([*self._axes(), *self.parts, *self._legend()])
        return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{self.width}' "
                f"height='{self.height}' viewBox='0 0 {self.width} {self.height}'>"
                f"<rect width='100%' height='100%' fill='white'/>{body}</svg>")  # fmt: skip

    def uri(self) -> str:
        return data_uri(self.svg())


def _cell(x: int, y: int, size: int, count: int, share: float) -> str:
    """One count on a white-to-blue shade (matplotlib's "Blues" ends), white ink when dark."""
    shade = tuple(round(a + (b - a) * share) for a, b in ((247, 8), (251, 48), (255, 107)))
    ink = "white" if share > 0.5 else "black"
    return (f"<rect x='{x}' y='{y}' width='{size}' height='{size}' fill='rgb{shade}'/>"
            f"<text x='{x + size / 2}' y='{y + size / 2 + 4}' text-anchor='middle' "
            f"fill='{ink}' {FONT}>{count}</text>")  # fmt: skip


def matrix(labels: Sequence[str], counts: np.ndarray, title: str) -> str:
    """A labelled count matrix (rows: true class, columns: predicted), shaded in blues."""
    longest = max((len(s) for s in labels), default=1)
    cell, left, top, n = 56, 30 + 7 * longest, 36, len(labels)
    width, height = left + n * cell + 16, top + n * cell + 30 + 7 * longest
    peak = float(counts.max()) if counts.size else 0.0
    parts = [f"<text x='{left + n * cell / 2:.0f}' y='20' text-anchor='middle' {FONT} "
             f"font-weight='bold'>{escape(title)}</text>"]  # fmt: skip
    for i in range(n):
        for j in range(n):
            share = counts[i, j] / peak if peak else 0.0
            parts.append(_cell(left + j * cell, top + i * cell, cell, int(counts[i, j]), share))
    for k, label in enumerate(labels):
        middle = k * cell + cell / 2
        parts.append(f"<text x='{left - 6}' y='{top + middle + 4}' text-anchor='end' "
                     f"{FONT}>{escape(label)}</text>")  # fmt: skip
        parts.append(f"<text transform='translate({left + middle + 4} {top + n * cell + 8}) "
                     f"rotate(-45)' text-anchor='end' {FONT}>{escape(label)}</text>")  # fmt: skip
    parts.append(f"<text x='{left + n * cell / 2:.0f}' y='{height - 4}' text-anchor='middle' "
                 f"{FONT}>predicted</text><text transform='translate(12 {top + n * cell / 2:.0f}) "
                 f"rotate(-90)' text-anchor='middle' {FONT}>true</text>")  # fmt: skip
    return data_uri(f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' "
                    f"height='{height}'><rect width='100%' height='100%' fill='white'/>"
                    f"{''.join(parts)}</svg>")  # fmt: skip
