"""The training pipeline's pieces, tested without Keras where they can be: settings,
the grouped out-of-fold helper, the stage timer, the evaluation object, the report's
sections, atomic writes, and metrics.json against its documented schema."""

from __future__ import annotations

import io
import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from training.atomic import atomic_write, atomic_write_with
from training.evaluation.interpretation import Interpretation
from training.evaluation.metrics import FolderRun, Metrics, Split, UnknownMetrics
from training.evaluation.report import Probes, ReportInput, render
from training.model.folds import fold_count, grouped_folds, out_of_fold
from training.pipeline.timing import StageTimer
from training.settings import ConfigError, TrainConfig

SCHEMA = Path(__file__).resolve().parents[2] / "training" / "evaluation" / "metrics.schema.json"


# ---------------------------------------------------------------- settings
def test_train_config_defaults_come_from_settings():
    from training import settings

    config = TrainConfig()
    assert (config.backbone, config.epochs, config.folds) == (
        settings.DEFAULT_BACKBONE,
        settings.EPOCHS,
        settings.FOLDS,
    )


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("epochs", 0, "epochs must be"),
        ("augment", -1, "augment must be"),
        ("hidden", -3, "hidden must be"),
        ("folds", 1, "folds must be"),
        ("seed", -1, "seed must be"),
        ("backbone", " ", "backbone must be"),
        ("name", "", "name must be"),
    ],
)
def test_train_config_refuses_bad_values_saying_what_to_fix(field, value, words):
    with pytest.raises(ConfigError) as caught:
        TrainConfig(**{field: value})
    assert words in caught.value.message
    assert caught.value.code == "invalid_config"


def test_cache_root_follows_the_environment(monkeypatch, tmp_path):
    from training.settings import cache_root

    monkeypatch.setenv("ISIT_CACHE_DIR", str(tmp_path / "c"))
    assert cache_root() == tmp_path / "c"
    monkeypatch.delenv("ISIT_CACHE_DIR")
    assert cache_root() == Path.home() / ".cache" / "isit"


# ---------------------------------------------------------------- out of fold
def _grouped_labels(rng, n_groups=40):
    groups = np.repeat(np.arange(n_groups), rng.integers(1, 4, n_groups))
    y = (groups % 2).astype(np.int64)
    return y, groups.astype(str)


def test_grouped_folds_hold_every_photo_out_once_and_never_split_a_group():
    y, groups = _grouped_labels(np.random.default_rng(0))
    folds = grouped_folds(y, groups, folds=5, seed=0)
    assert len(folds) == 5
    held = np.concatenate([h for _, h in folds])
    assert sorted(held.tolist()) == list(range(len(y)))
    for fit, out in folds:
        assert not set(groups[fit]) & set(groups[out])
        assert set(y[out]) == {0, 1}  # stratified: each fold has both classes


def test_one_fold_rule_lowered_to_the_smallest_class():
    """Cross-validation, the head's inner folds and the label review share one rule."""
    from sklearn.model_selection import StratifiedGroupKFold

    assert fold_count(np.array([0, 0, 0, 1, 1, 1, 1]), 5) == 3
    assert fold_count(np.array([0, 0, 2, 2, 2]), 5) == 2  # absent classes do not count
    assert fold_count(np.array([0, 1, 1]), 5) == 0  # a class of one photo: no folds
    assert grouped_folds(np.array([0, 1, 1]), np.arange(3)) == []
    # Otherwise exactly a shuffled StratifiedGroupKFold with k lowered.
    y, groups = _grouped_labels(np.random.default_rng(2))
    ours = grouped_folds(y, groups, folds=4, seed=3)
    sklearn = StratifiedGroupKFold(4, shuffle=True, random_state=3).split(y, y, groups)
    for (fit, held), (fit_sk, held_sk) in zip(ours, sklearn, strict=True):
        assert fit.tolist() == fit_sk.tolist() and held.tolist() == held_sk.tolist()


