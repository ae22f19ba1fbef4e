"""Retrain speed (issue 25): today's `isit train` against the pinned baseline, in one run.

    .venv/bin/python -m bench.bench_retrain [--repeats 3] [--baseline COMMIT] [DATA_DIR ...]

The baseline is the code the issue measured against (``BASELINE``), checked out with
``git worktree add`` into a temporary folder and run with this venv (``PYTHONPATH``
points each process at its own tree). Folders: ``../shared/data/vader_elsa`` when
present, and a generated sample folder (``training.data.sampledata``), or the DATA_DIRs
given. For each folder and repeat, in alternation (so both see the same machine load):

- cold: the backbone provisioned, every other cache empty (features, the check's);
- warm: the same cache again, every feature cached.

Each is the wall-clock of `isit train` in a new process (imports included). Prints the
median seconds, the ratio new / baseline (goals: warm <= 1/3, cold <= 1/2), and the
per-stage medians from metrics.json ``timings``. Results also go to
bench/results/bench_retrain.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "cd582c61ecd37c6d5e7e1cc4224b5549beaccd68"  # issue 25's "today" (2026-12-04 morning)
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "vader_elsa"
GOALS = {"warm": 1 / 3, "cold": 1 / 2}


def _git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()  # fmt: skip


def baseline_tree(commit: str, where: Path) -> Path:
    """The baseline's code, checked out (detached) into ``where``."""
    _git("worktree", "add", "--detach", str(where), commit)
    return where


def train_once(root: Path, data: Path, cache: Path, out: Path) -> tuple[float, dict]:
    """Wall-clock seconds of `isit train` from the code in ``root``, and its timings."""
    env = {**os.environ, "ISIT_CACHE_DIR": str(cache), "PYTHONPATH": str(root)}
    command = [sys.executable, "-m", "training", "train", str(data), "--out", str(out),
               "--seed", "0", "--no-progress"]  # fmt: skip
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"train failed ({root}):\n{done.stderr[-3000:]}")
    return wall, json.loads((out / "metrics.json").read_text("utf-8"))["timings"]


def fresh_cache(backbones: Path, where: Path) -> Path:
    """A cache holding only the provisioned backbones (cold: nothing else)."""
    shutil.rmtree(where, ignore_errors=True)
    shutil.copytree(backbones, where / "backbones")
    return where


def measure(trees: dict[str, Path], data: Path, backbones: Path, work: Path, repeats: int):
    """``{(mode, tree): [(seconds, timings), ...]}``, cold then warm, trees alternating."""
    runs: dict[tuple[str, str], list[tuple[float, dict]]] = {}
    for r in range(repeats):
        order = list(trees) if r % 2 == 0 else list(reversed(trees))
        caches = {name: fresh_cache(backbones, work / f"cache-{name}") for name in order}
        for mode in ("cold", "warm"):
            for name in order:
                result = train_once(trees[name], data, caches[name], work / f"out-{name}")
                runs.setdefault((mode, name), []).append(result)
                print(f"  {data.name} {mode} {name}: {result[0]:.1f} s", file=sys.stderr)
    return runs


def summarise(runs: dict, folder: str) -> tuple[list[str], dict]:
    """Table lines and the JSON record of one folder."""
    lines, record = [], {}
    for mode in ("cold", "warm"):
        base = statistics.median(s for s, _ in runs[(mode, "baseline")])
        new = statistics.median(s for s, _ in runs[(mode, "new")])
        ratio = new / base
        met = "yes" if ratio <= GOALS[mode] else "NO"
        lines.append(f"| {folder} | {mode} | {base:.1f} | {new:.1f} | {ratio:.2f} "
                     f"(1/{base / new:.1f}) | <= {GOALS[mode]:.2f}: {met} |")  # fmt: skip
        stages = {
            name: {
                stage: statistics.median(t.get(stage, 0.0) for _, t in runs[(mode, name)])
                for stage in sorted({k for _, t in runs[(mode, name)] for k in t})
            }
            for name in ("baseline", "new")
        }
        record[mode] = {"baseline_s": base, "new_s": new, "ratio": ratio, "stages": stages}
    return lines, record


def stage_table(records: dict) -> list[str]:
    lines = ["| folder | mode | stage | baseline s | new s |", "| --- | --- | --- | --- | --- |"]
    for folder, record in records.items():
        for mode, found in record.items():
            base, new = found["stages"]["baseline"], found["stages"]["new"]
            for stage in list(base) + [s for s in new if s not in base]:
                lines.append(f"| {folder} | {mode} | {stage} | {base.get(stage, 0):.2f} | "
                             f"{new.get(stage, 0):.2f} |")  # fmt: skip
    return lines


def _folders(args: argparse.Namespace, work: Path) -> list[Path]:
    if args.data:
        return [Path(d) for d in args.data]
    from training.data.sampledata import generate

    found = [DEFAULT_DATA] if DEFAULT_DATA.is_dir() else []
    return [*found, generate(work / "sample", per_class=45, min_side=64, max_side=160, seed=7)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="*", help="data folders (default: vader_elsa + sample)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline", default=BASELINE, help="commit to compare with")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="isit-bench-retrain-"))
    base = baseline_tree(args.baseline, work / "baseline")
    trees = {"baseline": base, "new": ROOT}
    try:
        folders = _folders(args, work)
        print(f"provisioning the backbone once ({folders[0].name})...", file=sys.stderr)
        train_once(ROOT, folders[0], work / "provision", work / "out-provision")
        backbones = work / "provision" / "backbones"
        records, table = {}, []
        for data in folders:
            lines, records[data.name] = summarise(
                measure(trees, data, backbones, work, args.repeats), data.name
            )
            table += lines
    finally:
        _git("worktree", "remove", "--force", str(base))
        shutil.rmtree(work, ignore_errors=True)
    commit = _git("rev-parse", "--short", args.baseline)
    print(f"\n`isit train`, wall-clock of a new process, median of {args.repeats}; "
          f"baseline {commit} vs this tree ({_git('rev-parse', '--short', 'HEAD')})\n")  # fmt: skip
    print("| folder | cache | baseline s | new s | new / baseline | goal |")
    print("| --- | --- | --- | --- | --- | --- |")
    print("\n".join(table))
    print("\nWhere the time goes (metrics.json timings, medians):\n")
    print("\n".join(stage_table(records)))
    out = ROOT / "bench" / "results" / "bench_retrain.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"baseline": commit, "repeats": args.repeats, **records}, indent=1))


if __name__ == "__main__":
    main()
