"""Frozen vs fine-tuned (1 and 2 stages) backbone, each with and without test-time flips,
on the hard folders, in one run (issue 28).

    .venv/bin/python bench/hardsets.py               # once: builds /tmp/isit-hard/*
    .venv/bin/python -m bench.bench_fine_tune [--quick] [--folders ...] [--stages 1 2]

For each folder: the doctor's usable photos (duplicates grouped), stratified group 5-fold
CV (the same folds for every configuration). In each fold, the tail is fine-tuned on the
fold's training photos only (photo + mirror image), stopping early on a grouped 15% of
them, exactly as ``isit train --fine-tune`` does; then isit's exact head (C by inner CV)
on the fold's features. "flips": features averaged over the photo and its mirror, for
training and answering (what the graph computes). ``vader_elsa->restyled``: trained on the
originals, answering the re-styled copies of the held-out photos. Columns: accuracy with n
and a Wilson 95% interval; AUROC of the unknown score (held-out photos, for vader_elsa
their "elsewhere" copies, against the unrelated images: the probes and
/tmp/isit-hard/unrelated); seconds of fine-tuning per fold (the head's time excluded); and
one image's latency on one core (onnxruntime), relative to the frozen model.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass

import numpy as np

from bench import bench_unknown, hardlib
from training.data.feature_cache import Entry, sha256_bytes

BACKBONE = "efficientnet_lite0"
FROZEN = 0  # "stages" of the frozen configuration


@dataclass
class Task:
    """One folder: training photos, what held-out photos are answered as, unrelated ones."""

    folder: hardlib.Folder
    train: list[Entry]
    answer: list[Entry]  # the photo itself, or its re-styled copy (vader_elsa)
    inclass: list[Entry]  # for the unknown AUROC: the photo, or its "elsewhere" copy
    name: str


def _entries(paths) -> list[Entry]:
    return [Entry(sha256_bytes(p.read_bytes()), p) for p in paths]


def tasks(folders: list[str]) -> list[Task]:
    out = []
    for name in folders:
        restyled_dir = hardlib.HARD_ROOT / bench_unknown.SHIFTED_SETS["restyled"]
        if name == "vader_elsa" and bench_unknown.IN_DIST.is_dir() and restyled_dir.is_dir():
            folder = hardlib.load_folder(bench_unknown.IN_DIST)
            restyled = _entries(bench_unknown.shifted_paths(folder, "restyled"))
            elsewhere = _entries(bench_unknown.shifted_paths(folder, "elsewhere"))
            out.append(Task(folder, _entries(folder.paths), restyled, elsewhere,
                            "vader_elsa->restyled"))  # fmt: skip
        elif (hardlib.HARD_ROOT / name).is_dir():
            folder = hardlib.load_folder(hardlib.HARD_ROOT / name)
            entries = _entries(folder.paths)
            out.append(Task(folder, entries, entries, entries, name))
    return out


def unrelated_entries() -> list[Entry]:
    from training.model.unknown import probe_images

    items = [b for _, b in probe_images()]
    items += [p.read_bytes() for p in sorted((hardlib.HARD_ROOT / "unrelated").iterdir())]
    return [Entry(sha256_bytes(b), b) for b in items]


class Views:
    """Cached outputs (frozen features, or trunk activations) of every view needed."""

    def __init__(self, extractor, task: Task, unrelated: list[Entry]) -> None:
        from training.finetune.views import MIRROR, cached_views

        def get(entries, view=0):
            return cached_views(extractor, entries, view)

        self.train, self.train_mirror = get(task.train), get(task.train, MIRROR)
        self.answer, self.answer_mirror = get(task.answer), get(task.answer, MIRROR)
        self.inclass, self.inclass_mirror = get(task.inclass), get(task.inclass, MIRROR)
        self.unrelated, self.unrelated_mirror = get(unrelated), get(unrelated, MIRROR)


@dataclass
class Tally:
    correct: int = 0
    n: int = 0
    inclass: list = None  # type: ignore[assignment]
    unrelated: list = None  # type: ignore[assignment]
    seconds: list = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self.inclass, self.unrelated, self.seconds = [], [], []


def _score(tally: Tally, x_fit, y_fit, g_fit, x_answer, y_answer, x_in, x_out, n_classes):
    from training.model import unknown as ood
    from training.model.head import HeadConfig, fit_fold_calibrated

    head, _ = fit_fold_calibrated(x_fit, y_fit, HeadConfig(), n_classes=n_classes, groups=g_fit)
    tally.correct += int((head.predict_proba(x_answer).argmax(1) == y_answer).sum())
    tally.n += len(y_answer)
    reference = ood.fit_reference(x_fit, y_fit, g_fit)  # isit's score: the nearest photo
    tally.inclass.append(ood.ood_scores(x_in, reference))
    tally.unrelated.append(ood.ood_scores(x_out, reference))


def _fold_features(split, views: Views, fit_idx, y, groups, n_classes, tune_config):
    """Fine-tune on ``fit_idx`` (inner grouped stopping split), then features of every
    view through the fold's tail; (features by view name, seconds)."""
    from sklearn.model_selection import GroupShuffleSplit

    from training.finetune.tune import fine_tune

    inner = GroupShuffleSplit(n_splits=1, test_size=0.15, random_state=0)
    tr, st = next(inner.split(fit_idx, y[fit_idx], groups[fit_idx]))
    tr, st = fit_idx[tr], fit_idx[st]
    train = (np.concatenate([views.train[tr], views.train_mirror[tr]]), np.r_[y[tr], y[tr]])
    stop = (np.concatenate([views.train[st], views.train_mirror[st]]), np.r_[y[st], y[st]])
    tuned = fine_tune(split, train, n_classes, tune_config, stop=stop)
    names = ("train", "train_mirror", "answer", "answer_mirror", "inclass", "inclass_mirror",
             "unrelated", "unrelated_mirror")  # fmt: skip
    return {k: split.features(getattr(views, k)) for k in names}, tuned


