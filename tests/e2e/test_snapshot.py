"""The renovation's guard: metrics.json and `predict --json` of one real training run on
generated photos match a snapshot taken before training/ was reorganised (issue 21).

Refresh deliberately (a change of behaviour you mean): ISIT_WRITE_SNAPSHOT=1 pytest -k snapshot.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

SNAPSHOT = Path(__file__).parent / "snapshots" / "sample_run.json"
# Not behaviour: wall-clock times, the run's own paths.
VOLATILE = {"timings", "train_seconds", "model file", "training time", "cache", "parity"}
# Keys renamed on purpose since the snapshot: old dotted path from the top of the
# snapshot -> new key name (a path, so `split.test` keeps its name).
RENAMED: dict[str, str] = {
    # issue 21: the best guess's block also held cross-validated numbers
    "metrics.test": "best_guess",
}


def _strip(value, path="$", renamed=None):
    """Without the volatile keys; ``renamed`` (the snapshot's side only) applied."""
    renamed = {} if renamed is None else renamed
    if isinstance(value, dict):
        return {
            renamed.get(f"{path}.{k}".removeprefix("$."), k): _strip(v, f"{path}.{k}", renamed)
            for k, v in value.items()
            if k not in VOLATILE
        }
    if isinstance(value, list):
        return [_strip(v, f"{path}[]", renamed) for v in value]
    return value


def _close(a, b, path="$"):
    """Equal, floats within 1e-5 (BLAS summation order differs between machines)."""
    if isinstance(a, dict) and isinstance(b, dict):
        assert sorted(a) == sorted(b), f"{path}: keys {sorted(set(a) ^ set(b))}"
        for k in a:
            _close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), f"{path}: {len(a)} vs {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _close(x, y, f"{path}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        assert isinstance(a, int | float) and isinstance(b, int | float), f"{path}: {a!r} {b!r}"
        assert math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-5), f"{path}: {a} vs {b}"
    else:
        assert a == b, f"{path}: {a!r} vs {b!r}"


def _run_snapshot(trained_model, sample_dataset_dir) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "training", "predict", str(trained_model.model_path),
         str(sample_dataset_dir), "--json", "--no-progress"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    answers = [json.loads(line) for line in out.stdout.splitlines()]
    for answer in answers:
        answer.pop("elapsed_ms", None)
        answer["path"] = Path(answer["path"]).relative_to(sample_dataset_dir).as_posix()
    answers.sort(key=lambda a: a["path"])
    metrics = json.loads(Path(trained_model.metrics_path).read_text())
    return {"metrics": _strip(metrics, "$.metrics"), "predict": answers}


@pytest.mark.slow
def test_training_run_matches_the_snapshot(trained_model, sample_dataset_dir):
    now = _run_snapshot(trained_model, sample_dataset_dir)
    if os.environ.get("ISIT_WRITE_SNAPSHOT"):
        SNAPSHOT.write_text(json.dumps(now, indent=1, sort_keys=True, ensure_ascii=False))
    before = json.loads(SNAPSHOT.read_text())
    _close(_strip(before, renamed=RENAMED), now)


def test_renames_apply_to_their_path_only():
    snapshot = {"metrics": {"test": {"n": 1}, "split": {"test": 2}, "timings": {}}}
    assert _strip(snapshot, renamed=RENAMED) == {
        "metrics": {"best_guess": {"n": 1}, "split": {"test": 2}}
    }
