"""Hostile inputs vs the decode budget: wall time and peak memory of ONE request each.

Every input of issue 14 (and the largest inputs the budget still accepts, and normal
photos) is POSTed to the Function's ``classify`` handler in a FRESH interpreter pinned to
one core (``ISIT_ORT_THREADS=1``). The worker first answers two normal requests (warm:
model loaded, arenas grown), takes its peak RSS as the baseline, then answers the input
and reports the wall time and how far its peak RSS rose above the warm baseline.

    .venv/bin/python -m bench.bench_hostile [--model model.onnx] [--only NAME]

Goal (issue 14): every input answered (refused or classified) in <= 1 s and <= 300 MB
above the warm baseline. Without ``--model`` a small colour classifier is generated
(tests/helpers/modelgen.py); pass a trained model.onnx to include a real backbone's inference.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "helpers")]

GOAL_SECONDS = 1.0
GOAL_MB = 300.0
SHARED_PHOTOS = ROOT.parent / "shared" / "data" / "vader_elsa"
Case = tuple[bytes, dict[str, str]]


def _image(data: bytes, ctype: str = "image/png") -> Case:
    return data, {"Content-Type": ctype}


def _jpeg(img, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", **kwargs)
    return buf.getvalue()


def _multipart_bomb() -> Case:
    parts = b"".join(
        b'--B\r\nContent-Disposition: form-data; name="f"\r\n\r\nx\r\n' for _ in range(150_000)
    )
    body = parts[:8_000_000] + b"--B--\r\n"
    return body, {"Content-Type": "multipart/form-data; xboundary=n; boundary=B"}


def _photo(width: int, height: int) -> bytes:
    from synthetic import draw_photo

    return _jpeg(draw_photo(7, (width, height)), quality=80)


def _webp(width: int, height: int) -> bytes:
    import hostile

    return hostile.lossless_webp(width, height)


def _gif(width: int, height: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("P", (width, height), 3).save(buf, "GIF")
    return buf.getvalue()


def _heic(width: int, height: int) -> bytes | None:
    from PIL import Image

    import isit.imaging  # noqa: F401  (registers pillow-heif)

    buf = io.BytesIO()
    try:
        Image.new("RGB", (width, height), (80, 90, 100)).save(buf, "HEIF", quality=50)
    except (KeyError, OSError, ValueError):
        return None
    return buf.getvalue()


def cases() -> dict[str, Callable[[], Case | None]]:
    """name -> builder. Sizes are the issue's; 'max' cases are the largest accepted."""
    import hostile
    from PIL import Image

    def scan_bomb(side: int, repeats: int) -> Case:
        data = _jpeg(Image.new("L", (side, side), 128), progressive=True, quality=90)
        last = data.rindex(b"\xff\xda")
        return _image(data[:-2] + data[last:-2] * repeats + b"\xff\xd9", "image/jpeg")

    exif6 = hostile.exif_orientation(6)
    return {
        "1 progressive JPEG 8000x8000, last scan x4000": lambda: scan_bomb(8000, 4000),
        "1 progressive JPEG 8000x8000, 64 scans": lambda: scan_bomb(8000, 64 - 6),
        # 250k blocks x 20 scans = 5 M blocks: the most scan work accepted.
        "1 max: progressive JPEG 4000x4000, 20 scans": lambda: scan_bomb(4000, 20 - 6),
        "1 max: progressive colour JPEG 39 MP": lambda: _image(
            _jpeg(Image.new("RGB", (7200, 5400), (20, 90, 200)), progressive=True), "image/jpeg"
        ),
        "2 TIFF 40,000 one-pixel pages": lambda: _image(hostile.tiff_pages(40_000), "image/tiff"),
        "3 16-bit grey PNG 8900x8900": lambda: _image(hostile.flat_png(8900, 8900, depth=16)),
        "3 max: 16-bit grey PNG 5650x5650": lambda: _image(hostile.flat_png(5650, 5650, depth=16)),
        "3 lossless WebP 8900x8900": lambda: _image(_webp(8900, 8900), "image/webp"),
        "3 max: lossless WebP 3500x3500": lambda: _image(_webp(3500, 3500), "image/webp"),
        "3 PNG 8900x8900 RGB, EXIF orientation 6": lambda: _image(
            hostile.flat_png(8900, 8900, colour=2, exif=exif6)
        ),
        "3 max: PNG 6500x4900 RGB, EXIF orientation 6": lambda: _image(
            hostile.flat_png(6500, 4900, colour=2, exif=exif6)
        ),
        "3 max: PNG 5650x5650 RGBA": lambda: _image(hostile.flat_png(5650, 5650, colour=6)),
        "3 max: GIF 5650x5650": lambda: _image(_gif(5650, 5650), "image/gif"),
        "3 ICO embedding a 12000x12000 PNG": lambda: _image(
            hostile.ico_embedding(hostile.flat_png(12000, 12000, colour=6)), "image/x-icon"
        ),
        "3 max: HEIC 24 MP": lambda: (
            _image(data, "image/heic") if (data := _heic(6000, 4000)) else None
        ),
        "7 Content-Length: ²": lambda: (b"x", {"Content-Type": "image/png", "Content-Length": "²"}),
        "8 multipart 150k parts, xboundary= trick": _multipart_bomb,
        "11 SVG with a BOM": lambda: _image(hostile.SVG_WITH_BOM, "image/svg+xml"),
        "max: baseline JPEG 80 MP (10000x8000)": lambda: _image(
            _jpeg(Image.new("RGB", (10000, 8000), (200, 30, 30))), "image/jpeg"
        ),
        "normal: camera-like JPEG 4000x3000": lambda: _image(_photo(4000, 3000), "image/jpeg"),
        "normal: phone-like JPEG 8064x6048 (48 MP)": lambda: _image(
            _photo(8064, 6048), "image/jpeg"
        ),
    }


