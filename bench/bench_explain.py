"""Latency of ``/api/classify`` with and without ``explain`` (issue 15), one core.

The same 640x480 JPEG, alternating plain and explained calls of the Function's handler
(as the worker calls it), so both see the same machine state. Prints p50 and p95 of
each and the ratio; the goal is explain <= 1.15x plain. Then the graph alone: the model
as exported against the same model with its ``heatmap`` output cut off (what models were
before), both asked only for the answer: the heatmap costs nothing when not asked for.

    .venv/bin/python -m bench.bench_explain [MODEL.onnx]   # default: trains a sample model
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROUNDS = 200


def sample_model(workdir: Path) -> Path:
    from training.data.sampledata import generate
    from training.pipeline import train
    from training.settings import TrainConfig

    data = generate(workdir / "data", per_class=30, seed=0)
    return train(data, workdir / "model", TrainConfig(probes=False), quiet=True).model_path


def photo() -> bytes:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def timed(fn, rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", nargs="?", type=Path)
    args = parser.parse_args()
    os.environ["ISIT_ORT_THREADS"] = "1"
    model = args.model or sample_model(Path(tempfile.mkdtemp(prefix="isit-bench-explain-")))
    os.environ["MODEL_PATH"] = str(model)
    import azure.functions as func

    import function_app

    data = photo()

    def request(params: dict[str, str]):
        req = func.HttpRequest("POST", "http://localhost/api/classify", body=data,
                               headers={"Content-Type": "image/jpeg"}, params=params)  # fmt: skip
        reply = function_app.classify(req)
        assert reply.status_code == 200, reply.get_body()

    request({}), request({"explain": "1"})  # warm: the model is loaded once
    plain, explained = [], []
    for _ in range(ROUNDS // 10):
        plain += timed(lambda: request({}), 10)
        explained += timed(lambda: request({"explain": "1"}), 10)
    p50 = statistics.median(plain), statistics.median(explained)
    p95 = (statistics.quantiles(plain, n=20)[-1], statistics.quantiles(explained, n=20)[-1])
    print(f"model: {model}")
    print(f"{'':10} {'p50 ms':>8} {'p95 ms':>8}")
    print(f"{'plain':10} {p50[0]:8.2f} {p95[0]:8.2f}")
    print(f"{'explain':10} {p50[1]:8.2f} {p95[1]:8.2f}")
    print(f"explain / plain (p50): {p50[1] / p50[0]:.2f}x (goal <= 1.15x)")
    without, with_heatmap = graph_latency(model)
    print(f"graph only, answer outputs: without heatmap {without:.2f} ms, with {with_heatmap:.2f}"
          f" ms p50 ({with_heatmap / without:.3f}x)")  # fmt: skip
    return 0


def without_heatmap(model: Path) -> bytes:
    """The exported model minus its heatmap output and the nodes only it needs."""
    import onnx

    graph = onnx.load(str(model))
    keep = [o for o in graph.graph.output if o.name != "heatmap"]
    del graph.graph.output[:]
    graph.graph.output.extend(keep)
    nodes = [n for n in graph.graph.node if not any(o.startswith("heatmap") for o in n.output)]
    del graph.graph.node[:]
    graph.graph.node.extend(nodes)
    weights = [w for w in graph.graph.initializer if not w.name.startswith("heatmap")]
    del graph.graph.initializer[:]
    graph.graph.initializer.extend(weights)
    return graph.SerializeToString()


def graph_latency(model: Path, rounds: int = 300) -> tuple[float, float]:
    import numpy as np
    import onnxruntime as ort

    from isit.bundle import session_options

    def session(source):
        return ort.InferenceSession(source, session_options(1), providers=["CPUExecutionProvider"])

    plain, full = session(without_heatmap(model)), session(str(model))
    x = np.random.default_rng(0).normal(size=(1, 224, 224, 3)).astype(np.float32)
    times: dict[int, list[float]] = {0: [], 1: []}
    for _ in range(rounds):
        for k, s in enumerate((plain, full)):
            start = time.perf_counter()
            s.run(["probabilities", "ood_score"], {"image": x})
            times[k].append((time.perf_counter() - start) * 1000)
    return statistics.median(times[0]), statistics.median(times[1])


if __name__ == "__main__":
    sys.exit(main())
