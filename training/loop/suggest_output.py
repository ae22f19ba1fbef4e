"""``isit suggest``'s outputs: ``suggest.csv`` and ``suggest.html`` (thumbnails inlined)."""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path

from training.atomic import atomic_write
from training.evaluation.report.page import document, esc, gallery, table
from training.loop.inbox import text_cell
from training.loop.model_features import ModelFeatures
from training.loop.suggestions import Ranked, rank
from training.settings import UNCERTAIN_MARGIN

CSV_COLUMNS = ("rank", "path", "best_guess", "confidence", "ood_score", "why")


@dataclass(frozen=True)
class SuggestResult:
    csv_path: Path
    page_path: Path
    ranked: Ranked
    scored: int  # photos read and scored
    shown: list[str]  # each scored photo's name as the user gave it (Suggestion.index)
    unreadable: list[tuple[Path, str]]


def _csv(ranked: Ranked, shown: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for s in ranked.suggestions:
        cells = (s.rank, shown[s.index], s.best_guess, f"{s.confidence:.4f}", f"{s.ood:.4f}", s.why)
        writer.writerow([text_cell(c) for c in cells])
    return buffer.getvalue()


def _page(ranked: Ranked, paths: list[Path], shown: list[str], intro: str) -> str:
    items = [
        (
            paths[s.index],
            f"<b>#{s.rank}</b> {esc(shown[s.index])}<br>best guess {esc(s.best_guess)} "
            f"({100 * s.confidence:.0f}%)<br><span class='muted'>{esc(s.why)}</span>",
        )
        for s in ranked.suggestions
    ]
    rows = [
        [
            str(s.rank),
            esc(shown[s.index]),
            esc(s.best_guess),
            f"{s.confidence:.3f}",
            f"{s.ood:.3f}",
            esc(s.why),
        ]
        for s in ranked.suggestions
    ]
    return document(
        "isit suggest: photos to label first",
        f"<h1>Photos to label first</h1><p>{esc(intro)}</p>"
        + gallery(items)
        + "<h2>In order</h2>"
        + table(rows, ["rank", "photo", "best guess", "confidence", "unknown score", "why"]),
    )


def suggest(
    model_path: str | os.PathLike[str],
    files: list[tuple[Path, str]],
    out_dir: Path,
    *,
    top: int,
) -> SuggestResult:
    """Score ``files`` ((path, shown name) pairs) with the model, rank, write both files."""
    model = ModelFeatures(model_path)
    scored = model.score([path for path, _ in files])
    shown_of = {path: shown for path, shown in files}
    shown = [shown_of[path] for path in scored.paths]
    bundle = model.bundle
    ranked = rank(
        tuple(bundle.labels),
        scored.probabilities,
        scored.ood,
        scored.features,
        threshold=float(bundle.threshold),
        # A model from before "uncertain" existed carries 0: the training default then.
        unsure_margin=float(bundle.margin) or UNCERTAIN_MARGIN,
        top=top,
    )
    intro = (
        f"{len(ranked.suggestions)} of {len(scored.paths)} photos, the ones {bundle.metadata.name} "
        f"is least sure of or that look least like its training photos; near-copies of a "
        f"photo already listed are left out ({ranked.near_copies} here). Similarity: "
        f"{model.features_kind}. Label these first: move each into the right class folder "
        "of your data, then train again."
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path = atomic_write(out_dir / "suggest.csv", _csv(ranked, shown))
    page_path = atomic_write(out_dir / "suggest.html", _page(ranked, scored.paths, shown, intro))
    return SuggestResult(csv_path, page_path, ranked, len(scored.paths), shown, scored.unreadable)
