"""The dev host as a separate process (``python -m devhost --port 0``), for soak tests and
benchmarks that must measure a real server process, not a thread of their own."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_URL = re.compile(r"(http://127\.0\.0\.1:\d+)/ ")


def spawn(env: Mapping[str, str], timeout: float = 60.0) -> tuple[subprocess.Popen[str], str]:
    """Start the dev host with ``env`` (its app settings) and wait until it prints its URL.

    Returns the process and the base URL (no trailing slash). Raises ``RuntimeError`` with
    the server's stderr if it exits or prints no URL within ``timeout`` seconds.
    """
    proc = subprocess.Popen(
        [sys.executable, "-m", "devhost", "--port", "0", "--quiet"],
        cwd=ROOT,
        env={**env, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        match = _URL.search(line)
        if match:
            return proc, match.group(1)
    stop(proc)
    raise RuntimeError("the dev host did not start: " + (proc.stderr.read() if proc.stderr else ""))


def stop(proc: subprocess.Popen[str]) -> None:
    """Ctrl+C, as a person would; kill if it does not end within 10 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
