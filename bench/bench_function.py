"""Benchmark the Azure Function: handler latency, throughput, cold start, naive baseline, size.

    .venv/bin/python -m bench.bench_function [MODEL.onnx] [--skip-size] [--quick]

- handler latency p50/p95 on ONE core (CPU affinity + ISIT_ORT_THREADS=1) for a 640x480
  and a 4000x3000 JPEG, calling ``function_app.classify`` with an ``HttpRequest``;
- the same images through a naive handler that creates the onnxruntime session per request
  and decodes at full size (no JPEG draft mode), as an earlier ML.NET function did: speedup;
- throughput with 4 concurrent clients through the dev host (``python -m devhost``);
- cold start: a fresh process importing ``function_app``, loading the model, answering once;
- the installed size of requirements.txt (the deployment package) in a temporary venv.

The model defaults to ``.demo/model/model.onnx`` (what ``make demo`` trains); without one, a
small generated model (tests/helpers/modelgen.py) is used and the report says so: its latencies
show the Function's own overhead, not a real backbone's.
Goals (issue 5): p50 <= 15 ms (640x480), <= 60 ms (12 MP); cold start <= 1.5 s.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ["ISIT_ORT_THREADS"] = "1"  # before the Function reads it: one core per request
SHARED_PHOTOS = ROOT.parent / "shared" / "data" / "vader_elsa"
RESULTS = ROOT / "bench" / "results"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def pick_model(arg: str | None) -> tuple[Path, str]:
    if arg:
        return Path(arg).resolve(), "given on the command line"
    demo = ROOT / ".demo" / "model" / "model.onnx"
    if demo.is_file():
        return demo, "the demo model (.demo/model/model.onnx)"
    from tests.helpers import modelgen

    tmp = Path(tempfile.mkdtemp(prefix="isit-bench-"))
    cache = Path(os.environ.get("ISIT_CACHE_DIR") or Path.home() / ".cache" / "isit")
    backbones = sorted((cache / "backbones").glob("mobilenet_v2-*.onnx"))
    if backbones:
        path = modelgen.classifier_from_backbone(backbones[0], tmp / "model.onnx")
        return path, (
            f"no trained model found: timing stand-in = the provisioned backbone "
            f"{backbones[0].name} + a random linear head (same graph cost as a trained "
            "MobileNetV2 classifier; its answers mean nothing)"
        )
    path = modelgen.write_model(tmp / "model.onnx")
    return path, (
        "NO trained model found: using the generated mean-colour model "
        "(tests/helpers/modelgen.py) "
        "(no backbone, so latencies show decoding + Function overhead only)"
    )


def make_jpeg(size: tuple[int, int]) -> tuple[bytes, str]:
    """A photo-like JPEG of ``size``: a real photo scaled up if the shared data is there."""
    import numpy as np
    from PIL import Image

    photos = sorted(SHARED_PHOTOS.glob("*/*.jp*g")) if SHARED_PHOTOS.is_dir() else []
    if photos:
        source = Image.open(photos[0]).convert("RGB")
        img = source.resize(size, Image.Resampling.BICUBIC)
        origin = f"{photos[0].parent.name}/{photos[0].name} scaled"
    else:
        x = np.linspace(0, 255, size[0], dtype=np.float32)
        y = np.linspace(0, 255, size[1], dtype=np.float32)[:, None]
        img = Image.fromarray(
            np.stack(
                [
                    np.broadcast_to(x, (size[1], size[0])),
                    np.broadcast_to(y, (size[1], size[0])),
                    np.full((size[1], size[0]), 96, np.float32),
                ],
                -1,
            ).astype(np.uint8),
            "RGB",
        )
        origin = "synthetic gradient"
    # Sensor-like noise so the file has the size and entropy of a real photo.
    rng = np.random.default_rng(0)
    pixels = np.asarray(img, dtype=np.int16) + rng.integers(
        -12, 13, (size[1], size[0], 3), dtype=np.int16
    )
    buffer = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue(), origin


def time_calls(fn, data: bytes, iterations: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        fn(data)
    times = []
    for _ in range(iterations):
        started = time.perf_counter()
        fn(data)
        times.append((time.perf_counter() - started) * 1000)
    return times


def our_handler():
    import azure.functions as func

    import function_app

    def handle(data: bytes) -> None:
        request = func.HttpRequest(
            "POST",
            "http://localhost/api/classify",
            body=data,
            headers={"Content-Type": "image/jpeg"},
        )
        response = function_app.classify(request)
        assert response.status_code == 200, response.get_body()

    return handle


def naive_handler(model_path: Path):
    """Session per request, full-size decode: what the earlier ML.NET function did."""
    import numpy as np
    import onnxruntime as ort
    from PIL import Image, ImageOps

    from isit.imaging import normalize, resize_center_crop
    from isit.metadata import INPUT_NAME, ModelMetadata

    def handle(data: bytes) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        meta = ModelMetadata.from_props(dict(session.get_modelmeta().custom_metadata_map))
        img = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
        pixels = np.asarray(resize_center_crop(img, meta.preprocess.size), dtype=np.uint8)
        batch = normalize(pixels, meta.preprocess)[None]
        session.run(None, {INPUT_NAME: batch})

    return handle


def bench_latency(model: Path, images: dict[str, bytes], quick: bool) -> dict:
    os.environ["MODEL_PATH"] = str(model)
    cpus = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpus[0]})  # one core, as on a small Functions instance
    try:
        import function_app
        from isit.imaging import preprocess

        ours, naive = our_handler(), naive_handler(model)
        results = {}
        for name, data in images.items():
            big = len(data) > 1_000_000
            n_ours = (10 if big else 30) if quick else (40 if big else 120)
            n_naive = (3 if big else 5) if quick else (10 if big else 20)
            t_ours = time_calls(ours, data, n_ours, warmup=3)
            t_naive = time_calls(naive, data, n_naive, warmup=1)
            # Where our time goes: decode + preprocess, and the model alone.
            bundle = function_app.get_model()
            spec = bundle.metadata.preprocess
            t_pre = time_calls(partial(preprocess, spec=spec), data, n_ours, warmup=1)
            batch = preprocess(data, spec)[None]
            t_model = time_calls(bundle.run, batch, n_ours, warmup=1)
            results[name] = {
                "bytes": len(data),
                "ours_p50_ms": statistics.median(t_ours),
                "ours_p95_ms": percentile(t_ours, 95),
                "decode_preprocess_p50_ms": statistics.median(t_pre),
                "model_only_p50_ms": statistics.median(t_model),
                "naive_p50_ms": statistics.median(t_naive),
                "naive_p95_ms": percentile(t_naive, 95),
                "speedup_p50": statistics.median(t_naive) / statistics.median(t_ours),
                "iterations": [n_ours, n_naive],
            }
        return results
    finally:
        os.sched_setaffinity(0, set(cpus))


def bench_throughput(model: Path, data: bytes, total: int, clients: int = 4) -> dict:
    import requests

    from devhost.process import spawn, stop

    env = {**os.environ, "MODEL_PATH": str(model)}
    env.pop("ISIT_ORT_THREADS", None)  # the dev host as `make serve` runs it
    proc, url = spawn(env)
    try:
        errors: list[str] = []
        latencies: list[float] = []

        def client(count: int) -> None:
            with requests.Session() as session:
                for _ in range(count):
                    started = time.perf_counter()
                    reply = session.post(
                        url + "/api/classify",
                        data=data,
                        timeout=60,
                        headers={"Content-Type": "image/jpeg"},
                    )
                    latencies.append((time.perf_counter() - started) * 1000)
                    if reply.status_code != 200:
                        errors.append(str(reply.status_code))

        client(5)  # warm-up
        latencies.clear()
        threads = [
            threading.Thread(target=client, args=(total // clients,)) for _ in range(clients)
        ]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seconds = time.perf_counter() - started
        return {
            "requests": total,
            "clients": clients,
            "seconds": seconds,
            "requests_per_s": total / seconds,
            "errors": len(errors),
            "latency_p50_ms": statistics.median(latencies),
            "latency_p95_ms": percentile(latencies, 95),
        }
    finally:
        stop(proc)


COLD_START = r"""
import json, time
t0 = time.perf_counter()
import azure.functions as func
import function_app
t1 = time.perf_counter()
function_app.get_model()
t2 = time.perf_counter()
data = open({image!r}, "rb").read()
r = function_app.classify(func.HttpRequest("POST", "http://x/api/classify", body=data,
                                           headers={{"Content-Type": "image/jpeg"}}))
