"""POST /api/feedback called as the Functions worker calls it, with the folder backend
(and a Blob backend that cannot be reached). The same route over HTTP with Azurite is in
test_feedback_azurite.py; the page's side in tests/site/test_feedback_browser.py."""

from __future__ import annotations

import hashlib
import logging
import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import modelgen
import pytest
from feedback_helpers import (
    FEEDBACK_SETTINGS,
    HOSTILE_UPLOADS,
    RECORD_KEYS,
    feedback_form,
    folder_items,
    reset_feedback_state,
)
from function_helpers import ROOT, call

from isit.photo_feedback import FeedbackSettings, Limiter, TooManyRequests

pytestmark = pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
RED = modelgen.photo("red", seed=1)


@pytest.fixture
def api(api, tmp_path):
    """Feedback on, into a folder; a fresh instance's counts."""
    monkeypatch = api
    for name in FEEDBACK_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FEEDBACK_STORAGE", f"file:{tmp_path / 'inbox'}")
    reset_feedback_state()
    yield monkeypatch
    reset_feedback_state()


def post(body_and_type: tuple[bytes, str], **params: str):
    body, content_type = body_and_type
    return call("feedback", body=body, headers={"Content-Type": content_type}, params=params)


def error_of(reply, status: int, code: str) -> str:
    assert reply.status == status, reply.body
    assert reply.content_type == "application/json"
    assert set(reply.json) == {"error"} and reply.json["error"]["code"] == code
    return reply.json["error"]["message"]


def test_a_flagged_photo_is_stored_as_the_layout_says(api, tmp_path):
    before = datetime.now(UTC).replace(microsecond=0)
    reply = post(feedback_form(RED, "blue_thing", "red_thing", "20261204-101500"))
    assert reply.status == 202, reply.body
    assert reply.json["status"] == "stored" and re.fullmatch(r"[0-9a-f]{32}", reply.json["id"])
    items = folder_items(tmp_path / "inbox")
    record, photo, path = items[reply.json["id"]]
    assert set(items) == {reply.json["id"]}
    assert photo == RED  # byte for byte as uploaded
    assert set(record) == RECORD_KEYS
    received = datetime.fromisoformat(record["received"])
    assert received.tzinfo is not None and received.utcoffset() == timedelta(0)
    assert before <= received <= datetime.now(UTC)
    assert path == f"items/{received:%Y-%m-%d}/{record['id']}.jpg"
    assert record["photo"] == f"{record['id']}.jpg"
    assert (record["label"], record["answer"], record["model_version"]) == (
        "blue_thing",
        "red_thing",
        "20261204-101500",
    )
    assert record["sha256"] == hashlib.sha256(RED).hexdigest() and record["bytes"] == len(RED)
    # Nothing about the sender, and no half-written temporary file left behind.
    assert not [p for p in (tmp_path / "inbox").rglob("*") if p.name.startswith(".")]


@pytest.mark.parametrize(
    ("fmt", "ext"), [("PNG", "png"), ("WEBP", "webp"), ("GIF", "gif"), ("BMP", "bmp")]
)
def test_the_photo_keeps_its_decoded_format_as_extension(api, tmp_path, fmt, ext):
    photo = modelgen.photo("green", (120, 90), fmt, seed=3)
    reply = post(feedback_form(photo, "none", filename="x.bin", content_type="image/x-whatever"))
    assert reply.status == 202, reply.body
    record, stored, path = folder_items(tmp_path / "inbox")[reply.json["id"]]
    assert path.endswith(f".{ext}") and stored == photo
    assert (record["label"], record["answer"], record["model_version"]) == ("none", None, None)


def test_model_says_whether_feedback_is_on(api):
    info = call("model", method="GET").json
    assert info["feedback"] is True
    assert info["feedback_retention_days"] == FeedbackSettings().retention_days == 30
    api.setenv("FEEDBACK_RETENTION_DAYS", "7")
    assert call("model", method="GET").json["feedback_retention_days"] == 7
    api.delenv("FEEDBACK_STORAGE")
    assert call("model", method="GET").json["feedback"] is False


