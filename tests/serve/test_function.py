"""The Azure Function's handlers, called directly with azure.functions.HttpRequest."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading

import modelgen
import pytest
from function_helpers import (
    ROOT,
    call,
    jpeg_with_size,
    multipart,
    png_bomb,
    reset_function_state,
)

import function_app
import isit.bundle
from isit.bundle import ModelBundle

CLASSIFY_KEYS = {
    "label",
    "confidence",
    "unknown",
    "uncertain",
    "unlike",
    "best_guess",
    "scores",
    "model",
    "elapsed_ms",
}


def run_python_json(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; its last line of output is a JSON object."""
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])




@pytest.fixture(scope="module")
def model_meta(colour_model_path):
    return ModelBundle(colour_model_path).metadata


def assert_error(reply, status: int, code: str) -> dict:
    assert reply.status == status, reply.body
    assert reply.content_type == "application/json"
    body = reply.json
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    message = body["error"]["message"]
    assert isinstance(message, str) and len(message) > 10
    # Nothing of the server's insides reaches a client.
    for leak in ("Traceback", "/tmp", str(ROOT), "Exception", "Error("):
        assert leak not in message
    assert reply.headers.get("x-request-id")
    return body["error"]


# ---------------------------------------------------------------- happy paths


def test_raw_image_bytes_are_classified(api, colour_examples, model_meta):
    for data, expected in colour_examples:
        reply = call("classify", body=data, headers={"Content-Type": "image/jpeg"})
        assert reply.status == 200, reply.body
        assert reply.content_type == "application/json"
        body = reply.json
        assert set(body) == CLASSIFY_KEYS
        assert body["label"] == expected
        assert body["unknown"] is (expected == "unknown")
        assert body["model"] == {"name": model_meta.name, "version": model_meta.version}
        labels = [s["label"] for s in body["scores"]]
        assert sorted(labels) == sorted(model_meta.labels)
        scores = [s["score"] for s in body["scores"]]
        assert scores == sorted(scores, reverse=True)
        assert sum(scores) == pytest.approx(1.0, abs=1e-3)
        assert body["confidence"] == scores[0]
        assert body["best_guess"] == labels[0]
        assert 0 < body["elapsed_ms"] < 10_000
        assert len(reply.headers["x-request-id"]) >= 16


@pytest.mark.parametrize(
    "content_type", ["application/octet-stream", "image/png", "IMAGE/JPEG; charset=binary"]
)
def test_any_image_type_or_octet_stream_is_accepted(api, colour_examples, content_type):
    data, expected = colour_examples[0]
    reply = call("classify", body=data, headers={"Content-Type": content_type})
    assert reply.status == 200
    assert reply.json["label"] == expected


def test_multipart_form_with_image_field(api, colour_examples):
    data, expected = colour_examples[1]
    body, ctype = multipart(
        {"note": (None, b"hello", None), "image": ("photo.jpg", data, "image/jpeg")}
    )
    reply = call("classify", body=body, headers={"Content-Type": ctype})
    assert reply.status == 200, reply.body
    assert reply.json["label"] == expected


def test_request_ids_differ(api, colour_examples):
    data = colour_examples[0][0]
    ids = {
        call("classify", body=data, headers={"Content-Type": "image/jpeg"}).headers["x-request-id"]
        for _ in range(3)
    }
    assert len(ids) == 3


def test_model_route_describes_the_model(api, model_meta):
    reply = call("model", "GET")
    assert reply.status == 200
    assert reply.content_type == "application/json"
    body = reply.json
    assert body["labels"] == list(model_meta.labels)
    assert body["input_size"] == model_meta.preprocess.size
    assert body["unknown_threshold"] == pytest.approx(model_meta.unknown.threshold)
    assert body["version"] == model_meta.version
    assert body["name"] == model_meta.name
    assert body["metrics"] == model_meta.metrics
    assert str(ROOT) not in reply.body.decode() and "/tmp" not in reply.body.decode()


def test_health_ok_with_a_model(api, model_meta):
    reply = call("health", "GET")
    assert reply.status == 200
    assert reply.json == {
        "status": "ok",
        "model": {"name": model_meta.name, "version": model_meta.version},
    }


# ---------------------------------------------------------------- every error code


def test_empty_body_is_400(api):
    assert_error(
        call("classify", body=b"", headers={"Content-Type": "image/jpeg"}), 400, "empty_body"
    )
    body, ctype = multipart({"image": ("empty.jpg", b"", "image/jpeg")})
    assert_error(call("classify", body=body, headers={"Content-Type": ctype}), 400, "empty_body")


