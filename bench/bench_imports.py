"""What importing the training stack costs, for candidate versions of its slow importers.

    .venv/bin/python -m bench.bench_imports [--repeats 5]

A retrain's critical path starts with imports: scikit-learn (which imports scipy.stats and
pandas), cleanlab, onnx (which imports ml_dtypes). For each candidate version of scipy and
of ml_dtypes (installed with ``pip install --no-deps --target`` into a temporary folder,
put first on PYTHONPATH; the other package at the version training/requirements.txt pins),
a fresh interpreter times ``import scipy.stats``, ``import ml_dtypes`` and the whole
stack `isit train` imports after its start. Median of ``--repeats`` processes each,
side by side in one run. The pins in training/requirements.txt are the winners.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CANDIDATES = {"scipy": ("1.15.3", "1.16.3", "1.17.1"), "ml_dtypes": ("0.6.0", "0.7.0")}
STACK = ("sklearn.metrics", "sklearn.cluster", "sklearn._loss.loss", "cleanlab.filter", "onnx",
         "scipy.cluster.hierarchy")  # fmt: skip
PROBE = """
import json, sys, time
import numpy  # before the clock: every candidate shares it
times = {}
for name in sys.argv[1:]:
    start = time.perf_counter()
    __import__(name)
    times[name] = time.perf_counter() - start
import scipy, ml_dtypes
times["versions"] = [scipy.__version__, ml_dtypes.__version__]
print(json.dumps(times))
"""


def pinned(package: str) -> str:
    for line in (ROOT / "training" / "requirements.txt").read_text().splitlines():
        if line.startswith(f"{package}=="):
            return line.split("==", 1)[1].strip()
    raise SystemExit(f"{package} is not pinned in training/requirements.txt")


def install(package: str, version: str, where: Path) -> Path:
    target = where / f"{package}-{version}"
    if not target.exists():
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                        "--disable-pip-version-check", "--target", str(target),
                        f"{package}=={version}"], check=True)  # fmt: skip
    return target


def timed(path: Path | None, modules: tuple[str, ...], repeats: int) -> tuple[dict, list]:
    """Median seconds per module list entry (each in its own fresh process)."""
    env = dict(os.environ, PYTHONPATH=str(path) if path else "")
    found: dict[str, list[float]] = {}
    versions: list = []
    for _ in range(repeats):
        for group in (("scipy.stats",), ("ml_dtypes",), modules):
            done = subprocess.run([sys.executable, "-c", PROBE, *group], env=env, cwd=ROOT,
                                  check=True, capture_output=True, text=True)  # fmt: skip
            times = json.loads(done.stdout)
            versions = times.pop("versions")
            key = group[0] if len(group) == 1 else "stack"
            found.setdefault(key, []).append(sum(times.values()))
    return {k: statistics.median(v) for k, v in found.items()}, versions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    where = Path(tempfile.mkdtemp(prefix="isit-bench-imports-"))
    rows = []
    for package, versions in CANDIDATES.items():
        for version in versions:
            path = None if version == pinned(package) else install(package, version, where)
            medians, found = timed(path, STACK, args.repeats)
            rows.append((package, version, found, medians, path is None))
    base = next(m["stack"] for _, _, _, m, is_pinned in rows if is_pinned)
    print(f"Import seconds, median of {args.repeats} fresh processes (numpy already loaded)\n")
    print("| candidate | scipy, ml_dtypes loaded | scipy.stats | ml_dtypes | the stack | "
          "stack vs pinned |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- |")
    for package, version, found, medians, is_pinned in rows:
        mark = " (pinned)" if is_pinned else ""
        print(f"| {package} {version}{mark} | {', '.join(found)} | {medians['scipy.stats']:.3f} "
              f"| {medians['ml_dtypes']:.3f} | {medians['stack']:.3f} | "
              f"{medians['stack'] / base:.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()
