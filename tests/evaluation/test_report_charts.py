"""The report's charts are SVG written directly (issue 25: no matplotlib on the training
path): well-formed, with what each chart claims to show, and viridis as matplotlib's."""

from __future__ import annotations

import base64
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from training.evaluation.report import plots
from training.evaluation.report.overlay import viridis
from training.evaluation.report.svg import Chart, nice_ticks

SVG = "{http://www.w3.org/2000/svg}"


def _parse(uri: str) -> ET.Element:
    prefix = "data:image/svg+xml;base64,"
    assert uri.startswith(prefix)
    return ET.fromstring(base64.b64decode(uri[len(prefix) :]))


def _texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG}text")]


def test_ticks_are_round_and_span_the_range():
    assert nice_ticks(0.0, 1.02) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(0.0, 66.0) == [0.0, 20.0, 40.0, 60.0]
    assert nice_ticks(1.0, 1.0) == [1.0]


def test_a_chart_draws_its_lines_bars_and_legend():
    chart = Chart(300, 200, (0.0, 1.0), (0.0, 10.0), "x words", "y words", "a title")
    chart.line([0.0, 0.5, 1.0], [0.0, 5.0, 10.0], marker="o", label="rising")
    chart.bars(np.array([0.0, 0.5, 1.0]), np.array([3, 0]), "#ff7f0e", "counts")
    chart.vline(0.25, label="threshold <0.25>")
    root = _parse(chart.uri())
    assert len(root.findall(f"{SVG}polyline")) == 2  # the line and the vertical line
    assert len(root.findall(f"{SVG}circle")) >= 3  # markers (and a legend dot)
    texts = _texts(root)
    for words in ("x words", "y words", "a title", "rising", "counts", "threshold <0.25>"):
        assert words in texts


def test_the_report_charts_say_what_they_show():
    confusion = _texts(_parse(plots.confusion_svg(["cat", "dog"], [[5, 1], [2, 7]])))
    assert {"cat", "dog", "5", "1", "2", "7", "predicted", "true"} <= set(confusion)
    history = {"C": [0.01, 0.1, 1.0], "cv_error_rate": [0.3, 0.1, 0.2], "chosen_C": [0.1]}
    assert "chosen, C = 0.1" in _texts(_parse(plots.curves_svg(history)))
    keras = {"loss": [1.0, 0.5], "val_loss": [1.1, 0.7]}
    assert {"loss", "val_loss", "epoch"} <= set(_texts(_parse(plots.curves_svg(keras))))
    assert plots.curves_svg({}) is None
    scores = np.array([0.1, 0.2, 0.2, 0.4])
    ood = _texts(_parse(plots.ood_svg(scores, np.array([0.6, 0.9]), 0.5)))
    assert "threshold 0.500" in ood and "unrelated photos (probes)" in ood
    y = np.array([0, 1, 1, 0])
    p = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.7, 0.3]])
    assert "after temperature scaling" in _texts(_parse(plots.reliability_svg(p, p, y)))


def test_viridis_stays_within_4_of_255_of_matplotlibs():
    colormaps = pytest.importorskip("matplotlib").colormaps
    values = np.linspace(0.0, 1.0, 1001)
    reference = colormaps["viridis"](values)[:, :3] * 255
    assert np.abs(viridis(values).astype(float) - reference).max() <= 4.0
    assert viridis(np.array([[-1.0, 2.0]])).shape == (1, 2, 3)  # clipped, shape kept


def test_rendering_the_charts_imports_no_matplotlib():
    code = (
        "import sys, numpy as np\n"
        "from training.evaluation.report import plots\n"
        "from training.evaluation.report.overlay import colourise\n"
        "plots.confusion_svg(['a', 'b'], [[1, 0], [0, 1]])\n"
        "colourise(np.eye(3), 8)\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