def test_random_bytes_and_truncated_images_are_400(api, colour_examples):
    assert_error(
        call(
            "classify",
            body=b"hello, this is not a photo" * 10,
            headers={"Content-Type": "image/jpeg"},
        ),
        400,
        "not_an_image",
    )
    jpeg = modelgen.photo("red", (320, 240))
    error = assert_error(
        call("classify", body=jpeg[: len(jpeg) // 2], headers={"Content-Type": "image/jpeg"}),
        400,
        "not_an_image",
    )
    assert "truncated" in error["message"] or "damaged" in error["message"]


def test_missing_image_field_is_400(api, colour_examples):
    data = colour_examples[0][0]
    body, ctype = multipart({"photo": ("photo.jpg", data, "image/jpeg")})
    error = assert_error(
        call("classify", body=body, headers={"Content-Type": ctype}), 400, "missing_image_field"
    )
    assert "'image'" in error["message"]
    body, ctype = multipart({"image": (None, b"just text", None)})
    error = assert_error(
        call("classify", body=body, headers={"Content-Type": ctype}), 400, "missing_image_field"
    )
    assert "as a file" in error["message"]
    # A multipart body whose boundary does not match its header.
    body, _ = multipart({"image": ("photo.jpg", data, "image/jpeg")}, boundary="one")
    assert_error(
        call("classify", body=body, headers={"Content-Type": "multipart/form-data; boundary=two"}),
        400,
        "missing_image_field",
    )


def test_declared_length_over_limit_is_413_before_reading(api):
    # The body is tiny, but Content-Length says 11 MB: refused from the header alone.
    reply = call(
        "classify",
        body=b"x",
        headers={"Content-Type": "image/jpeg", "Content-Length": str(11_000_000)},
    )
    error = assert_error(reply, 413, "too_large")
    assert "10.0 MB" in error["message"]


def test_body_over_limit_is_413(api, colour_examples):
    api.setenv("MAX_UPLOAD_BYTES", "5000")
    data = modelgen.photo("blue", (640, 480))
    assert len(data) > 5000
    assert_error(
        call("classify", body=data, headers={"Content-Type": "image/jpeg"}), 413, "too_large"
    )
    body, ctype = multipart({"image": ("photo.jpg", data, "image/jpeg")})
    assert_error(call("classify", body=body, headers={"Content-Type": ctype}), 413, "too_large")


def test_bad_limit_settings_fall_back_to_defaults(api, colour_examples):
    api.setenv("MAX_UPLOAD_BYTES", "lots")
    api.setenv("MAX_IMAGE_PIXELS", "-1")
    limits = function_app.upload_limits()
    assert limits.max_bytes == function_app.DEFAULT_MAX_UPLOAD_BYTES
    assert limits.max_pixels == function_app.DEFAULT_LIMITS.max_pixels
    assert (
        call("classify", body=colour_examples[0][0], headers={"Content-Type": "image/jpeg"}).status
        == 200
    )


@pytest.mark.parametrize(
    "content_type",
    ["", "text/plain", "application/json", "application/x-www-form-urlencoded", "video/mp4"],
)
def test_unsupported_content_type_is_415(api, colour_examples, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    error = assert_error(
        call("classify", body=colour_examples[0][0], headers=headers), 415, "unsupported_media_type"
    )
    assert "image/jpeg" in error["message"]


@pytest.mark.parametrize(
    "data",
    [
        b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>',
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n",
        b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf" + b"\x00" * 64,
    ],
    ids=["svg", "pdf", "avif"],
)
def test_unsupported_image_format_is_415(api, data):
    error = assert_error(
        call("classify", body=data, headers={"Content-Type": "image/*"}), 415, "unsupported_format"
    )
    assert "JPEG or PNG" in error["message"]


def test_too_many_pixels_is_422(api, colour_examples):
    assert_error(
        call("classify", body=png_bomb(), headers={"Content-Type": "image/png"}),
        422,
        "too_many_pixels",
    )
    huge_jpeg = jpeg_with_size(modelgen.photo("red"), 60_000, 60_000)
    assert_error(
        call("classify", body=huge_jpeg, headers={"Content-Type": "image/jpeg"}),
        422,
        "too_many_pixels",
    )
    api.setenv("MAX_IMAGE_PIXELS", "10000")  # the app setting lowers the limit
    assert_error(
        call("classify", body=colour_examples[0][0], headers={"Content-Type": "image/jpeg"}),
        422,
        "too_many_pixels",
    )


@pytest.mark.parametrize(
    ("route", "method"),
    [("classify", "GET"), ("classify", "PUT"), ("model", "POST"), ("health", "DELETE")],
)
def test_wrong_method_is_405(api, route, method):
    error = assert_error(call(route, method), 405, "method_not_allowed")
    assert method in error["message"]
    allow = call(route, method).headers["allow"]
    assert ("POST" if route == "classify" else "GET") in allow


def test_missing_model_is_503_without_paths(api, tmp_path, colour_examples):
    api.setenv("MODEL_PATH", str(tmp_path / "nowhere" / "model.onnx"))
    reply = call("health", "GET")
    assert reply.status == 503
    body = reply.json
    assert body["status"] == "unavailable"
    assert body["error"]["code"] == "model_unavailable"
    assert "MODEL_PATH" in body["reason"]  # operators read /api/health
    assert str(tmp_path) not in reply.body.decode()
    visitor = assert_error(call("model", "GET"), 503, "model_unavailable")
    assert "MODEL_PATH" not in visitor["message"]  # visitors get plain words (issue 16)
    assert "isn't ready yet" in visitor["message"]
    assert_error(
        call("classify", body=colour_examples[0][0], headers={"Content-Type": "image/jpeg"}),
        503,
        "model_unavailable",
    )


def test_corrupt_model_is_503_and_logged(api, tmp_path, caplog):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"this is not an onnx file")
    api.setenv("MODEL_PATH", str(broken))
    with caplog.at_level(logging.ERROR, logger="isit.function"):
        reply = call("health", "GET")
    assert reply.status == 503
    assert "broken.onnx" not in reply.body.decode()
    assert "could not be loaded" in reply.json["reason"]
    assert any("broken.onnx" in r.getMessage() for r in caplog.records)


def test_unexpected_fault_is_generic_500_with_logged_request_id(
    api, colour_examples, caplog, monkeypatch
):
    def explode(self, data, **kwargs):
        raise RuntimeError("secret detail at /srv/internal/path")

    monkeypatch.setattr(ModelBundle, "predict", explode)
    with caplog.at_level(logging.ERROR, logger="isit.function"):
        reply = call("classify", body=colour_examples[0][0], headers={"Content-Type": "image/jpeg"})
    error = assert_error(reply, 500, "internal_error")
    assert "secret" not in reply.body.decode() and "RuntimeError" not in reply.body.decode()
    assert "request id" in error["message"]
    request_id = reply.headers["x-request-id"]
    logged = [r for r in caplog.records if request_id in r.getMessage()]
    assert logged and logged[0].exc_info is not None  # the trace is in the log, not the reply


# ---------------------------------------------------------------- CORS


def test_cors_headers_for_allowed_origins_only(api, colour_examples):
    api.setenv("ALLOWED_ORIGINS", "https://isit.example, https://friend.example/")
    data = colour_examples[0][0]
    ok = call(
        "classify",
        body=data,
        headers={"Content-Type": "image/jpeg", "Origin": "https://friend.example"},
    )
    assert ok.headers["access-control-allow-origin"] == "https://friend.example"
    assert ok.headers["vary"] == "Origin"
    assert "X-Request-Id" in ok.headers["access-control-expose-headers"]
    # Error replies carry CORS too, so the page can read their message.
    bad = call(
        "classify",
        body=b"",
        headers={"Content-Type": "image/jpeg", "Origin": "https://isit.example"},
    )
    assert bad.status == 400
    assert bad.headers["access-control-allow-origin"] == "https://isit.example"
    other = call(
        "classify",
        body=data,
        headers={"Content-Type": "image/jpeg", "Origin": "https://evil.example"},
    )
    assert other.status == 200
    assert "access-control-allow-origin" not in other.headers
    none = call("health", "GET")
    assert "access-control-allow-origin" not in none.headers


def test_cors_wildcard_and_preflight(api):
    api.setenv("ALLOWED_ORIGINS", "*")
    reply = call("model", "GET", headers={"Origin": "https://anyone.example"})
    assert reply.headers["access-control-allow-origin"] == "*"
    api.setenv("ALLOWED_ORIGINS", "https://isit.example")
    pre = call(
        "classify",
        "OPTIONS",
        headers={
            "Origin": "https://isit.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert pre.status == 204
    assert pre.body == b""
    assert pre.headers["access-control-allow-origin"] == "https://isit.example"
    assert "POST" in pre.headers["access-control-allow-methods"]
    assert pre.headers["access-control-allow-headers"] == "content-type"
    denied = call(
        "classify",
        "OPTIONS",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert denied.status == 204
    assert "access-control-allow-origin" not in denied.headers


# ---------------------------------------------------------------- the model, once per process


def test_model_is_loaded_once_even_under_concurrency(api, colour_examples, monkeypatch):
    reset_function_state()
    loads = []
    real = isit.bundle.ModelBundle

    def counting(path, *args, **kwargs):
        loads.append(path)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(isit.bundle, "ModelBundle", counting)
    data = colour_examples[0][0]
    statuses = []

    def worker():
        for _ in range(3):
            statuses.append(
                call("classify", body=data, headers={"Content-Type": "image/jpeg"}).status
            )

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * 18
    assert len(loads) == 1
    assert function_app.get_model() is function_app.get_model()


def test_default_model_path_is_beside_function_app(monkeypatch):
    monkeypatch.delenv("MODEL_PATH", raising=False)
    assert function_app.model_path() == ROOT / "model" / "model.onnx"


def test_importing_function_app_pulls_in_no_training_stack():
    code = (
        "import json, sys; import function_app; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('tensorflow', 'keras', 'tf2onnx', 'onnx', 'training', 'torch')); "
        "print(json.dumps({'bad': bad, 'functions': "
        "[f.get_function_name() for f in function_app.app.get_functions()]}))"
    )
    result = run_python_json(code)
    assert result["bad"] == []
    assert sorted(result["functions"]) == ["classify", "feedback", "health", "model"]


# ---------------------------------------------------------------- decompression bomb

BOMB_PROBE = r"""
import json, resource, sys, time, tracemalloc
import os
os.environ["MODEL_PATH"] = {model!r}
from tests.helpers.function_helpers import call, png_bomb  # run from the project root
from tests.helpers import modelgen
warm = call("classify", body=modelgen.photo("red"), headers={{"Content-Type": "image/jpeg"}})
assert warm.status == 200, warm.body
bomb = png_bomb(50_000, 50_000)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
tracemalloc.start()
t0 = time.perf_counter()
reply = call("classify", body=bomb, headers={{"Content-Type": "image/png"}})
elapsed = time.perf_counter() - t0
peak = tracemalloc.get_traced_memory()[1]
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"status": reply.status, "code": reply.json["error"]["code"],
                  "bytes": len(bomb), "seconds": elapsed, "py_peak": peak,
                  "maxrss_growth_kb": after - before}}))
"""


def test_decompression_bomb_is_rejected_fast_without_allocating(colour_model_path):
    # A fresh process, so the peak RSS (which counts Pillow's C allocations, unlike
    # tracemalloc) is not hidden by what earlier tests allocated.
    code = BOMB_PROBE.format(model=str(colour_model_path))
    result = run_python_json(code)
    assert result["status"] == 422 and result["code"] == "too_many_pixels"
    assert result["bytes"] < 20_000  # the file is tiny; decoded it would be 7.5 GB
    assert result["seconds"] < 0.5  # header-only: ~1 ms; generous for a busy machine
    assert result["py_peak"] < 2_000_000
    assert result["maxrss_growth_kb"] < 20_000


def test_modelgen_model_matches_the_contract(tmp_path):
    path = modelgen.write_model(tmp_path / "m.onnx", labels=("red_thing", "blue_thing"))
    bundle = ModelBundle(path)
    assert bundle.labels == ("red_thing", "blue_thing")
    assert bundle.predict(modelgen.photo("red")).label == "red_thing"
    assert bundle.predict(modelgen.photo("grey")).unknown


def test_non_finite_numbers_become_null(api, monkeypatch):
    original = ModelBundle.describe

    def with_nan(self):
        return {**original(self), "metrics": {"auc": float("nan"), "per_class": [float("inf")]}}

    monkeypatch.setattr(ModelBundle, "describe", with_nan)
    reply = call("model", "GET")
    assert reply.status == 200
    assert b"NaN" not in reply.body and b"Infinity" not in reply.body
    assert reply.json["metrics"] == {"auc": None, "per_class": [None]}


def test_model_error_while_predicting_is_503_without_details(api, colour_examples, monkeypatch):
    from isit.errors import ModelError

    def broken(self, data, **kwargs):
        raise ModelError("The model at /srv/secret/model.onnx lacks the outputs ['x'].")

    monkeypatch.setattr(ModelBundle, "predict", broken)
    reply = call("classify", body=colour_examples[0][0], headers={"Content-Type": "image/jpeg"})
    assert_error(reply, 503, "model_unavailable")
    assert b"/srv/secret" not in reply.body


def test_multipart_with_thousands_of_parts_is_400(api):
    # Refused before parsing: thousands of tiny parts would cost seconds of CPU.
    fields = {f"f{i}": (None, b"x", None) for i in range(1500)}
    body, ctype = multipart(fields)
    error = assert_error(
        call("classify", body=body, headers={"Content-Type": ctype}), 400, "bad_request"
    )
    assert "'image'" in error["message"]
    assert "parts" in error["message"]
    fields = {f"f{i}": (None, b"x", None) for i in range(10)}
    fields["image"] = ("a.jpg", modelgen.photo("red"), "image/jpeg")
    body, ctype = multipart(fields, boundary="quoted boundary")
    ok = call(
        "classify",
        body=body,
        headers={
            "Content-Type": ctype.replace("boundary=quoted boundary", 'boundary="quoted boundary"')
        },
    )
    assert ok.status == 200, ok.body
