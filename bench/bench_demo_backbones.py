"""`isit train` on the sample data (what `make demo` trains on): backbones, and a baseline.

    .venv/bin/python -m bench.bench_demo_backbones [--backbones mobilenet_v2 efficientnet_lite0]
        [--baseline REV]

``--baseline REV`` (e.g. the commit before a change) also times that commit's code, with
its own default backbone, checked out into a temporary git worktree: the first row, and
what the ratios are against. Each row provisions its backbone first (a one-time step),
then runs `isit train` as a user runs it (a new process) twice: with an empty feature
cache ("cold": every photo through the backbone) and again with it filled ("warm").
Prints wall seconds, the ratios, and where the cold run's time went.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.bench_train import ROOT, isit_env, run_train


def provision_with(root: Path, cache: Path, backbone: str | None) -> None:
    """`isit backbones provision` from the code in ``root``, into ``cache``."""
    command = [sys.executable, "-m", "training", "backbones", "provision"]
    subprocess.run([*command, *([backbone] if backbone else [])], cwd=root,
                   env=isit_env(cache, root), check=True, capture_output=True)  # fmt: skip


def train_twice(data: Path, work: Path, name: str, backbone: str | None, root: Path) -> tuple:
    cache = work / f"cache-{name}"
    provision_with(root, cache, backbone)
    args = ("--backbone", backbone) if backbone else ()
    cold, metrics = run_train(data, work / f"cold-{name}", cache, args, root)
    warm, _ = run_train(data, work / f"warm-{name}", cache, args, root)
    stages = sorted(metrics.get("timings", {}).items(), key=lambda kv: -kv[1])[:3]
    return name, cold, warm, ", ".join(f"{k} {v:.1f}s" for k, v in stages)


def baseline_tree(rev: str, work: Path) -> Path:
    tree = work / "baseline"
    subprocess.run(["git", "worktree", "add", "--detach", str(tree), rev], cwd=ROOT,
                   check=True, capture_output=True)  # fmt: skip
    return tree


def main() -> int:
    from training.data.sampledata import generate
    from training.pipeline.demo_run import DEMO_PER_CLASS

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backbones", nargs="+", default=["mobilenet_v2", "efficientnet_lite0"])
    parser.add_argument("--baseline", metavar="REV", help="also time this commit's code")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="isit-bench-demo-") as tmp:
        work = Path(tmp)
        data = generate(work / "data", per_class=DEMO_PER_CLASS, seed=0)
        try:
            if args.baseline:
                tree = baseline_tree(args.baseline, work)
                rows.append(train_twice(data, work, f"baseline {args.baseline}", None, tree))
                print(rows[-1], flush=True)
            for backbone in args.backbones:
                rows.append(train_twice(data, work, backbone, backbone, ROOT))
                print(rows[-1], flush=True)
        finally:
            if args.baseline:
                subprocess.run(["git", "worktree", "remove", "--force", str(work / "baseline")],
                               cwd=ROOT, capture_output=True)  # fmt: skip
    first_cold, first_warm = rows[0][1], rows[0][2]
    print(f"\n`isit train` on the sample data ({DEMO_PER_CLASS} photos per class), wall seconds")
    print("| code, backbone | cold cache | warm cache | cold vs first | warm vs first | "
          "cold: slowest stages |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- |")
    for name, cold, warm, where in rows:
        print(f"| {name} | {cold:.1f} | {warm:.1f} | {cold / first_cold:.2f}x | "
              f"{warm / first_warm:.2f}x | {where} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