def test_feedback_off_answers_404_and_keeps_nothing(api, tmp_path):
    api.delenv("FEEDBACK_STORAGE")
    error_of(post(feedback_form(RED, "red_thing")), 404, "feedback_disabled")
    assert not (tmp_path / "inbox").exists()


@pytest.mark.parametrize(
    ("label", "answer", "version", "said"),
    [
        (None, None, None, "label"),
        ("", None, None, "label"),
        ("purple_thing", None, None, "not one of this model's classes"),
        ("RED_THING", None, None, "not one of"),
        ("unknown", None, None, "not one of"),  # the visitor says "none", not "unknown"
        ("red_thing", "purple_thing", None, "answer"),
        ("red_thing", "red_thing", "v\x001", "model_version"),
        ("red_thing", "red_thing", "v" * 65, "model_version"),
    ],
)
def test_a_bad_label_is_400_and_keeps_nothing(api, tmp_path, label, answer, version, said):
    message = error_of(post(feedback_form(RED, label, answer, version)), 400, "bad_label")
    assert said in message
    assert folder_items(tmp_path / "inbox") == {} if (tmp_path / "inbox").exists() else True


def test_label_may_come_in_the_query_string_with_a_raw_body(api, tmp_path):
    reply = call(
        "feedback", body=RED, headers={"Content-Type": "image/jpeg"}, params={"label": "none"}
    )
    assert reply.status == 202, reply.body
    assert folder_items(tmp_path / "inbox")[reply.json["id"]][0]["label"] == "none"


@pytest.mark.parametrize("name", sorted(HOSTILE_UPLOADS))
def test_a_hostile_upload_is_refused_as_classify_refuses_it(api, tmp_path, name):
    data = HOSTILE_UPLOADS[name]
    classified = call("classify", body=data, headers={"Content-Type": "image/jpeg"})
    assert classified.status in (400, 413, 415, 422), classified.body
    reply = post(feedback_form(data, "red_thing"))
    assert (reply.status, reply.json["error"]["code"]) == (
        classified.status,
        classified.json["error"]["code"],
    )
    assert not (tmp_path / "inbox").exists()


def test_size_limits_are_classifys(api, tmp_path):
    api.setenv("MAX_UPLOAD_BYTES", str(len(RED) - 1))
    error_of(post(feedback_form(RED, "red_thing")), 413, "too_large")
    api.setenv("MAX_UPLOAD_BYTES", str(10 * len(RED)))
    api.setenv("MAX_IMAGE_PIXELS", "10000")
    error_of(post(feedback_form(RED, "red_thing")), 422, "too_many_pixels")
    error_of(call("feedback", body=b"", headers={"Content-Type": "image/jpeg"}), 400, "empty_body")
    no_file = feedback_form(RED, "red_thing")[0].replace(b'; filename="photo.jpg"', b"")
    error_of(
        post((no_file, "multipart/form-data; boundary=isitTestBoundary42")),
        400,
        "missing_image_field",
    )
    assert not (tmp_path / "inbox").exists()


def test_only_post(api):
    reply = call("feedback", method="GET")
    error_of(reply, 405, "method_not_allowed")
    assert reply.headers["allow"] == "POST, OPTIONS"


def test_rate_limit_answers_429_with_retry_after(api, tmp_path):
    api.setenv("FEEDBACK_RATE_PER_MINUTE", "3")
    statuses = [post(feedback_form(RED, "red_thing")).status for _ in range(3)]
    assert statuses == [202, 202, 202]
    reply = post(feedback_form(RED, "red_thing"))
    assert "last minute" in error_of(reply, 429, "too_many_requests")
    assert 1 <= int(reply.headers["retry-after"]) <= 20  # one token: 60 s / 3
    assert len(folder_items(tmp_path / "inbox")) == 3


