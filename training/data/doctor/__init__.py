"""The dataset doctor: check, de-duplicate and split a folder of labelled photos, no leaks.

Use from code (training, fetch)::

    from training.data.doctor import check_dataset, format_summary

    report = check_dataset("data/", min_per_class=5, split=(0.8, 0.1, 0.1))
    print(format_summary(report))
    report.raise_if_fatal()                   # DatasetInvalid (an IsitError) listing .fatal
    for rec in report.usable_images():        # one record per duplicate group
        rec.path, rec.label, rec.split, rec.sha256   # path relative to report.root
    if report.cross_validation:               # some class too small for held-out val/test
        folds = report.cross_validation_folds(k=5)   # path -> fold, stratified per class

``check_dataset(data_dir, *, min_per_class=5, split=(0.8, 0.1, 0.1), progress=None,
workers=None, min_side=32, hamming_threshold=10, min_correlation=0.78) -> DatasetReport``
never modifies DATA_DIR and never raises for bad data (only ValueError for bad settings).
``progress=None`` shows a tqdm bar only when stderr is a terminal. ``features=DIR`` reads
the rows of `isit features` (training/features_table) instead of decoding the photos.

``DatasetReport``:

- ``root``: the folder checked; every path below is relative to it, with ``/``.
- ``classes``: label -> usable count (distinct images: one per duplicate group, cross-class
  conflicts left out). ``class_info[label]`` adds files, copies, conflicting, per-split
  counts and ``held_out_ok``. ``labels`` is sorted. ``negative_classes`` lists folders named
  ``other``/``unknown``: ordinary classes here, "none of the above" to training.
- ``abspath(record)``: ``root / record.path``.
- ``images``: an ``ImageRecord`` per readable image: ``path``, ``label``, ``split``
  (train/val/test of its whole group), ``group`` (index into ``duplicate_groups``, None
  without copies), ``group_key`` (smallest sha256 of the group), ``sha256`` (file bytes:
  key training's feature cache on it), ``width``/``height`` (upright), ``representative``
  (the one copy training uses: the largest), ``conflict``, ``user_split``.
- ``usable_images(include_conflicts=False)``: the representatives, i.e. what to train and
  evaluate on. No group crosses splits, so no evaluation image has a copy in training.
  ``split_images("test")`` filters by split; ``split_counts()`` counts them.
- ``problems``: ``Problem(path, kind, reason)``; kinds: not_an_image, empty, too_small,
  too_large, too_many_pixels, unsupported_format, unreadable, hidden,
  outside_class_folder. Reported, never fatal.
- ``duplicate_groups`` (lists of paths, >= 2 each; ``duplicate_kinds`` says
  identical_bytes / identical_pixels / near), ``conflicts`` (groups across classes),
  ``leaks`` (groups across the user's split folders: each goes to its earliest split).
- ``fatal``: messages saying what to do (no images, < 2 classes, a class under
  ``min_per_class`` usable images, split folders disagreeing on class names, split and
  class folders mixed). ``ok`` is ``not fatal``.
- ``warnings``: imbalance (``imbalance_ratio`` = largest / smallest class; training uses
  class weights), classes too small for held-out splits, leaks.
- ``shortcut_warnings``: ``ShortcutWarning(fact, label, message, shares, held_out_accuracy,
  examples)`` for each fact other than the subject that tells a class apart (a frame, bars,
  the format, size, shape, JPEG quality, camera, night, darkness, a corner mark), from
  ``shortcut_audit`` (``shortcut_audit.py``: how; ``photo_facts.py``: the facts).
- ``cross_validation``: True when a class has too few distinct images for a meaningful
  held-out val AND test (``settings["min_held_out_class_size"]``, 20 at 80/10/10): report
  numbers from k-fold cross-validation instead. Splits are still assigned, never empty
  when a class has 3 or more images.
- ``to_json()``: the JSON of ``isit check --json`` (the issue's schema plus
  details); ``format_summary(report)``: the text the command prints.

How duplicates are found is in ``duplicates.py`` (thresholds and why), how splits stay
stable in ``split.py``.
"""

from training.data.doctor.examine import check_dataset
from training.data.doctor.findings import (
    ClassInfo,
    DatasetInvalid,
    DatasetReport,
    ImageRecord,
    Problem,
    format_summary,
)

__all__ = [
    "ClassInfo",
    "DatasetInvalid",
    "DatasetReport",
    "ImageRecord",
    "Problem",
    "check_dataset",
    "format_summary",
]
