"""Every default of training in one place, and the validated training configuration.

The CLI reads its argparse defaults from here and the Python API uses the same
:class:`TrainConfig`, so a default changes in one line and both agree.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from isit.errors import IsitError

# Where backbones and features are cached: $ISIT_CACHE_DIR, else ~/.cache/isit.
CACHE_ENV = "ISIT_CACHE_DIR"
DEFAULT_BACKBONE = "efficientnet_lite0"  # by measurement: README "Head and backbone"
EPOCHS = 60
SEED = 0
AUGMENT = 0
HIDDEN = 0
FOLDS = 5  # cross-validation folds (evaluation, unknown calibration)
RUNS_DIR = "runs"  # `isit train` writes runs/<name>/ (then <name>-2, ...) without --out
EVALUATE_RUNS = "evaluate"  # `isit evaluate` writes runs/evaluate/<name>/ without --out
# Free space a run's folder needs before the long work starts (model.onnx is 5-25 MB).
OUTPUT_MIN_FREE_MB = 64
# An answer whose top two calibrated probabilities are closer than this is shown as
# uncertain ("probably X"): with two classes, under 60% for the winner, right not much
# more often than a coin flip between the two.
UNCERTAIN_MARGIN = 0.2
# The unknown threshold accepts this share of the training photos' leave-one-cluster-out
# scores (training.model.unknown): chosen on the development sources of
# bench/bench_unknown_real.py; `train --unknown-acceptance` picks another point.
UNKNOWN_ACCEPTANCE = 0.95
# The headline comes from cross-validation over every photo when the test split is too
# small to say much: under MIN_TEST_PHOTOS photos (a 95% interval then spans about +-6
# points at 90% accuracy) or any class under MIN_TEST_PER_CLASS (its recall +-11 points).
MIN_TEST_PHOTOS = 100
MIN_TEST_PER_CLASS = 30
# `isit train --fine-tune` (issue 28): the last FINE_TUNE_STAGES stages of the backbone
# train with the head, at most FINE_TUNE_MAX_EPOCHS epochs (docs/benchmarks.md).
FINE_TUNE = False
FINE_TUNE_STAGES = 1
FLIPS = False  # test-time flips: every answer averaged over the photo and its mirror
FINE_TUNE_MAX_EPOCHS = 12
CV_REPEATS = 2  # repetitions of the k-fold (other fold assignments) averaged per photo
# Exact-head fits run at once, in forked processes (cross-validation's folds and the final
# head; the label review's refits): at most the cores this process may use.
FIT_WORKERS = 2
# onnxruntime threads computing features (while two threads decode the next photos): at
# most this many, fewer when other processes are running (pipeline.featurize.feature_threads;
# measured: docs/benchmarks.md "Training time").
FEATURE_THREADS = 2
# Photos per onnxruntime run through a backbone (features, the export's check, heatmaps,
# predict): small batches stay in the CPU's caches and give the same features
# (bench/bench_backbone_batch.py).
BACKBONE_BATCH = 4
# The galleries' kept feature maps (training.data.feature_map_cache), every backbone's
# together: past this many MB the least recently used go.
FEATURE_MAPS_KEPT_MB = 512
# TensorFlow's C++ log level while isit runs (2 = errors only); --verbose shows all.
TF_LOG_LEVEL = "2"
# The loop (issue 27): `isit suggest` and `isit compare` write runs/suggest/<name>/ and
# runs/compare/<name>/ without --out; suggest lists the top SUGGEST_TOP photos.
SUGGEST_RUNS = "suggest"
COMPARE_RUNS = "compare"
SUGGEST_TOP = 20
# Two photos whose features' cosine similarity is above this are near-copies: suggest
# never picks the second (labelling it would teach the model nothing new).
NEAR_COPY_SIMILARITY = 0.98
# How much similarity to a photo already picked lowers a photo's place (0 = none).
DIVERSITY_WEIGHT = 0.5
# `feedback review`: this many nearest training photos shown per class.
REVIEW_NEIGHBOURS = 4


def cache_root() -> Path:
    """``$ISIT_CACHE_DIR`` or ``~/.cache/isit``, read on every call (tests set it)."""
    root = os.environ.get(CACHE_ENV) or os.path.join("~", ".cache", "isit")
    return Path(root).expanduser()


class ConfigError(IsitError):
    """A training setting out of range; the message names the option and what is allowed."""

    code = "invalid_config"


@dataclass(frozen=True)
class TrainConfig:
    """What `isit train` and :func:`training.pipeline.train` accept; checked on creation."""

    backbone: str = DEFAULT_BACKBONE
    epochs: int = EPOCHS
    seed: int = SEED
    augment: int = AUGMENT  # cached augmented views per training photo
    hidden: int = HIDDEN  # 0 = linear head; > 0 = one hidden layer of this many units
    folds: int = FOLDS
    include_conflicts: bool = False
    name: str | None = None  # shown by the API; default: the data folder's name
    title: str | None = None  # the page's question ("Is it Mila?"); default: from the labels
    probes: bool = True  # measure rejection of unrelated photos
    uncertain_margin: float = UNCERTAIN_MARGIN
    fine_tune: bool = FINE_TUNE  # train the backbone's last stage(s) too (training/finetune)
    fine_tune_stages: int = FINE_TUNE_STAGES
    flips: bool = FLIPS
    unknown_acceptance: float = UNKNOWN_ACCEPTANCE

    def __post_init__(self) -> None:
        problems = []
        if not isinstance(self.epochs, int) or self.epochs < 1:
            problems.append(f"epochs must be a whole number of at least 1 (got {self.epochs!r})")
        if not isinstance(self.augment, int) or not 0 <= self.augment <= 50:
            problems.append(f"augment must be between 0 and 50 views (got {self.augment!r})")
        if not isinstance(self.hidden, int) or not 0 <= self.hidden <= 4096:
            problems.append(f"hidden must be 0 (no hidden layer) to 4096 (got {self.hidden!r})")
        if not isinstance(self.folds, int) or not 2 <= self.folds <= 20:
            problems.append(f"folds must be between 2 and 20 (got {self.folds!r})")
        if not isinstance(self.seed, int) or self.seed < 0:
            problems.append(f"seed must be a whole number of 0 or more (got {self.seed!r})")
        if not isinstance(self.backbone, str) or not self.backbone.strip():
            problems.append("backbone must be a name, e.g. mobilenet_v2")
        if self.name is not None and (not self.name.strip() or len(self.name) > 100):
            problems.append("name must be 1 to 100 characters")
        if not 0.0 <= self.uncertain_margin < 1.0:
            problems.append(f"uncertain_margin must be in [0, 1) (got {self.uncertain_margin!r})")
        if self.fine_tune_stages not in (1, 2):
            problems.append(f"fine_tune_stages must be 1 or 2 (got {self.fine_tune_stages!r})")
        if self.fine_tune and self.hidden:
            problems.append("fine-tuning trains a linear head: drop hidden")
        if not 0.5 <= self.unknown_acceptance <= 1.0:
            problems.append(
                f"unknown_acceptance must be in [0.5, 1] (got {self.unknown_acceptance!r})"
            )
        if self.title is not None and (not self.title.strip() or len(self.title) > 120):
            problems.append("title must be 1 to 120 characters")
        if problems:
            raise ConfigError("Invalid training settings: " + "; ".join(problems) + ".")