def _view(feats: dict, name: str, flips: bool) -> np.ndarray:
    """The photos' features, or with flips their mean with the mirror images'."""
    return (feats[name] + feats[name + "_mirror"]) / 2 if flips else feats[name]


def run_task(task: Task, stages: list[int], unrelated: list[Entry], tune_config) -> dict:
    """(stages, flips) -> Tally for one folder."""
    from isit.feature_extractor import FeatureExtractor
    from training.backbones.provision import provision
    from training.backbones.registry import get_backbone
    from training.finetune.stages import provision_trunk, split_backbone
    from training.settings import cache_root

    y, groups, n_classes = task.folder.y, task.folder.groups, len(task.folder.labels)
    folds = hardlib.outer_splits(y, groups)
    frozen = Views(FeatureExtractor(provision(BACKBONE)), task, unrelated)
    per_stage = {FROZEN: (None, frozen)}
    for s in stages:
        split = split_backbone(get_backbone(BACKBONE), s)
        per_stage[s] = (split, Views(provision_trunk(split, cache_root()), task, unrelated))
    tallies = {(s, f): Tally() for s in per_stage for f in (False, True)}
    for fit_idx, held_idx in folds:
        for s, (split, views) in per_stage.items():
            if split is None:
                feats = {k: v for k, v in vars(views).items()}
            else:
                feats, tuned = _fold_features(split, views, fit_idx, y, groups, n_classes,
                                              tune_config)  # fmt: skip
                tallies[(s, False)].seconds.append(tuned.seconds)
                tallies[(s, True)].seconds.append(tuned.seconds)
                print(f"  {task.name} stages={s}: best epoch {tuned.best_epoch}/"
                      f"{tuned.epochs_run}, {tuned.seconds:.1f} s", flush=True)  # fmt: skip
            for flips in (False, True):
                x = {k: _view(feats, k, flips) for k in ("train", "answer", "inclass", "unrelated")}
                _score(tallies[(s, flips)], x["train"][fit_idx], y[fit_idx], groups[fit_idx],
                       x["answer"][held_idx], y[held_idx], x["inclass"][held_idx],
                       x["unrelated"], n_classes)  # fmt: skip
    return tallies


