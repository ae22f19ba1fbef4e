"""Likely label mistakes (issue 13): planted misfiled photos are found, correct ones are
not accused, and nothing in the folder is touched."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import replace

import numpy as np
import pytest

from training.cli import main
from training.data.sampledata import CLASSES, generate
from training.evaluation.label_review import (
    combined_mistakes,
    likely_mistakes,
    neighbour_votes,
    with_nearest_photos,
)


def test_confident_learning_flags_disputed_labels_most_suspicious_first():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 50)
    p = np.where(y[:, None] == np.arange(2), 0.95, 0.05) + rng.uniform(0, 0.01, (100, 2))
    p[[3, 60]] = [[0.02, 0.98], [0.98, 0.02]]  # two photos their own scores dispute
    p[10] = [0.45, 0.55]  # a mild doubt
    names = [f"p{i}" for i in range(100)]
    issues = likely_mistakes(p, y, ("a", "b"), names, [b""] * 100)
    found = [i.name for i in issues]
    assert found[:2] == ["p3", "p60"] and len(found) <= 3
    assert (issues[0].given, issues[0].looks_like) == ("a", "b")
    assert issues[0].probability > 0.9 and issues[0].given_probability < 0.1


def _two_looks(seed: int, per_look: int = 100, dims: int = 32):
    """Feature vectors of two classes with two looks each (e.g. the helmet close up and
    the whole figure): four blobs, the looks of one class no closer to each other than to
    the other class's."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1, (4, dims)) * 1.2
    look = np.repeat(np.arange(4), per_look)
    x = centres[look] + rng.normal(0, 1, (len(look), dims))
    return np.maximum(x + 3.0, 0.0), look // 2  # pooled features are non-negative


def _plant_labels(y, share, rng):
    moved = rng.choice(len(y), size=round(share * len(y)), replace=False)
    noisy = y.copy()
    noisy[moved] = 1 - noisy[moved]
    return noisy, set(moved.tolist())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_combined_review_finds_planted_mistakes_in_a_two_look_folder(seed):
    from training.model.head import choose_c
    from training.pipeline.review import out_of_fold_probabilities, refit_out_of_fold

    x, y = _two_looks(seed)
    rng = np.random.default_rng(seed + 10)
    noisy, planted = _plant_labels(y, 0.05, rng)
    groups = np.arange(len(y))
    c, _ = choose_c(x, noisy, groups)
    p = out_of_fold_probabilities(x, noisy, groups, 2, c)
    names = [str(i) for i in range(len(y))]

    def refit(keep):
        return refit_out_of_fold(x, noisy, groups, 2, c, keep)

    issues = combined_mistakes(p, x, noisy, groups, ("a", "b"), names, [b""] * len(y), refit)
    listed = {int(i.name) for i in issues}
    assert len(listed & planted) >= 0.9 * len(planted), (sorted(listed), sorted(planted))
    assert len(listed - planted) <= 0.02 * (len(y) - len(planted)), sorted(listed - planted)
    first = issues[0]  # most suspicious first, and told which class it looks like
    assert first.looks_like != first.given and first.probability > first.given_probability


def test_combined_review_works_without_a_refit_and_keeps_the_issue_type():
    x, y = _two_looks(5)
    noisy, planted = _plant_labels(y, 0.05, np.random.default_rng(6))
    p = np.eye(2)[y] * 0.8 + 0.1  # a head that knows the truth
    issues = combined_mistakes(p, x, noisy, None, ("a", "b"), [str(i) for i in range(400)],
                               [b""] * 400)  # fmt: skip
    assert {int(i.name) for i in issues} == planted
    assert issues[0].to_dict()["given"] in ("a", "b")


def test_neighbours_never_count_the_photo_nor_its_copies():
    x = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.1], [0.0, 1.0], [0.1, 1.0], [0.0, 1.1]])
    y = np.array([0, 1, 1, 0, 0, 0])
    votes = neighbour_votes(x, y, 2, groups=np.array([0, 0, 1, 2, 3, 4]), k=1)
    assert votes[0].tolist() == [0.0, 1.0]  # its copy (row 1) is not its neighbour: row 2
    votes = neighbour_votes(x, y, 2, voters=np.array([1, 0, 0, 1, 1, 1], bool), k=2)
    assert votes[2].tolist() == [1.0, 0.0]  # rows 1 and 2 do not vote


