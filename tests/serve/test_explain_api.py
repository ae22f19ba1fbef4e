"""``POST /api/classify?explain=1`` (issue 15): where the model looked, through the
Function's handler and through real HTTP on the dev host."""

from __future__ import annotations

import io

import pytest
import requests
from function_helpers import SETTINGS, call, multipart, reset_function_state
from PIL import Image, ImageDraw

from devhost.server import start

pytestmark = pytest.mark.slow


def photo(size=(640, 480)) -> bytes:
    img = Image.new("RGB", size, (210, 200, 190))
    ImageDraw.Draw(img).ellipse((60, 40, 300, 280), fill=(220, 30, 30), outline=(90, 0, 0))
    buffer = io.BytesIO()
    img.save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


@pytest.fixture
def trained_api(monkeypatch, trained_model_path):
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MODEL_PATH", str(trained_model_path))
    reset_function_state()
    yield
    reset_function_state()


def check_explained(body: dict) -> None:
    heatmap, crop = body["heatmap"], body["crop"]
    assert heatmap["label"] == body["best_guess"]
    assert (heatmap["rows"], heatmap["cols"]) == (7, 7)
    values = [v for row in heatmap["grid"] for v in row]
    assert len(heatmap["grid"]) == 7 and len(values) == 49
    assert min(values) == 0.0 and max(values) == 1.0
    assert crop == {"x": 80, "y": 0, "width": 480, "height": 480}


def test_explain_adds_the_heatmap_and_the_crop(trained_api):
    plain = call("classify", body=photo(), headers={"Content-Type": "image/jpeg"})
    assert plain.status == 200 and "heatmap" not in plain.json
    reply = call(
        "classify", body=photo(), headers={"Content-Type": "image/jpeg"}, params={"explain": "1"}
    )
    assert reply.status == 200, reply.body
    check_explained(reply.json)
    assert {k: reply.json[k] for k in ("label", "scores")} == {
        k: plain.json[k] for k in ("label", "scores")
    }


def test_explain_as_a_multipart_field(trained_api):
    body, ctype = multipart(
        {"image": ("p.jpg", photo(), "image/jpeg"), "explain": (None, b"1", None)}
    )
    reply = call("classify", body=body, headers={"Content-Type": ctype})
    assert reply.status == 200, reply.body
    check_explained(reply.json)


def test_a_model_without_an_exact_heatmap_says_so(monkeypatch, colour_model_path):
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MODEL_PATH", str(colour_model_path))
    reset_function_state()
    reply = call(
        "classify", body=photo(), headers={"Content-Type": "image/jpeg"}, params={"explain": "1"}
    )
    reset_function_state()
    assert reply.status == 200
    assert reply.json["heatmap"] is None and "hidden layer" in reply.json["explain_unavailable"]


def test_explain_over_http_through_the_dev_host(trained_model_path, monkeypatch):
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    running = start(port=0, model_path=trained_model_path)
    try:
        reply = requests.post(
            f"{running.url}/api/classify?explain=1",
            data=photo(),
            headers={"Content-Type": "image/jpeg"},
            timeout=60,
        )
    finally:
        running.stop()
    assert reply.status_code == 200, reply.text
    check_explained(reply.json())