def test_out_of_fold_scores_each_photo_by_a_fold_that_did_not_see_it():
    y, groups = _grouped_labels(np.random.default_rng(1))

    def score(fit_idx, held_idx):
        assert not set(fit_idx) & set(held_idx)
        return np.full(len(held_idx), len(fit_idx), dtype=np.float32)

    scores = out_of_fold(score, y, groups, folds=4, seed=3)
    assert scores.shape == (len(y),)
    assert (scores > 0).all() and (scores < len(y)).all()


# ---------------------------------------------------------------- timer
def test_stage_timer_adds_up_each_stage_and_keeps_failures_timed():
    timer = StageTimer()
    assert timer.run("a", lambda x: x + 1, 1) == 2
    timer.run("a", lambda: None)
    with pytest.raises(ZeroDivisionError):
        timer.run("b", lambda: 1 / 0)
    assert set(timer.timings) == {"a", "b"}
    assert all(v >= 0 for v in timer.timings.values())


# ---------------------------------------------------------------- interpretation
def _photo(colour) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), colour).save(buffer, "PNG")
    return buffer.getvalue()


def _interpretation() -> Interpretation:
    #            truth, p(a),  answered unknown
    rows = [
        (0, 0.95, False),  # right, sure
        (0, 0.55, False),  # right, unsure
        (1, 0.90, False),  # wrong, confident
        (1, 0.20, True),  # right, but unknown
        (1, 0.60, False),  # wrong, less confident
    ]
    p = np.array([[a, 1 - a] for _, a, _ in rows])
    return Interpretation.of(
        ("a", "b"),
        [t for t, _, _ in rows],
        p,
        np.linspace(0.1, 0.5, len(rows)),
        [u for _, _, u in rows],
        [f"x/{i}.png" for i in range(len(rows))],
        [_photo((40 * i, 80, 120)) for i in range(len(rows))],
    )


def test_interpretation_galleries_rank_as_their_names_say():
    interp = _interpretation()
    assert interp.n == 5
    assert interp.correct.tolist() == [True, True, False, True, False]
    assert interp.most_confidently_wrong() == [2, 4]
    assert interp.least_confident_right() == [1, 3, 0]
    assert interp.top_by_class(0, 2) == [0, 2]
    assert interp.bottom_by_class(0, 2) == [3, 1]
    assert interp.answer(3) == "unknown" and interp.answer(2) == "a"


def test_interpretation_metrics_and_acceptance():
    interp = _interpretation()
    guess = interp.best_guess()
    assert guess.n == 5 and guess.accuracy.value == pytest.approx(3 / 5)
    assert guess.confusion == ((2, 0), (2, 1))
    assert guess.per_class["b"].recall.k == 1 and guess.per_class["b"].precision.n == 1
    accepted = interp.acceptance([])
    assert (accepted.k, accepted.n) == (4, 5) and accepted.low < 0.8 < accepted.high
    only_a = interp.acceptance([1])  # class b as "other": only photos of a count
    assert (only_a.k, only_a.n) == (2, 2)


def test_interpretation_refuses_mismatched_lengths():
    with pytest.raises(ValueError):
        Interpretation.of(
            ("a", "b"), [0, 1], np.eye(2), [0.1], [False, False], ["x", "y"], [b"", b""]
        )


def _folder_metrics(interp: Interpretation, warnings=("few <photos>",)) -> Metrics:
    """The metrics `isit evaluate` would build for these answers."""
    from training.evaluation.proportions import proportion

    return Metrics(
        evaluation="evaluation folder kept",
        outcomes=interp.outcomes([]),
        best_guess=interp.best_guess(),
        unknown=UnknownMetrics(
            threshold=0.3,
            uncertain_margin=0.2,
            accepted=interp.acceptance([]),
            probes_rejected=proportion(1, 1),
            unknown_rate=float(interp.unknown.mean()),
        ),
        split=Split(0, 0, interp.n),
        labels=interp.labels,
        backbone="b",
        warnings=tuple(warnings),
        folder=FolderRun("m", "1", skipped=0, set_aside=0),
    )


