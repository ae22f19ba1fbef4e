"""Benchmark the check's shortcut audit on real photos: which warnings fire, and its cost.

Folders (temporary copies; ``../shared/data`` is never changed):

- ``vader_elsa`` as it is (must be silent);
- ``vader_elsa`` with a thin black frame (7% of the shorter side) on every Elsa photo;
- ``vader_elsa`` with black bars above and below every Elsa photo (a letterbox);
- ``vader_elsa`` with every Elsa photo saved as PNG;
- ``vader_elsa`` with every Elsa photo enlarged 3x (camera size against web thumbnails);
- ``vader_elsa`` with a small logo in the bottom-right corner of every Elsa photo;
- ``crow`` as it is (the camera model almost determines the class: should warn);
- the demo's generated sample photos (must be silent).

Then the check's speed on ``vader_elsa`` with and without the audit (photos/s).

Run (from the project root): .venv/bin/python -m bench.bench_shortcut_audit
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from tests.helpers.shortcut_planting import enlarged, framed, letterboxed, with_logo
from training.data.doctor import check_dataset
from training.data.sampledata import generate

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
VADER_ELSA = SHARED / "vader_elsa"
CROW = SHARED / "crow"


def logo(img: Image.Image) -> Image.Image:
    return with_logo(img, share=0.11, min_side=12)


def enlarged3(img: Image.Image) -> Image.Image:
    return enlarged(img, factor=3)


def altered_copy(
    dest: Path, change: Callable[[Image.Image], Image.Image], fmt: str = "JPEG"
) -> Path:
    """vader_elsa with every elsa/ photo changed and saved as ``fmt`` (JPEGs at quality 75,
    about what the originals have, so that the compression does not tell them apart)."""
    shutil.copytree(VADER_ELSA, dest)
    for path in sorted((dest / "elsa").iterdir()):
        with Image.open(path) as img:
            new = change(img.convert("RGB"))
        path.unlink()
        suffix = ".png" if fmt == "PNG" else ".jpg"
        new.save(path.with_suffix(suffix), fmt, **({"quality": 75} if fmt == "JPEG" else {}))
    return dest


def describe(root: Path) -> str:
    report = check_dataset(root, progress=False)
    audit = report.shortcut_audit
    combined = audit.combined if audit else None
    knn = (
        f"facts classifier {combined.accuracy:.0%} ({combined.interval[0]:.0%}-"
        f"{combined.interval[1]:.0%}) vs majority {combined.majority:.0%}"
        if combined
        else "no audit"
    )
    warned = [f"{w.fact} -> {w.label or 'all'}" for w in report.shortcut_warnings]
    return f"{', '.join(warned) or 'silent':<40} {knn}; audit {audit.seconds if audit else 0:.2f} s"


def speed(root: Path, repeats: int = 2) -> str:
    files = sum(1 for p in root.rglob("*") if p.is_file())
    rows = []
    for audit in (False, True):
        best = min(_timed(root, audit) for _ in range(repeats))
        rows.append(
            f"{'with' if audit else 'without'} audit {files / best:.0f} photos/s ({best:.2f} s)"
        )
    return "; ".join(rows)


def _timed(root: Path, audit: bool) -> float:
    start = time.perf_counter()
    check_dataset(root, progress=False, audit=audit)
    return time.perf_counter() - start


def main() -> None:
    print(f"cpus: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}")
    if not VADER_ELSA.is_dir():
        print(f"{VADER_ELSA} not found: nothing to measure")
        return
    with tempfile.TemporaryDirectory(prefix="isit-bench-audit-") as tmp:
        base = Path(tmp)
        cases: list[tuple[str, Callable[[], Path]]] = [
            ("vader_elsa (clean)", lambda: VADER_ELSA),
            ("elsa framed 7% black", lambda: altered_copy(base / "frame", framed)),
            ("elsa letterboxed", lambda: altered_copy(base / "bars", letterboxed)),
            ("elsa as PNG", lambda: altered_copy(base / "png", lambda i: i, "PNG")),
            ("elsa enlarged 3x", lambda: altered_copy(base / "big", enlarged3)),
            ("elsa with a corner logo", lambda: altered_copy(base / "logo", logo)),
            ("crow (camera confounded)", lambda: CROW),
            ("sample photos (generate)", lambda: generate(base / "sample", per_class=40)),
        ]
        print(f"{'folder':<28} {'warnings (fact -> class)':<40} numbers")
        for name, make in cases:
            root = make()
            if root.is_dir():
                print(f"{name:<28} {describe(root)}")
        print(f"\ncheck speed on vader_elsa: {speed(VADER_ELSA)}")
        print(f"check speed on elsa enlarged 3x: {speed(base / 'big')}")


if __name__ == "__main__":
    main()
