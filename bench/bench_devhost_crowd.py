"""The dev host under a crowd, before and after issue 26 (item 3), in one run.

    .venv/bin/python -m bench.bench_devhost_crowd [--baseline REV] [--sizes 50 600 1000]

Starts two dev host processes serving the same generated model (tests/modelgen.py): the
code of ``--baseline`` (default: where this branch left main), checked out into a temporary
git worktree, and this tree's. Against each, on 127.0.0.1 only:

- N simultaneous connections (one ``GET /api/health`` each, opened at once): how many were
  answered (200, or 503 busy with Retry-After), dropped or still waiting at the timeout,
  and the wall time;
- idle lockout: 32 connections that send nothing, then one ordinary request every 0.5 s:
  how long it is locked out (not answered 200).

Numbers depend on the machine; the comparison is the point.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.crowdlib import crowd
from devhost.process import stop

ROOT = Path(__file__).resolve().parents[1]
IDLE = 32  # the old dev host's worker count: enough idle connections to take them all
TIMEOUT_S = 40.0


def spawn_in(tree: Path, model: Path) -> tuple[subprocess.Popen[str], str, int]:
    """``python -m devhost`` from ``tree`` (its own code first on the path)."""
    env = {**os.environ, "MODEL_PATH": str(model), "PYTHONPATH": str(tree)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "devhost", "--port", "0", "--quiet"],
        cwd=tree,
        env={**env, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("isit dev host: http://"):
            url = line.split()[3].rstrip("/")
            return proc, url, int(url.rsplit(":", 1)[1])
    stop(proc)
    raise RuntimeError(f"the dev host in {tree} did not start")


def lockout_seconds(port: int, idle: int = IDLE, limit: float = TIMEOUT_S) -> float:
    """Seconds until one request is answered 200 while ``idle`` connections send nothing."""
    idlers = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(idle)]
    try:
        time.sleep(0.3)
        started = time.monotonic()
        while time.monotonic() - started < limit:
            result = crowd("127.0.0.1", port, 1, timeout=limit)
            if result.statuses.get(200):
                return time.monotonic() - started
            time.sleep(0.5)
        return float("inf")
    finally:
        for sock in idlers:
            sock.close()


def measure(name: str, port: int, sizes: list[int]) -> list[str]:
    rows = []
    for n in sizes:
        result = crowd("127.0.0.1", port, n, timeout=TIMEOUT_S)
        busy = result.statuses.get(503, 0)
        rows.append(
            f"| {name} | {n} | {result.answered} | {result.statuses.get(200, 0)} | "
            f"{busy} ({result.busy_with_retry_after} with Retry-After) | "
            f"{result.dropped + result.unanswered} | {result.seconds:.2f} |"
        )
        print(f"{name}: {result.line()}", flush=True)
        time.sleep(1.0)  # let the previous crowd's connections close
    locked = lockout_seconds(port)
    rows.append(f"| {name} | idle lockout: {IDLE} idle connections | locked out {locked:.1f} s |")
    print(f"{name}: {IDLE} idle connections lock others out for {locked:.1f} s", flush=True)
    return rows


def main() -> int:
    sys.path.insert(0, str(ROOT / "tests"))
    import modelgen

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", help="the old code's commit (default: merge-base with main)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 600, 1000])
    args = parser.parse_args()
    rev = args.baseline or subprocess.run(
        ["git", "merge-base", "HEAD", "main"], cwd=ROOT, capture_output=True, text=True,
        check=True,
    ).stdout.strip()  # fmt: skip
    rows: list[str] = []
    with tempfile.TemporaryDirectory(prefix="isit-bench-crowd-") as tmp:
        work = Path(tmp)
        model = modelgen.write_model(work / "model.onnx")
        tree = work / "baseline"
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), rev], cwd=ROOT,
                       check=True, capture_output=True)  # fmt: skip
        try:
            for name, where in ((f"before ({rev[:7]})", tree), ("after", ROOT)):
                proc, _url, port = spawn_in(where, model)
                try:
                    rows += measure(name, port, args.sizes)
                finally:
                    stop(proc)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT,
                           capture_output=True)  # fmt: skip
    print(f"\nGET /api/health from N connections opened at once (timeout {TIMEOUT_S:.0f} s)")
    print("| dev host | N | answered | 200 | 503 busy | dropped or unanswered | seconds |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
