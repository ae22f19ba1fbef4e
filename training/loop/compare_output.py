"""``isit compare``'s outputs: lines for the terminal, compare.html and changes.csv."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from training.atomic import atomic_write
from training.evaluation.report.page import document, esc, gallery, table
from training.loop.comparison import Comparison, Paired
from training.loop.inbox import text_cell

CHANGES_COLUMNS = (
    "path", "sha256", "label_a", "label_b", "answer_a", "answer_b", "outcome_a", "outcome_b",
)  # fmt: skip
SHOWN = 30  # photos listed on the terminal per group


@dataclass(frozen=True)
class CompareFiles:
    page: Path
    changes: Path


def _outcome_line(c: Comparison, side: str) -> str:
    o = c.outcomes(side)
    name = getattr(c, side).name
    return (
        f"{name}: right on {o.right.k} of {o.right.n} ({o.right.interval()}); "
        f"not sure on {o.not_sure}, wrong on {o.wrong}"
    )


def _photo_line(p: Paired) -> str:
    label = p.a.label if not p.relabelled else f"{p.a.label} -> {p.b.label}"
    return (
        f"{p.b.path} [{label}]: {p.a.answer or '(trained on)'} ({p.a.outcome}) -> "
        f"{p.b.answer or '(trained on)'} ({p.b.outcome})"
    )


def summary_lines(c: Comparison) -> list[str]:
    lines = [
        f"data: {c.a.name} {c.a.rows} photos (fingerprint {c.a.fingerprint}), "
        f"{c.b.name} {c.b.rows} photos (fingerprint {c.b.fingerprint}); "
        f"{c.added} added, {c.removed} removed, {len(c.relabelled)} under another label",
        f"on the {len(c.same)} photos both held out under the same label:",
        "  " + _outcome_line(c, "a"),
        "  " + _outcome_line(c, "b"),
        "  " + c.verdict(),
    ]
    if c.relabelled:
        lines.append(f"{len(c.relabelled)} photos have another label in {c.b.name}:")
        lines += [f"  {_photo_line(p)}" for p in c.relabelled[:SHOWN]]
    changed = c.answer_changed
    lines.append(f"{len(changed)} photos answered differently:")
    lines += [f"  {_photo_line(p)}" for p in changed[:SHOWN]]
    more = max(len(changed), len(c.relabelled)) - SHOWN
    if more > 0:
        lines.append("  ... and more in changes.csv")
    return lines


def _changes_csv(c: Comparison) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CHANGES_COLUMNS)
    for p in [*c.relabelled, *c.answer_changed]:
        cells = (p.b.path, p.b.sha256, p.a.label, p.b.label, p.a.answer, p.b.answer,
                 p.a.outcome, p.b.outcome)  # fmt: skip
        writer.writerow([text_cell(x) for x in cells])
    return buffer.getvalue()


def _photos_html(pairs: list[Paired], sources: dict[str, Path] | None) -> str:
    if sources is not None:
        items = [(sources[p.b.path], esc(_photo_line(p))) for p in pairs if p.b.path in sources]
        return gallery(items)
    rows = [
        [esc(p.b.path), esc(p.a.label), esc(p.b.label), esc(p.a.answer), esc(p.b.answer),
         esc(p.a.outcome), esc(p.b.outcome)]
        for p in pairs
    ]  # fmt: skip
    header = ["photo", "label A", "label B", "answer A", "answer B", "A", "B"]
    return table(rows, header) if rows else "<p class='muted'>none</p>"


def write_compare(c: Comparison, out_dir: Path, sources: dict[str, Path] | None) -> CompareFiles:
    """``sources``: photo path -> file, for thumbnails (known with --folder)."""
    lines = summary_lines(c)
    body = (
        f"<h1>{esc(c.a.name)} → {esc(c.b.name)}</h1>"
        f"<p class='headline'>{esc(c.verdict())}</p>"
        + "".join(f"<p>{esc(line)}</p>" for line in lines[:4])
        + f"<h2>Another label in {esc(c.b.name)} ({len(c.relabelled)})</h2>"
        + _photos_html(c.relabelled, sources)
        + f"<h2>Answered differently ({len(c.answer_changed)})</h2>"
        + _photos_html(c.answer_changed, sources)
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    page = atomic_write(out_dir / "compare.html", document(f"isit compare: {c.b.name}", body))
    changes = atomic_write(out_dir / "changes.csv", _changes_csv(c))
    return CompareFiles(page, changes)
