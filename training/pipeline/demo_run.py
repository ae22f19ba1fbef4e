"""The demo `make demo` runs before serving the page: sample photos -> check -> train.

:func:`run_demo` generates the sample photos (``WORKDIR/data``, see
:mod:`training.data.sampledata`), checks and trains on them (``WORKDIR/model/model.onnx``,
``metrics.json``) and puts the report at ``WORKDIR/report.html``.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.data.sampledata import generate

DEMO_PER_CLASS = 40
DEMO_NAME = "shapes-demo"


@dataclass(frozen=True)
class DemoResult:
    data_dir: Path
    report_path: Path
    train: Any  # training's TrainResult


def run_demo(
    workdir: Path, *, per_class: int = DEMO_PER_CLASS, seed: int = 0, progress: bool | None = None
) -> DemoResult:
    """Regenerate ``workdir/data`` (ours: the same every time), then train on it."""
    from training.pipeline import train
    from training.settings import TrainConfig

    data = workdir / "data"
    if data.exists():
        shutil.rmtree(data)
    generate(data, per_class=per_class, seed=seed)
    print(f"Generated sample photos in {data}/ (circles, squares, triangles).", file=sys.stderr)
    # The demo's own folder, made again on every demo: replacing it is what is asked.
    config = TrainConfig(seed=seed, name=DEMO_NAME)
    result = train(data, workdir / "model", config, progress=progress, force=True)
    report = workdir / "report.html"
    shutil.copyfile(result.report_path, report)
    return DemoResult(data, report, result)
