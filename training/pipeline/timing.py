"""One wrapper that times every stage (metrics.json ``timings``) and, on a terminal,
names the stage it is in: training is ~25 s of silence otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from tqdm import tqdm

from training.data.doctor.file_hashes import show_progress
from training.progress import stage_bar

__all__ = ["STAGE_WORDS", "StageTimer", "show_progress", "stage_bar", "stage_lines"]

P = ParamSpec("P")
R = TypeVar("R")

# What each stage does, in the words `isit train` prints when it starts one.
STAGE_WORDS = {
    "check": "checking the photos",
    "backbone": "loading the backbone",
    "features": "computing the photos' features (cached for next time)",
    "imports": "loading the later stages' libraries (while the features are computed)",
    "import tensorflow": "starting TensorFlow",
    "cross-validation": "cross-validation: scoring each photo with models that never saw it",
    "head": "training the classifier",
    "unknown": "setting the threshold for \"not sure\"",
    "evaluate": "measuring on held-out photos",
    "review": "looking for photos in the wrong folder",
    "export": "writing model.onnx and checking its answers",
    "heatmaps": "computing where it looked",
    "report": "writing the report",
}


def stage_lines(show: bool) -> Callable[[str, float], None] | None:
    """The announcer :class:`StageTimer` calls: ``[  3.2 s] computing where it looked``."""
    if not show:
        return None

    def announce(name: str, elapsed: float) -> None:
        tqdm.write(f"[{elapsed:5.1f} s] {STAGE_WORDS.get(name, name)}", file=sys.stderr)
        sys.stderr.flush()

    return announce


class StageTimer:
    def __init__(self, announce: Callable[[str, float], None] | None = None) -> None:
        self.started = time.perf_counter()
        self.timings: dict[str, float] = {}
        self.announce = announce  # told each stage's name as it starts

    def run(self, name: str, stage: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """``stage(*args, **kwargs)``, its seconds added to ``timings[name]``."""
        start = time.perf_counter()
        if self.announce is not None:
            self.announce(name, start - self.started)
        try:
            return stage(*args, **kwargs)
        finally:
            spent = time.perf_counter() - start
            self.timings[name] = round(self.timings.get(name, 0.0) + spent, 3)

    def elapsed(self) -> float:
        return round(time.perf_counter() - self.started, 3)
