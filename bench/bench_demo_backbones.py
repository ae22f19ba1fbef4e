"""`isit train` on the sample data (what `make demo` trains on), one backbone against another.

    .venv/bin/python -m bench.bench_demo_backbones [--backbones mobilenet_v2 efficientnet_lite0]

Each backbone is provisioned first (a one-time step), then `isit train` runs as a user
runs it (a new process) twice: with an empty feature cache ("cold": every photo through
the backbone) and again with it filled ("warm"). Prints wall seconds, the ratio to the
first backbone measured in this run, and where the cold run's time went.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bench.bench_train import run_train


def train_twice(data: Path, backbone: str, root: Path) -> tuple[float, float, dict]:
    import os

    from training.backbones.provision import provision

    cache = root / f"cache-{backbone}"
    os.environ["ISIT_CACHE_DIR"] = str(cache)
    provision(backbone)
    args = ["--backbone", backbone]
    cold, metrics = run_train(data, root / f"cold-{backbone}", cache, args)
    warm, _ = run_train(data, root / f"warm-{backbone}", cache, args)
    return cold, warm, metrics


def main() -> int:
    from training.demo import DEMO_PER_CLASS
    from training.sampledata import generate

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backbones", nargs="+", default=["mobilenet_v2", "efficientnet_lite0"])
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="isit-bench-demo-") as tmp:
        root = Path(tmp)
        data = generate(root / "data", per_class=DEMO_PER_CLASS, seed=0)
        for backbone in args.backbones:
            cold, warm, metrics = train_twice(data, backbone, root)
            stages = metrics.get("timings", {})
            top = sorted(stages.items(), key=lambda kv: -kv[1])[:3]
            rows.append((backbone, cold, warm, ", ".join(f"{k} {v:.1f}s" for k, v in top)))
            print(rows[-1], flush=True)
    base_cold, base_warm = rows[0][1], rows[0][2]
    print(f"\n`isit train` on the sample data ({DEMO_PER_CLASS} photos per class), wall seconds")
    print("| backbone | cold cache | warm cache | cold vs first | warm vs first | "
          "cold: slowest stages |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- |")
    for name, cold, warm, where in rows:
        print(f"| {name} | {cold:.1f} | {warm:.1f} | {cold / base_cold:.2f}x | "
              f"{warm / base_warm:.2f}x | {where} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
