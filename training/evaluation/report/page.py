"""HTML building blocks of the report: escaping, thumbnails, galleries, the page shell."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from isit.errors import IsitError
from isit.imaging import decode, read_image_bytes

THUMB = 112

STYLE = f"""
body {{ font: 15px/1.45 system-ui, sans-serif; max-width: 1100px; margin: 2em auto;
       padding: 0 1em; color: #222; }}
.headline {{ font-size: 1.8em; margin: .3em 0; }}
.muted {{ color: #777; }}
table {{ border-collapse: collapse; margin: .5em 1.5em .5em 0; max-width: 100%; }}
td, th {{ border-bottom: 1px solid #ddd; padding: .25em .7em; text-align: left;
         overflow-wrap: anywhere; }}
code {{ overflow-wrap: anywhere; }}
/* A phone (390 px): long paths and file names wrap; nothing scrolls sideways. */
@media (max-width: 600px) {{ table {{ margin-right: 0; }} td, th {{ padding: .25em .4em; }} }}
.row {{ display: flex; flex-wrap: wrap; align-items: flex-start; }}
.gallery {{ display: flex; flex-wrap: wrap; gap: 8px; }}
figure {{ margin: 0; width: {THUMB + 8}px; font-size: 12px; overflow-wrap: anywhere; }}
figure img, .broken {{ width: {THUMB}px; height: {THUMB}px; object-fit: contain;
       background: #f3f3f3; border-radius: 4px; }}
.plot {{ max-width: 100%; }}
.warnings li {{ color: #8a5a00; }}
"""


def esc(value: Any) -> str:
    return html.escape(str(value))


def display_label(label: str) -> str:
    """``darth_vader`` -> ``Darth Vader``: the page's rule (site/js/labels.js), for people."""
    words = [w for w in label.replace("_", " ").replace("-", " ").split() if w]
    return " ".join(w[0].upper() + w[1:] for w in words) or label


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def thumbnail_uri(source: Path | bytes, heatmap: np.ndarray | None = None) -> str | None:
    """A small JPEG of the photo as a data URI, with ``heatmap`` (one class's ``[h, w]``
    evidence) over the model's input square when given; None when it cannot be read."""
    try:
        data = source if isinstance(source, bytes) else read_image_bytes(source)
        img = decode(data, min_side=THUMB).image
    except (IsitError, OSError):
        return None
    img.thumbnail((THUMB, THUMB))
    if heatmap is not None:
        from training.evaluation.report.overlay import draw_over

        img = draw_over(img, heatmap)
    buffer = io.BytesIO()
    img.save(buffer, "JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def gallery(
    items: Sequence[tuple[Path | bytes, str]],
    heatmaps: Sequence[np.ndarray | None] | None = None,
) -> str:
    """Thumbnails with their (already escaped) HTML captions, and heatmaps over them."""
    if not items:
        return "<p class='muted'>none</p>"
    cells = []
    for n, (source, caption) in enumerate(items):
        uri = thumbnail_uri(source, heatmaps[n] if heatmaps else None)
        img = f"<img src='{uri}' alt=''>" if uri else "<div class='broken'>?</div>"
        cells.append(f"<figure>{img}<figcaption>{caption}</figcaption></figure>")
    return "<div class='gallery'>" + "".join(cells) + "</div>"


def table(rows: Sequence[Sequence[str]], header: Sequence[str], css: str = "") -> str:
    """A table of already escaped cells."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table class='{css}'><tr>{head}</tr>{body}</table>"


def document(title: str, body: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)}</title>
<style>{STYLE}</style></head>
<body>
{body}
</body></html>
"""
