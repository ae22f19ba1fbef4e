"""Code that needs forked workers, run in a new interpreter: once a test has loaded
TensorFlow, the test process never forks (by design), so such a test would prove nothing
there."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

two_cores = pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs 2 cores")
ROOT = Path(__file__).resolve().parents[2]  # where `tests` imports from


def run_fresh(code: str) -> None:
    """Run ``code`` in a new interpreter with two cores' workers available; it asserts."""
    prelude = (
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT / 'tests' / 'helpers')!r})\n"
        "from training.workers import worker_count\n"
        "assert worker_count(2) == 2\n"
    )
    subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], check=True, cwd=ROOT)