def shared_photos(limit: int = 20) -> dict[str, Callable[[], Case]]:
    """The largest photos of the shared real data set (when this machine has it)."""
    if not SHARED_PHOTOS.is_dir():
        return {}
    files = sorted(
        (p for p in SHARED_PHOTOS.rglob("*") if p.is_file()), key=lambda p: -p.stat().st_size
    )[:limit]
    return {
        f"normal: {p.parent.name}/{p.name}": (lambda p=p: _image(p.read_bytes(), "image/jpeg"))
        for p in files
    }


# ---------------------------------------------------------------- the worker (fresh process)


def status_kb(field: str) -> int:
    """A /proc/self/status memory field (VmRSS, VmHWM) in KiB. (ru_maxrss is no use in a
    child: it starts at the parent's peak.)"""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def reset_peak_rss() -> int:
    """Reset the peak RSS (VmHWM) to the current RSS and return that, in KiB."""
    Path("/proc/self/clear_refs").write_text("5")
    return status_kb("VmRSS")


def worker(case_file: Path, model: Path) -> None:
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    os.environ["ISIT_ORT_THREADS"] = "1"
    os.environ["MODEL_PATH"] = str(model)
    import azure.functions as func
    import modelgen

    import function_app

    meta = json.loads(case_file.with_suffix(".json").read_text())
    body = case_file.read_bytes()

    def post(data: bytes, headers: dict[str, str]) -> func.HttpResponse:
        request = func.HttpRequest(
            "POST", "http://127.0.0.1/api/classify", headers=headers, body=data
        )
        return function_app.classify(request)

    warm = modelgen.photo("red", (640, 480), seed=1)
    for _ in range(2):
        assert post(warm, {"Content-Type": "image/jpeg"}).status_code == 200
    baseline = reset_peak_rss()
    started = time.perf_counter()
    response = post(body, meta["headers"])
    seconds = time.perf_counter() - started
    peak = status_kb("VmHWM")
    reply = json.loads(response.get_body() or b"{}")
    code = reply.get("error", {}).get("code") or reply.get("label", "")
    print(
        json.dumps(
            {
                "status": response.status_code,
                "code": code,
                "seconds": seconds,
                "extra_mb": (peak - baseline) / 1024,
                "baseline_mb": baseline / 1024,
            }
        )
    )


# ---------------------------------------------------------------- the driver


def measure(name: str, case: Case, model: Path, workdir: Path, timeout: float) -> dict:
    body, headers = case
    path = workdir / "case.bin"
    path.write_bytes(body)
    path.with_suffix(".json").write_text(json.dumps({"headers": headers}))
    try:
        done = subprocess.run(
            [sys.executable, __file__, "--worker", str(path), "--model", str(model)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"name": name, "error": [f"no answer within {timeout:.0f} s"]}
    if done.returncode != 0:
        return {"name": name, "error": done.stderr.strip().splitlines()[-1:]}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {"name": name, "bytes": len(body), **result}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="model.onnx (default: a generated one)")
    parser.add_argument("--only", help="run only cases whose name contains this")
    parser.add_argument(
        "--timeout", type=float, default=600, help="seconds per input before giving up"
    )
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="isit-bench-hostile-") as tmp:
        workdir = Path(tmp)
        model = args.model
        if model is None:
            import modelgen

            model = modelgen.write_model(workdir / "model.onnx")
        if args.worker:
            worker(args.worker, model)
            return 0
        all_cases = {**cases(), **shared_photos()}
        rows = []
        print(f"{'input':<48} {'bytes':>10} {'status':>6} {'answer':<18} {'ms':>7} {'MB':>7}")
        for name, build in all_cases.items():
            if args.only and args.only.lower() not in name.lower():
                continue
            case = build()
            if case is None:
                print(f"{name:<48} (cannot be built here)")
                continue
            row = measure(name, case, model, workdir, args.timeout)
            rows.append(row)
            if "error" in row:
                print(f"{name:<48} FAILED: {row['error']}")
                continue
            print(
                f"{name[:48]:<48} {row['bytes']:>10,} {row['status']:>6} {row['code'][:18]:<18} "
                f"{row['seconds'] * 1000:>7.0f} {row['extra_mb']:>7.1f}",
                flush=True,
            )
        ok = [r for r in rows if "error" not in r]
        if not ok:
            return 1
        slowest = max(ok, key=lambda r: r["seconds"])
        biggest = max(ok, key=lambda r: r["extra_mb"])
        print()
        print(
            f"worst time:   {slowest['seconds'] * 1000:.0f} ms ({slowest['name']}); "
            f"goal <= {GOAL_SECONDS * 1000:.0f} ms"
        )
        print(
            f"worst memory: {biggest['extra_mb']:.0f} MB above the warm baseline "
            f"({biggest['name']}); goal <= {GOAL_MB:.0f} MB"
        )
        within = slowest["seconds"] <= GOAL_SECONDS and biggest["extra_mb"] <= GOAL_MB
        failed = len(rows) - len(ok)
        print("WITHIN THE GOAL" if within and not failed else "OUTSIDE THE GOAL")
        return 0


if __name__ == "__main__":
    sys.exit(main())
