"""A fine-tuned model with test-time flips (issue 28), trained once on the generated
sample photos: exported with parity, served by the Function like any other model (answers,
"unknown", heatmap), and the report says it was fine-tuned."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from function_helpers import SETTINGS, call, reset_function_state
from synthetic import new_shape_photos

from isit.bundle import ModelBundle
from isit.imaging import preprocess_batch
from isit.metadata import HEATMAP, ModelMetadata
from training.backbones.weights import EFFICIENTNET_LITE0
from training.model.graph import PARITY_TOLERANCE

pytestmark = pytest.mark.slow


@pytest.fixture
def api(monkeypatch, fine_tuned_model):
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MODEL_PATH", str(fine_tuned_model.model_path))
    reset_function_state()
    yield
    reset_function_state()


def test_the_fine_tuned_model_is_one_onnx_with_parity_and_the_report_says_so(fine_tuned_model):
    metrics = json.loads(fine_tuned_model.metrics_path.read_text())
    parity = metrics["parity"]
    assert parity["n"] > 0 and max(parity["max_probability_diff"], parity["max_ood_diff"],
                                   parity["max_heatmap_diff"]) <= PARITY_TOLERANCE  # fmt: skip
    assert {"fine-tune views", "fine-tune"} <= set(metrics["timings"])
    model = onnx.load(str(fine_tuned_model.model_path))
    meta = ModelMetadata.from_props({p.key: p.value for p in model.metadata_props})
    # Its own weights: not the pinned pretrained file's identity.
    assert meta.backbone.name == "efficientnet_lite0"
    assert meta.backbone.weights_sha256 != EFFICIENTNET_LITE0.sha256
    assert HEATMAP in {o.name for o in model.graph.output}
    report = fine_tuned_model.report_path.read_text()
    assert "fine-tuning" in report and "mirror image" in report
    assert metrics["outcomes"]["right_overall"]["value"] >= 0.85


def test_it_answers_unknown_and_explains_through_the_function(api):
    answers = [call("classify", body=b, headers={"Content-Type": "image/png"}) for b, _ in
               new_shape_photos()]  # fmt: skip
    assert all(a.status == 200 for a in answers)
    right = sum(
        a.json["label"] == label for a, (_, label) in zip(answers, new_shape_photos(), strict=True)
    )
    assert right >= 5
    from modelgen import photo

    grey = call("classify", body=photo("grey", noise=0), headers={"Content-Type": "image/jpeg"})
    assert grey.json["label"] == "unknown"
    explained = call("classify", body=new_shape_photos()[0][0],
                     headers={"Content-Type": "image/jpeg"}, params={"explain": "1"})  # fmt: skip
    heatmap = explained.json["heatmap"]
    assert heatmap["label"] == explained.json["best_guess"] and (
        heatmap["rows"],
        heatmap["cols"],
    ) == (7, 7)
    assert call("model", method="GET").json["labels"] == ["circles", "squares", "triangles"]


def test_with_flips_a_photo_and_its_mirror_image_get_the_same_answer(fine_tuned_model):
    bundle = ModelBundle(fine_tuned_model.model_path)
    batch = preprocess_batch([b for b, _ in new_shape_photos()], bundle.metadata.preprocess)
    p, ood = bundle.run(batch)
    p_mirror, ood_mirror = bundle.run(np.ascontiguousarray(batch[:, :, ::-1]))
    assert np.abs(p - p_mirror).max() < 1e-4 and np.abs(ood - ood_mirror).max() < 1e-4
