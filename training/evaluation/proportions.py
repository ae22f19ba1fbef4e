"""Proportions with their n and a 95% interval: every figure a user reads.

Wilson score intervals from scipy (``binomtest(...).proportion_ci(method="wilson")``):
well-behaved at 0% and 100% and on a handful of photos, where the normal
approximation says nonsense like "100% ± 0".
"""

from __future__ import annotations

from dataclasses import dataclass

from training.json_types import JsonObject

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Proportion:
    k: int  # successes
    n: int  # out of
    low: float  # 95% Wilson interval
    high: float

    @property
    def value(self) -> float:
        return self.k / self.n if self.n else 0.0

    def to_dict(self) -> JsonObject:
        return {
            "value": round(self.value, 6),
            "k": self.k,
            "n": self.n,
            "low": round(self.low, 6),
            "high": round(self.high, 6),
        }

    def interval(self) -> str:
        """``78% (69–85%)``."""
        return interval_text(self.value, self.low, self.high)

    def text(self, unit: str = "photos") -> str:
        """``78% (69–85%), 139 photos``; ``no photos`` when n is 0."""
        if not self.n:
            return f"no {unit}"
        return f"{self.interval()}, {self.n} {unit}"


def percent(x: float) -> str:
    """A share as a whole percent, keeping 99.5% from reading as 100%."""
    value = 100 * x
    if 99 < value < 100:
        return f"{value:.1f}%"
    if 0 < value < 1:
        return f"{value:.1f}%"
    return f"{value:.0f}%"


def interval_text(value: float, low: float, high: float) -> str:
    """``78% (69–85%)``."""
    return f"{percent(value)} ({percent(low)[:-1]}–{percent(high)})"


def proportion(k: int, n: int) -> Proportion:
    """``k`` of ``n`` with its 95% Wilson interval (0..1 when n is 0: nothing is known)."""
    k, n = int(k), int(n)
    if not 0 <= k <= n:
        raise ValueError(f"a proportion needs 0 <= k <= n, got {k} of {n}")
    if n == 0:
        return Proportion(0, 0, 0.0, 1.0)
    from scipy.stats import binomtest

    interval = binomtest(k, n).proportion_ci(confidence_level=CONFIDENCE, method="wilson")
    return Proportion(k, n, float(interval.low), float(interval.high))