def test_report_renders_every_section_from_the_metrics():
    interp = _interpretation()
    html = render(
        ReportInput(
            title="t <b>",
            metrics=_folder_metrics(interp),
            interpretation=interp,
            history={"loss": [1.0, 0.5], "val_loss": [1.1, 0.7]},
            probes=Probes.of([("probe.png", _photo("red"))], np.array([0.9]), np.array([True])),
            facts={"classes": "a, b"},
        )
    )
    for text in (
        "60.0% correct on <b>5</b>",
        "Right on <b>2</b> of <b>5</b> held-out photos (40% (12–77%)); not sure on 1",
        "Numbers from the evaluation folder kept",
        "Per class",
        "Most confidently wrong",
        "Least confident right",
        "Most A-like",  # two classes: one pair of galleries, display names
        "Most B-like",
        "What next",
        "Accepted although unrelated:</b> none",
        "Unknown photos",
        "<b>0.3000</b>",  # the threshold
        "Training curves",
        "few &lt;photos&gt;",
        "t &lt;b&gt;",
    ):
        assert text in html
    assert html.count("data:image/jpeg;base64,") >= 5
    assert html.count("data:image/svg+xml;base64,") >= 3  # confusion, reliability, curves


def test_the_headline_is_one_sentence_in_the_cli_and_the_report():
    from training.cli.common import outcome_lines

    interp = _interpretation()
    metrics = _folder_metrics(interp)
    sentence = "right on 2 of 5 held-out photos (40% (12–77%)); not sure on 1, wrong on 2"
    assert metrics.outcomes.headline() == sentence
    assert outcome_lines(metrics)[0] == f"{sentence} (evaluation folder kept)"
    assert outcome_lines(metrics)[1].endswith("60% (23–88%) of 5 photos")
    bold = metrics.outcomes.headline(lambda count: f"<b>{count}</b>")
    assert bold.startswith("right on <b>2</b> of <b>5</b> held-out photos")


def test_metrics_serialise_to_the_schema_without_a_training_run():
    metrics = _folder_metrics(_interpretation()).to_dict()
    assert list(_validator().iter_errors(metrics)) == []
    assert metrics["best_guess"]["accuracy_interval"]["k"] == 3 and "test" not in metrics
    assert metrics["unknown"]["unknown_rate"] == pytest.approx(0.2)
    assert "method" not in metrics["unknown"]  # not measured by `evaluate`: left out
    assert json.loads(json.dumps(metrics)) == metrics  # plain JSON, no numpy values
    with pytest.raises(ValueError):
        Metrics(**{**vars(_folder_metrics(_interpretation())), "folder": None})


# ---------------------------------------------------------------- atomic writes
def test_atomic_write_gives_normal_permissions_and_cleans_up_on_failure(tmp_path):
    target = atomic_write(tmp_path / "sub" / "f.txt", "café \udce9")
    assert target.read_bytes() == "café \\udce9".encode()
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask

    def broken(handle):
        handle.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        atomic_write_with(target, broken)
    assert target.read_text("utf-8") == "café \\udce9"  # the old file is untouched
    assert sorted(p.name for p in target.parent.iterdir()) == ["f.txt"]


