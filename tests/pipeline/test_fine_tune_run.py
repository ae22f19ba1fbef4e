"""A fine-tuned model with test-time flips (issue 28), trained once on the generated
sample photos: exported with parity, served by the Function like any other model (answers,
"unknown", heatmap), and the report says it was fine-tuned."""

from __future__ import annotations

import io
import json

import numpy as np
import onnx
import pytest
from function_helpers import SETTINGS, call, reset_function_state

from isit.bundle import ModelBundle
from isit.imaging import preprocess_batch
from isit.metadata import HEATMAP, ModelMetadata
from training.backbones.weights import EFFICIENTNET_LITE0
from training.model.graph import PARITY_TOLERANCE

pytestmark = pytest.mark.slow


PER_CLASS = 15  # small: six fine-tunings (5 folds and the model's) on 45 photos


@pytest.fixture(scope="module")
def fine_tuned(tmp_path_factory):
    from training.data.sampledata import generate
    from training.pipeline import train
    from training.settings import TrainConfig

    data = generate(tmp_path_factory.mktemp("fine-tune-data") / "shapes", per_class=PER_CLASS,
                    min_side=64, max_side=160, seed=7)  # fmt: skip
    config = TrainConfig(seed=0, fine_tune=True, flips=True)
    out = tmp_path_factory.mktemp("fine-tuned") / "model"
    return train(data, out, config, quiet=True, progress=False)


@pytest.fixture
def api(monkeypatch, fine_tuned):
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MODEL_PATH", str(fine_tuned.model_path))
    reset_function_state()
    yield
    reset_function_state()


def new_photos() -> list[tuple[bytes, str]]:
    """Photos drawn with another seed than the training photos', with their labels."""
    from training.data.sampledata import draw_image

    rng = np.random.default_rng(2026)
    out = []
    for label in ("circles", "squares", "triangles"):
        for fmt in ("JPEG", "PNG"):
            buffer = io.BytesIO()
            draw_image(rng, label, 64, 160).save(buffer, fmt)
            out.append((buffer.getvalue(), label))
    return out


def test_the_fine_tuned_model_is_one_onnx_with_parity_and_the_report_says_so(fine_tuned):
    metrics = json.loads(fine_tuned.metrics_path.read_text())
    parity = metrics["parity"]
    assert parity["n"] > 0 and max(parity["max_probability_diff"], parity["max_ood_diff"],
                                   parity["max_heatmap_diff"]) <= PARITY_TOLERANCE  # fmt: skip
    assert {"fine-tune views", "fine-tune"} <= set(metrics["timings"])
    model = onnx.load(str(fine_tuned.model_path))
    meta = ModelMetadata.from_props({p.key: p.value for p in model.metadata_props})
    # Its own weights: not the pinned pretrained file's identity.
    assert meta.backbone.name == "efficientnet_lite0"
    assert meta.backbone.weights_sha256 != EFFICIENTNET_LITE0.sha256
    assert HEATMAP in {o.name for o in model.graph.output}
    report = fine_tuned.report_path.read_text()
    assert "fine-tuning" in report and "mirror image" in report
    assert metrics["outcomes"]["right_overall"]["value"] >= 0.85


def test_it_answers_unknown_and_explains_through_the_function(api):
    answers = [call("classify", body=b, headers={"Content-Type": "image/png"}) for b, _ in
               new_photos()]  # fmt: skip
    assert all(a.status == 200 for a in answers)
    right = sum(
        a.json["label"] == label for a, (_, label) in zip(answers, new_photos(), strict=True)
    )
    assert right >= 5
    from modelgen import photo

    grey = call("classify", body=photo("grey", noise=0), headers={"Content-Type": "image/jpeg"})
    assert grey.json["label"] == "unknown"
    explained = call("classify", body=new_photos()[0][0], headers={"Content-Type": "image/jpeg"},
                     params={"explain": "1"})  # fmt: skip
    heatmap = explained.json["heatmap"]
    assert heatmap["label"] == explained.json["best_guess"] and (
        heatmap["rows"],
        heatmap["cols"],
    ) == (7, 7)
    assert call("model", method="GET").json["labels"] == ["circles", "squares", "triangles"]


def test_with_flips_a_photo_and_its_mirror_image_get_the_same_answer(fine_tuned):
    bundle = ModelBundle(fine_tuned.model_path)
    batch = preprocess_batch([b for b, _ in new_photos()], bundle.metadata.preprocess)
    p, ood = bundle.run(batch)
    p_mirror, ood_mirror = bundle.run(np.ascontiguousarray(batch[:, :, ::-1]))
    assert np.abs(p - p_mirror).max() < 1e-4 and np.abs(ood - ood_mirror).max() < 1e-4
