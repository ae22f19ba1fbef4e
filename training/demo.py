"""`python -m training demo --workdir .demo`: sample photos -> check -> train -> model.onnx.

What `make demo` runs before serving the page: generates the sample photos
(``WORKDIR/data``), checks and trains on them (``WORKDIR/model/model.onnx``,
``metrics.json``) and puts the report at ``WORKDIR/report.html``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from isit.errors import IsitError
from training.sampledata import generate


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workdir", default=".demo", type=Path, help="where to put everything")
    parser.add_argument("--per-class", type=int, default=40, help="sample photos per class")
    parser.add_argument("--seed", type=int, default=0, help="random seed")


def run(args: argparse.Namespace) -> int:
    from training.api import train
    from training.settings import TrainConfig

    workdir: Path = args.workdir
    data = workdir / "data"
    if data.exists():  # ours: regenerate so the demo is the same every time
        shutil.rmtree(data)
    generate(data, per_class=args.per_class, seed=args.seed)
    print(f"Generated sample photos in {data}/ (circles, squares, triangles).", file=sys.stderr)
    try:
        result = train(data, workdir / "model", TrainConfig(seed=args.seed, name="shapes-demo"))
    except IsitError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    report = workdir / "report.html"
    shutil.copyfile(result.report_path, report)
    test = result.metrics["test"]
    print(
        f"Trained in {result.seconds:.1f} s: accuracy {test['accuracy']:.3f} on {test['n']} "
        f"held-out photos.\nmodel:  {result.model_path}\nreport: {report}"
    )
    return 0