def test_each_suspect_gets_its_nearest_photos_of_both_classes_never_its_copies():
    x, y = _two_looks(7, per_look=20)
    noisy, _ = _plant_labels(y, 0.05, np.random.default_rng(8))
    groups = np.arange(len(y))
    groups[1] = groups[0]  # photo 1 is a copy of photo 0
    names = [str(i) for i in range(len(y))]
    p = np.eye(2)[y] * 0.8 + 0.1
    issues = combined_mistakes(p, x, noisy, groups, ("a", "b"), names, [b""] * len(y))
    shown = with_nearest_photos([*issues, replace(issues[0], name="0")], x, noisy, groups,
                                ["a", "b"], names, [b""] * len(y), per_class=3)  # fmt: skip
    for issue in shown:
        i = int(issue.name)
        labels = [label for _, _, label in issue.neighbours]
        assert labels == [issue.given] * 3 + [issue.looks_like] * 3
        near = [int(name) for name, _, _ in issue.neighbours]
        assert i not in near and all(groups[j] != groups[i] for j in near)
        assert all(("ab"[noisy[j]]) == label for j, (_, _, label) in zip(near, issue.neighbours,
                                                                     strict=True))  # fmt: skip
    # The nearest in the class it looks like are nearer than anything else of that class.
    z = x - x.mean(axis=0)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    first = shown[0]
    i = int(first.name)
    other = [int(n) for n, _, label in first.neighbours if label == first.looks_like]
    rest = [j for j in range(len(y)) if "ab"[noisy[j]] == first.looks_like and j not in other
            and groups[j] != groups[i]]  # fmt: skip
    assert min(z[other] @ z[i]) >= max(z[rest] @ z[i])


def test_too_few_photos_give_no_combined_issues():
    p = np.full((3, 2), 0.5)
    assert combined_mistakes(p, np.ones((3, 4)), np.array([0, 1, 1]), None, ("a", "b"),
                             ["p0", "p1", "p2"], [b""] * 3) == []  # fmt: skip


def _plant_mistakes(root, share, seed=0):
    files = sorted(p for p in root.rglob("*") if p.is_file())
    rng = np.random.default_rng(seed)
    planted = set()
    for f in rng.choice(files, size=round(share * len(files)), replace=False):
        others = [c for c in CLASSES if c != f.parent.name]
        target = root / others[int(rng.integers(len(others)))] / f"moved_{f.name}"
        f.rename(target)
        planted.add(target.relative_to(root).as_posix())
    return planted


def _digest(root):
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.mark.slow
def test_check_with_a_model_lists_planted_label_mistakes(
    trained_model_path, tmp_path, capsys
):
    root = generate(tmp_path / "data", per_class=100, min_side=64, max_side=128, seed=41,
                    odd_names=False)  # fmt: skip
    planted = _plant_mistakes(root, 0.05)
    before = _digest(root)
    argv = ["check", str(root), "--model", str(trained_model_path), "--json"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    listed = {issue["path"] for issue in result["label_issues"]}
    correct = len(before) - len(planted)
    assert len(listed & planted) >= 0.8 * len(planted), (listed, planted)
    assert len(listed - planted) <= 0.02 * correct, listed - planted
    assert _digest(root) == before  # nothing moved or changed


@pytest.mark.slow
def test_train_lists_likely_mistakes_in_metrics_and_report(sample_dataset_dir, tmp_path):
    from training.pipeline import train
    from training.settings import TrainConfig

    root = tmp_path / "data"
    shutil.copytree(sample_dataset_dir, root)
    planted = _plant_mistakes(root, 0.05, seed=3)
    result = train(root, tmp_path / "out", TrainConfig(probes=False), quiet=True, progress=False)
    listed = {issue.name for issue in result.metrics.label_issues}
    assert len(listed & planted) >= 0.8 * len(planted)
    html = result.report_path.read_text("utf-8")
    assert "photos may be in the wrong folder" in html
    # The gallery comes first thing after the headline, each suspect beside its nearest
    # photos in its folder and in the class it looks like.
    assert html.index("may be in the wrong folder") < html.index("Per class")
    first = result.metrics.label_issues[0]
    assert len(first.neighbours) == 6
    assert f"nearest in {first.given}/" in html and f"nearest in {first.looks_like}/" in html


def test_the_headline_counts_in_words_people_write():
    from training.evaluation.label_review import wrong_folder_headline

    assert wrong_folder_headline(1) == "1 photo may be in the wrong folder"
    assert wrong_folder_headline(3) == "3 photos may be in the wrong folder"