def latency(runs: int = 30, rounds: int = 3, threads: int = 1) -> dict[bool, float]:
    """flips -> median ms for one image on ``threads`` cores (best of interleaved rounds;
    a fine-tuned backbone has the frozen one's graph, so its latency)."""
    import onnx
    import onnxruntime as ort

    from training.backbones.provision import provision
    from training.model.flips import add_flips

    path = provision(BACKBONE)
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    models = {False: onnx.load(str(path)), True: add_flips(onnx.load(str(path)))}
    image = np.random.default_rng(0).normal(0, 1, (1, 224, 224, 3)).astype(np.float32)
    sessions = {k: ort.InferenceSession(m.SerializeToString(), options) for k, m in models.items()}
    best = {k: float("inf") for k in sessions}
    for _ in range(rounds):
        for k, session in sessions.items():
            session.run(None, {"image": image})
            times = []
            for _ in range(runs):
                start = time.perf_counter()
                session.run(None, {"image": image})
                times.append((time.perf_counter() - start) * 1000)
            best[k] = min(best[k], statistics.median(times))
    return best


def _auroc(tally: Tally) -> float:
    from sklearn.metrics import roc_auc_score

    inside, outside = np.concatenate(tally.inclass), np.concatenate(tally.unrelated)
    labels = np.r_[np.zeros(len(inside)), np.ones(len(outside))]
    return float(roc_auc_score(labels, np.r_[inside, outside]))


def rows_of(name: str, tallies: dict, ms: dict[bool, float]) -> list[list[str]]:
    rows = []
    base = tallies[(FROZEN, False)]
    for (s, flips), t in tallies.items():
        what = "frozen" if s == FROZEN else f"fine-tuned, {s} stage{'s' if s > 1 else ''}"
        gain = 100 * (t.correct - base.correct) / max(t.n, 1)
        seconds = f"{statistics.mean(t.seconds):.1f}" if t.seconds else "0"
        rows.append([name, what + (" + flips" if flips else ""), hardlib.proportion(t.correct, t.n),
                     f"{gain:+.1f}", f"{_auroc(t):.3f}", seconds,
                     f"{ms[flips]:.1f} ({ms[flips] / ms[False]:.2f}x)"])  # fmt: skip
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--folders", nargs="+",
                        default=[*hardlib.HARD_FOLDERS, "vader_elsa"])  # fmt: skip
    parser.add_argument("--stages", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--quick", action="store_true",
                        help="tux_food, 1 stage, at most 4 epochs: a smoke run")  # fmt: skip
    args = parser.parse_args()
    from training.finetune.tune import TuneConfig

    tune_config = TuneConfig()
    if args.quick:
        args.folders, args.stages = ["tux_food"], [1]
        tune_config = TuneConfig(max_epochs=4)
    if not (hardlib.HARD_ROOT / "unrelated").is_dir():
        print(f"skipped: no hard folders under {hardlib.HARD_ROOT} (run bench/hardsets.py)")
        return 0
    ms = latency()
    two = latency(threads=2)
    print(f"latency, one image on 2 threads: {two[False]:.1f} ms, with flips {two[True]:.1f} ms "
          f"({two[True] / two[False]:.2f}x)", flush=True)  # fmt: skip
    unrelated = unrelated_entries()
    rows = []
    for task in tasks(args.folders):
        rows += rows_of(task.name, run_task(task, args.stages, unrelated, tune_config), ms)
        print(hardlib.table(HEADER, rows[-2 * (len(args.stages) + 1) :]), flush=True)
    print(f"\n{BACKBONE}; grouped stratified 5-fold CV; accuracy (Wilson 95%)")
    print(hardlib.table(HEADER, rows))
    return 0


HEADER = ["folder", "backbone", "accuracy (95% CI) n", "vs frozen (points)",
          "unknown AUROC", "fine-tune s/fold", "ms/image (1 core)"]  # fmt: skip

if __name__ == "__main__":
    raise SystemExit(main())
