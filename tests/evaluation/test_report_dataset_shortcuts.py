"""The report shows the check's shortcut warnings first after the headline, with photos."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from training.data.doctor import check_dataset
from training.evaluation.interpretation import Interpretation
from training.evaluation.metrics import FolderRun, Metrics, Split, UnknownMetrics
from training.evaluation.proportions import proportion
from training.evaluation.report import ReportInput, render
from training.evaluation.report.dataset_shortcuts import dataset_shortcuts


def _framed_folder(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for label in ("plain", "framed"):
        (root / label).mkdir(parents=True)
        for i in range(12):
            pixels = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
            if label == "framed":
                pixels[:9], pixels[-9:], pixels[:, :9], pixels[:, -9:] = 0, 0, 0, 0
            Image.fromarray(pixels).save(root / label / f"{i}.png")
    return root


def _report_input(shortcuts: tuple) -> ReportInput:
    interp = Interpretation.of(
        ("framed", "plain"),
        [0, 1],
        np.array([[0.9, 0.1], [0.2, 0.8]]),
        np.array([0.1, 0.2]),
        [False, False],
        ["framed/0.png", "plain/0.png"],
        [b"", b""],
    )
    metrics = Metrics(
        evaluation="test split",
        outcomes=interp.outcomes([]),
        best_guess=interp.best_guess(),
        unknown=UnknownMetrics(threshold=0.5, uncertain_margin=0.2,
                               accepted=interp.acceptance([]), probes_rejected=proportion(0, 0)),
        split=Split(train=0, val=0, test=interp.n),
        labels=interp.labels,
        backbone="test",
        warnings=(),
        folder=FolderRun(model_name="t", model_version="1", skipped=0, set_aside=0),
    )  # fmt: skip
    return ReportInput(
        title="t", metrics=metrics, interpretation=interp, dataset_shortcuts=shortcuts
    )


def test_the_report_shows_the_shortcuts_with_example_photos(tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    report = check_dataset(_framed_folder(tmp_path), progress=False)
    shortcuts = tuple(replace(w, root=report.root) for w in report.shortcut_warnings)
    assert [w.fact for w in shortcuts] == ["frame"]
    section = dataset_shortcuts(_report_input(shortcuts))
    assert "Possible shortcuts in the photos" in section
    assert "every photo has a black frame" in section
    assert section.count("data:image/jpeg;base64,") >= 4  # framed and plain examples
    html = render(_report_input(shortcuts))
    assert html.index("Possible shortcuts") < html.index("Per class")


def test_no_section_without_shortcuts() -> None:
    assert dataset_shortcuts(_report_input(())) == ""
