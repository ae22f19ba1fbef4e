"""One wrapper that times every stage (metrics.json ``timings``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


class StageTimer:
    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.timings: dict[str, float] = {}

    def run(self, name: str, stage: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """``stage(*args, **kwargs)``, its seconds added to ``timings[name]``."""
        start = time.perf_counter()
        try:
            return stage(*args, **kwargs)
        finally:
            spent = time.perf_counter() - start
            self.timings[name] = round(self.timings.get(name, 0.0) + spent, 3)

    def elapsed(self) -> float:
        return round(time.perf_counter() - self.started, 3)