t3 = time.perf_counter()
assert r.status_code == 200, r.get_body()
print(json.dumps({{"import_s": t1 - t0, "load_s": t2 - t1, "first_answer_s": t3 - t2,
                  "total_s": t3 - t0}}))
"""


def bench_cold_start(model: Path, data: bytes, runs: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        image = Path(tmp) / "photo.jpg"
        image.write_bytes(data)
        env = {**os.environ, "MODEL_PATH": str(model)}
        env.pop("ISIT_ORT_THREADS", None)
        samples = []
        for _ in range(runs):
            started = time.perf_counter()
            out = subprocess.run(
                [sys.executable, "-c", COLD_START.format(image=str(image))],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            wall = time.perf_counter() - started
            sample = json.loads(out.stdout.strip().splitlines()[-1])
            sample["process_wall_s"] = wall
            samples.append(sample)
    return {key: statistics.median(s[key] for s in samples) for key in samples[0]} | {"runs": runs}


def bench_package_size() -> dict:
    from bench_install import folder_size, install, installed_size

    with tempfile.TemporaryDirectory() as tmp:
        _, site = install([["-r", str(ROOT / "requirements.txt")]], Path(tmp) / "venv")
        biggest = sorted(
            (
                (folder_size(d), d.name)
                for d in site.iterdir()
                if d.is_dir() and not d.name.endswith(".dist-info")
            ),
            reverse=True,
        )[:5]
        total = installed_size(site)
    return {"bytes": total, "largest": {name: size for size, name in biggest}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", nargs="?", help="model.onnx (default: .demo/model/model.onnx)")
    parser.add_argument("--quick", action="store_true", help="fewer iterations")
    parser.add_argument("--skip-size", action="store_true", help="skip the pip install")
    args = parser.parse_args()

    model, origin = pick_model(args.model)
    print(f"model: {model.name} ({origin})")
    images = {}
    for label, size in (("640x480", (640, 480)), ("4000x3000", (4000, 3000))):
        images[label], source = make_jpeg(size)
        print(f"image {label}: {len(images[label]) / 1e6:.2f} MB JPEG ({source})")
    report: dict = {"model": str(model), "model_origin": origin, "cpus": os.cpu_count()}
    report["load_average_start"] = os.getloadavg()
    print(
        f"load average at start: {' '.join(f'{v:.1f}' for v in os.getloadavg())} "
        f"on {os.cpu_count()} CPUs (a busy machine inflates every number below)"
    )

    report["latency_one_core"] = latency = bench_latency(model, images, args.quick)
    print("\nhandler latency on one core (ISIT_ORT_THREADS=1, CPU affinity 1 core):")
    for name, r in latency.items():
        print(
            f"  {name:>9}: ours p50 {r['ours_p50_ms']:7.1f} ms  p95 {r['ours_p95_ms']:7.1f} ms"
            f" | naive p50 {r['naive_p50_ms']:7.1f} ms  p95 {r['naive_p95_ms']:7.1f} ms"
            f" | speedup x{r['speedup_p50']:.1f}"
        )
        print(
            f"  {'':>9}  of which decode+preprocess p50 {r['decode_preprocess_p50_ms']:.1f} ms,"
            f" model alone p50 {r['model_only_p50_ms']:.1f} ms"
        )

    total = 200 if args.quick else 800
    report["throughput_devhost"] = tp = bench_throughput(model, images["640x480"], total)
    print(
        f"\nthroughput through the dev host, {tp['clients']} clients, 640x480: "
        f"{tp['requests_per_s']:.0f} req/s ({tp['requests']} requests, {tp['errors']} errors, "
        f"latency p50 {tp['latency_p50_ms']:.1f} ms, p95 {tp['latency_p95_ms']:.1f} ms)"
    )

    report["cold_start"] = cold = bench_cold_start(model, images["640x480"], 3 if args.quick else 5)
    print(
        f"\ncold start (median of {cold['runs']} fresh processes): import function_app "
        f"{cold['import_s']:.2f} s + load model {cold['load_s']:.2f} s + first answer "
        f"{cold['first_answer_s']:.2f} s = {cold['total_s']:.2f} s "
        f"(whole process incl. interpreter start: {cold['process_wall_s']:.2f} s)"
    )

    if not args.skip_size:
        report["serving_requirements"] = size = bench_package_size()
        print(
            f"\ninstalled serving requirements (pip install -r requirements.txt, site-packages "
            f"without pip): {size['bytes'] / 1e6:.0f} MB; largest: "
            + ", ".join(f"{k} {v / 1e6:.0f} MB" for k, v in size["largest"].items())
        )
    model_size = model.stat().st_size
    report["model_bytes"] = model_size
    print(f"model file: {model_size / 1e6:.1f} MB")

    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "bench_function.json"
    out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(f"\nresults: {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
