"""Shared by the hard-folder benchmarks: folders -> cached features, grouped folds, intervals.

Features come from the feature cache (``$ISIT_CACHE_DIR``, default /tmp/isit-cache-bench)
through the served backbone ONNX, so every backbone's pass over a folder runs once.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("ISIT_CACHE_DIR", "/tmp/isit-cache-bench")

import numpy as np  # noqa: E402

HARD_ROOT = Path(os.environ.get("ISIT_HARD_ROOT", "/tmp/isit-hard"))
HARD_FOLDERS = ("tux_animals", "tux_food", "tux_topics")
OUTER_FOLDS = 5


@dataclass
class Folder:
    name: str
    labels: list[str]
    paths: list[Path]
    y: np.ndarray
    groups: np.ndarray  # the doctor's duplicate groups


def load_folder(path: Path) -> Folder:
    """The dataset doctor's usable photos (one representative per duplicate group, as
    training uses them), labels and groups; conflicts left out as training does."""
    from training.data.doctor import check_dataset

    report = check_dataset(path, progress=False)
    records = report.usable_images()
    labels = list(report.labels)
    return Folder(
        name=path.name,
        labels=labels,
        paths=[path / r.path for r in records],
        y=np.array([labels.index(r.label) for r in records], dtype=np.int64),
        groups=np.array([r.group_key for r in records]),
    )


_EXTRACTORS: dict[str, object] = {}


def features(paths: list[Path], backbone: str) -> np.ndarray:
    """Cached backbone features of image files (computed once per backbone)."""
    from isit.feature_extractor import FeatureExtractor
    from training.backbones.provision import provision
    from training.data.feature_cache import Entry, FeatureCache, sha256_bytes

    if backbone not in _EXTRACTORS:
        _EXTRACTORS[backbone] = FeatureExtractor(provision(backbone))
    cache = FeatureCache(_EXTRACTORS[backbone], progress=False)  # type: ignore[arg-type]
    entries = [Entry(sha256_bytes(p.read_bytes()), p) for p in paths]
    return cache.get(entries)


def feature_bytes(items: list[bytes], backbone: str) -> np.ndarray:
    """Cached features of in-memory images (e.g. the unknown probes)."""
    from training.data.feature_cache import Entry, FeatureCache, sha256_bytes

    features([], backbone)  # provisions the extractor
    cache = FeatureCache(_EXTRACTORS[backbone], progress=False)  # type: ignore[arg-type]
    return cache.get([Entry(sha256_bytes(b), b) for b in items])


def outer_splits(y: np.ndarray, groups: np.ndarray, folds: int = OUTER_FOLDS, seed: int = 0):
    """Stratified group k-fold: duplicates never straddle train and test."""
    from sklearn.model_selection import StratifiedGroupKFold

    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(y)), y, groups))


def wilson(k: int, n: int) -> tuple[float, float]:
    """95% Wilson score interval of k successes in n (scipy's implementation)."""
    from scipy.stats import binomtest

    if n == 0:
        return (0.0, 1.0)
    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=0.95, method="wilson")
    return float(ci.low), float(ci.high)


def proportion(k: int, n: int) -> str:
    """``0.78 (0.70-0.85) n=139``."""
    low, high = wilson(k, n)
    return f"{k / max(n, 1):.3f} ({low:.2f}-{high:.2f}) n={n}"


def table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table (printed verbatim into reports and the README)."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(row: list[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), rule, *map(line, rows)])
