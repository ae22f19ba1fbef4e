"""`make docs`: regenerate every screenshot the README shows, from the current code.

    .venv/bin/python -m docs.make_docs [--workdir DIR]

1. `isit demo` into WORKDIR/demo (the sample photos, a trained model, the report);
2. the page and the API on the dev host, in Chromium: a new sample photo (a circle drawn
   with another seed, 1000x1000), "Show where it looked" on -> docs/page-where-it-looked.png;
3. the demo's report, first screen -> docs/report-first-screen.png;
4. `isit train` on the demo's photos timed in new processes, features not cached then
   cached (bench.bench_retrain's way) -> the README's training time.

Why a script: screenshots taken by hand go stale (an old default backbone, a test's
temporary path); these are made from whatever the code does now. The demo runs from
WORKDIR, so the report names `demo/model/model.onnx`, not a temporary path.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
CHROMIUM = Path("/usr/bin/chromium")
PAGE_SHOT = DOCS / "page-where-it-looked.png"
REPORT_SHOT = DOCS / "report-first-screen.png"
VIEWPORT = {"width": 1280, "height": 800}
README = ROOT / "README.md"
TRAIN_TIME = ("<!-- train-time: make docs -->", "<!-- /train-time -->")


def train_demo(workdir: Path) -> tuple[Path, Path, Path]:
    """The demo, run from ``workdir`` so the paths it prints are short and relative: its
    model, report and photos."""
    from training.pipeline.demo_run import run_demo

    os.chdir(workdir)
    demo = run_demo(Path("demo"), progress=False)
    paths = (demo.train.model_path, demo.report_path, demo.data_dir)
    return tuple(workdir / path for path in paths)  # type: ignore[return-value]


def write_train_time(data: Path, workdir: Path) -> str:
    """Time `isit train` on ``data`` in a new process, cold (the backbone provisioned,
    nothing else cached) then warm, and write the figures into the README."""
    from bench.bench_retrain import fresh_cache, train_once
    from training import settings

    cache = fresh_cache(settings.cache_root() / "backbones", workdir / "timing-cache")
    cold, _ = train_once(ROOT, data, cache, workdir / "timing-cold")
    warm, _ = train_once(ROOT, data, cache, workdir / "timing-warm")
    photos = sum(1 for path in data.rglob("*") if path.is_file())
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    words = (f"on {cores} cores the demo's {photos} photos train in {cold:.0f} s, and in "
             f"{warm:.0f} s again once their features are cached")  # fmt: skip
    text = README.read_text("utf-8")
    start, end = text.index(TRAIN_TIME[0]) + len(TRAIN_TIME[0]), text.index(TRAIN_TIME[1])
    README.write_text(text[:start] + words + text[end:], "utf-8")
    return words


def sample_photo(label: str = "circles", seed: int = 2024) -> bytes:
    """A photo the model never saw: a shape drawn with another seed, square (no shape
    stretched), at a camera-like size the page shrinks before upload."""
    import numpy as np

    from training.data.sampledata import draw_image

    image = draw_image(np.random.default_rng(seed), label, 160, 160).resize((1000, 1000))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def shoot_page(browser, model_path: Path) -> None:
    """The page's answer with "Show where it looked" on."""
    from devhost.server import start

    host = start(port=0, site_dir=ROOT / "site", model_path=model_path)
    try:
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(host.url + "/")
        page.wait_for_selector("#classes .chip")
        page.set_input_files(
            "#file", files=[{"name": "circle.jpg", "mimeType": "image/jpeg",
                             "buffer": sample_photo()}]
        )  # fmt: skip
        page.wait_for_selector("body[data-state='known'], body[data-state='uncertain']")
        page.get_by_role("button", name="Show where it looked").click()
        page.wait_for_selector("#heat:not([hidden])")
        page.wait_for_timeout(300)  # the overlay's fade
        page.screenshot(path=str(PAGE_SHOT))
        page.close()
    finally:
        host.stop()


def shoot_report(browser, report_path: Path) -> None:
    page = browser.new_page(viewport=VIEWPORT)
    page.goto(report_path.as_uri())
    page.screenshot(path=str(REPORT_SHOT))
    page.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, help="where the demo runs (default: a temp dir)")
    args = parser.parse_args(argv)
    if not CHROMIUM.exists():
        print("make docs needs Chromium: apt-get install chromium", file=sys.stderr)
        return 1
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="isit-docs-"))).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(ROOT))
    model_path, report_path, data = train_demo(workdir)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            shoot_page(browser, model_path)
            shoot_report(browser, report_path)
        finally:
            browser.close()
    for shot in (PAGE_SHOT, REPORT_SHOT):
        print(f"wrote {shot.relative_to(ROOT)}")
    print(f"README.md: {write_train_time(data, workdir)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