# ---------------------------------------------------------------- metrics.json schema
def _validator():
    import jsonschema

    schema = json.loads(SCHEMA.read_text("utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.slow
def test_train_metrics_follow_the_documented_schema(trained_model):
    validator = _validator()
    on_disk = json.loads(trained_model.metrics_path.read_text("utf-8"))
    assert list(validator.iter_errors(on_disk)) == []
    broken = dict(on_disk, best_guess={**on_disk["best_guess"], "accuracy": 1.5})
    assert list(validator.iter_errors(broken))  # the schema is not vacuous
    assert list(validator.iter_errors(dict(on_disk, test=on_disk["best_guess"])))  # renamed


@pytest.mark.slow
def test_evaluate_metrics_follow_the_documented_schema(trained_model_path, tmp_path):
    from training.data.sampledata import generate
    from training.evaluation.folder import evaluate

    data = generate(tmp_path / "new", per_class=4, min_side=64, max_side=120, seed=11)
    result = evaluate(trained_model_path, data, tmp_path / "out", probes=False)
    validator = _validator()
    assert list(validator.iter_errors(json.loads(result.metrics_path.read_text("utf-8")))) == []


# ---------------------------------------------------------------- honest numbers
def test_proportions_carry_n_and_a_wilson_interval():
    from training.evaluation.proportions import proportion

    p = proportion(37, 40)
    assert (p.k, p.n) == (37, 40) and p.value == pytest.approx(0.925)
    assert p.low == pytest.approx(0.8014, abs=1e-3) and p.high == pytest.approx(0.9742, abs=1e-3)
    assert p.text() == "92% (80–97%), 40 photos"
    perfect = proportion(9, 9)
    assert perfect.high == 1.0 and perfect.low < 0.75  # 9 photos can't prove 100%
    assert proportion(0, 0).to_dict()["low"] == 0.0 and proportion(0, 0).text() == "no photos"
    with pytest.raises(ValueError):
        proportion(3, 2)


def test_outcomes_count_what_the_user_was_told():
    # truth: a a a b b other; answers: a, unknown, b, b(uncertain), unknown, unknown
    p = np.array(
        [
            [0.9, 0.05, 0.05],
            [0.8, 0.1, 0.1],
            [0.2, 0.7, 0.1],
            [0.45, 0.5, 0.05],
            [0.1, 0.8, 0.1],
            [0.1, 0.1, 0.8],
        ]
    )
    interp = Interpretation.of(
        ("a", "b", "other"),
        [0, 0, 0, 1, 1, 2],
        p,
        np.zeros(6),
        [False, True, False, False, True, True],
        [str(i) for i in range(6)],
        [b""] * 6,
        uncertain=[False, False, False, True, False, False],
    )
    outcomes = interp.outcomes([2]).to_dict()
    assert (outcomes["right"], outcomes["wrong"], outcomes["not_sure"]) == (3, 1, 2)
    assert outcomes["uncertain"] == 1 and outcomes["uncertain_right"]["k"] == 1
    assert outcomes["coverage"]["k"] == 4 and outcomes["coverage"]["n"] == 6
    assert outcomes["right_when_answered"]["k"] == 3 and outcomes["right_when_answered"]["n"] == 4
    assert outcomes["right_overall"]["k"] == 3 and outcomes["right_overall"]["n"] == 6


def test_uncertain_rule_is_the_cores():
    from isit.bundle import is_uncertain

    p = np.array([[0.55, 0.45], [0.7, 0.3], [0.4, 0.35, 0.25][:2]])
    assert is_uncertain(p, 0.2).tolist() == [True, False, True]
    assert is_uncertain(p, 0.0).tolist() == [False, False, False]


def test_head_config_refuses_bad_values():
    from training.model.head import HeadConfig

    for bad in ({"c_grid": ()}, {"inner_folds": 1}, {"dropout": 1.0}, {"hidden": -1}):
        with pytest.raises(ConfigError):
            HeadConfig(**bad)
    assert HeadConfig().inner_folds == 5


def test_grouped_folds_are_scikit_learns_on_many_shapes_of_folder():
    """The vectorised fold assignment makes scikit-learn's folds exactly: many classes
    or two, single-photo groups or copies, unbalanced classes, several seeds."""
    from sklearn.model_selection import StratifiedGroupKFold

    rng = np.random.default_rng(5)
    for trial in range(40):
        n, classes = int(rng.integers(12, 200)), int(rng.integers(2, 5))
        y = rng.choice(classes, n, p=rng.dirichlet(np.ones(classes) * 3))
        groups = np.arange(n) if trial % 2 else rng.integers(0, max(8, n // 2), n)
        k = fold_count(y, 5)
        if not k or len(np.unique(groups)) < k:
            continue
        sklearn = StratifiedGroupKFold(k, shuffle=True, random_state=trial)
        ours = grouped_folds(y, groups, 5, trial)
        for (fit, held), (fit_sk, held_sk) in zip(ours, sklearn.split(y, y, groups), strict=True):
            assert fit.tolist() == fit_sk.tolist() and held.tolist() == held_sk.tolist()