def test_daily_cap_answers_429_until_utc_midnight(api, tmp_path):
    api.setenv("FEEDBACK_DAILY_CAP", "2")
    assert [post(feedback_form(RED, "none")).status for _ in range(2)] == [202, 202]
    reply = post(feedback_form(RED, "none"))
    assert "today" in error_of(reply, 429, "too_many_requests")
    now = datetime.now(UTC)
    to_midnight = (datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)) - now
    assert abs(int(reply.headers["retry-after"]) - to_midnight.total_seconds()) < 5
    assert len(folder_items(tmp_path / "inbox")) == 2


def test_refused_uploads_do_not_count_against_the_daily_cap(api):
    api.setenv("FEEDBACK_DAILY_CAP", "1")
    assert post(feedback_form(RED, "purple")).status == 400
    assert post(feedback_form(RED, "none")).status == 202


def test_the_cap_starts_again_on_a_new_utc_day():
    limiter = Limiter(rate_per_minute=100, daily_cap=1)
    day = datetime(2026, 12, 4, 23, 59, 30, tzinfo=UTC)
    limiter.take(day)
    limiter.kept(day)
    with pytest.raises(TooManyRequests) as refused:
        limiter.take(day)
    assert refused.value.retry_after == 30
    limiter.take(day + timedelta(minutes=1))  # 2026-12-05: a new day's cap


def test_storage_failure_is_503_logged_with_the_request_id(api, tmp_path, caplog):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the folder should be")
    api.setenv("FEEDBACK_STORAGE", f"file:{blocker}")
    with caplog.at_level(logging.ERROR, logger="isit.function"):
        reply = post(feedback_form(RED, "red_thing"))
    assert "try again later" in error_of(reply, 503, "feedback_unavailable")
    logged = [r.getMessage() for r in caplog.records if "Feedback not stored" in r.getMessage()]
    assert len(logged) == 1 and reply.headers["x-request-id"] in logged[0]
    assert str(blocker) not in reply.body.decode()  # server paths stay in the log


def test_unreachable_blob_storage_is_a_quick_503(api, caplog):
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    api.setenv(
        "FEEDBACK_STORAGE",
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
        f"BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;",
    )
    started = time.perf_counter()
    with caplog.at_level(logging.ERROR, logger="isit.function"):
        reply = post(feedback_form(RED, "red_thing"))
    assert time.perf_counter() - started < 6  # a visitor waits: no minute of backoff
    error_of(reply, 503, "feedback_unavailable")
    assert any(reply.headers["x-request-id"] in r.getMessage() for r in caplog.records)


def test_a_storage_setting_that_is_nothing_known_is_503(api, caplog):
    api.setenv("FEEDBACK_STORAGE", "my-storage-account")
    with caplog.at_level(logging.ERROR, logger="isit.function"):
        error_of(post(feedback_form(RED, "red_thing")), 503, "feedback_unavailable")
    assert any("connection string" in r.getMessage() for r in caplog.records)


def test_defaults_live_in_one_place():
    settings = FeedbackSettings.from_env({})
    assert settings == FeedbackSettings()
    assert not settings.enabled
    assert (settings.container, settings.retention_days) == ("feedback", 30)
    odd = FeedbackSettings.from_env({"FEEDBACK_DAILY_CAP": "-3", "FEEDBACK_RATE_PER_MINUTE": "x"})
    assert (odd.daily_cap, odd.rate_per_minute) == (settings.daily_cap, settings.rate_per_minute)


def test_the_function_without_feedback_imports_no_azure_sdk(colour_model_path):
    """Cold start without feedback pays nothing for azure-storage-blob or azure-identity."""
    code = (
        "import os, sys\n"
        f"os.environ['MODEL_PATH'] = {str(colour_model_path)!r}\n"
        "os.environ.pop('FEEDBACK_STORAGE', None)\n"
        "import azure.functions as func, function_app\n"
        "r = function_app.model(func.HttpRequest('GET', 'http://x/api/model', body=b''))\n"
        "assert r.status_code == 200, r.get_body()\n"
        "heavy = [m for m in sys.modules if m.startswith(('azure.storage', 'azure.identity',"
        " 'azure.core', 'training'))]\n"
        "print(heavy); sys.exit(1 if heavy else 0)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
