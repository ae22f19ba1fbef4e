"""The loop's server half end to end: HTTP to the dev host, the real azure-storage-blob SDK,
Azurite as the Storage account (npm azurite, started here on 127.0.0.1 with a free port and
a temporary workspace, stopped at the end). No Node/Azurite: a failure in CI, saying how to
install it (a skip elsewhere)."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime

import modelgen
import pytest
import requests
from feedback_helpers import (
    HOSTILE_UPLOADS,
    RECORD_KEYS,
    container_items,
    feedback_form,
    reset_feedback_state,
    serving_feedback,
    start_azurite,
)

pytestmark = pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
CONTAINER = "feedback-e2e"


@pytest.fixture(scope="module")
def azurite(tmp_path_factory):
    running = start_azurite(tmp_path_factory.mktemp("azurite"))
    yield running
    running.stop()
    assert running.process.poll() is not None  # stopped, not left behind


@pytest.fixture(scope="module")
def host(colour_model_path, azurite):
    with serving_feedback(colour_model_path, azurite.connection_string, CONTAINER) as running:
        yield running


@pytest.fixture(scope="module")
def container(azurite):
    from azure.storage.blob import BlobServiceClient

    return BlobServiceClient.from_connection_string(azurite.connection_string).get_container_client(
        CONTAINER
    )


@pytest.fixture
def settings(host):
    """Per-test app-setting changes on the running host; a fresh instance's counts."""
    reset_feedback_state()
    with pytest.MonkeyPatch.context() as mp:
        yield mp
    reset_feedback_state()


def send(host, photo: bytes, label: str | None, **extra) -> requests.Response:
    body, content_type = feedback_form(photo, label, **extra)
    return requests.post(
        host.url + "/api/feedback", data=body, headers={"Content-Type": content_type}, timeout=30
    )


def stored_ids(container) -> set[str]:
    if not container.exists():
        return set()
    return set(container_items(container))


def test_three_flagged_photos_are_stored_byte_identical(host, container, settings):
    photos = [
        (modelgen.photo("red", seed=11), "blue_thing", "red_thing", "jpg"),
        (modelgen.photo("blue", (300, 200), "PNG", seed=12), "none", "blue_thing", "png"),
        (modelgen.photo("grey", (90, 120), "WEBP", seed=13), "green_thing", "unknown", "webp"),
    ]
    before = stored_ids(container)
    ids = {}
    for photo, label, answer, ext in photos:
        reply = send(host, photo, label, answer=answer, model_version="20261204-101500")
        assert reply.status_code == 202, reply.text
        assert reply.headers["X-Request-Id"]
        ids[reply.json()["id"]] = (photo, label, answer, ext)
    items = container_items(container)
    assert set(items) - before == set(ids)
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    for item_id, (photo, label, answer, ext) in ids.items():
        record, stored, name = items[item_id]
        assert stored == photo  # byte for byte
        assert name == f"items/{today}/{item_id}.{ext}"
        assert set(record) == RECORD_KEYS
        assert record["id"] == item_id and record["photo"] == f"{item_id}.{ext}"
        assert (record["label"], record["answer"], record["model_version"]) == (
            label,
            answer,
            "20261204-101500",
        )
        assert record["sha256"] == hashlib.sha256(photo).hexdigest()
        assert record["bytes"] == len(photo)
        assert record["received"].endswith("Z") and record["received"].startswith(today)
    # The container is private: no anonymous read.
    assert container.get_container_access_policy()["public_access"] is None


def test_feedback_off_answers_404(host, container, settings):
    settings.delenv("FEEDBACK_STORAGE")
    before = stored_ids(container)
    reply = send(host, modelgen.photo("red"), "red_thing")
    assert reply.status_code == 404
    assert reply.json()["error"]["code"] == "feedback_disabled"
    assert requests.get(host.url + "/api/model", timeout=30).json()["feedback"] is False
    assert stored_ids(container) == before


def test_over_the_daily_cap_answers_429(host, container, settings):
    settings.setenv("FEEDBACK_DAILY_CAP", "2")
    before = stored_ids(container)
    replies = [send(host, modelgen.photo("green", seed=i), "none") for i in range(3)]
    assert [r.status_code for r in replies] == [202, 202, 429]
    assert replies[2].json()["error"]["code"] == "too_many_requests"
    assert int(replies[2].headers["Retry-After"]) > 0
    assert len(stored_ids(container) - before) == 2


@pytest.mark.parametrize("name", ["png_bomb", "jpeg_scan_bomb", "svg", "truncated_jpeg"])
def test_a_hostile_upload_is_refused_as_classify_refuses_it(host, container, settings, name):
    data = HOSTILE_UPLOADS[name]
    classified = requests.post(
        host.url + "/api/classify",
        data=data,
        headers={"Content-Type": "image/jpeg"},
        timeout=30,
    )
    before = stored_ids(container)
    reply = send(host, data, "red_thing")
    assert classified.status_code in (400, 415, 422)
    assert reply.status_code == classified.status_code
    assert reply.json()["error"]["code"] == classified.json()["error"]["code"]
    assert stored_ids(container) == before


def test_a_bad_label_is_400(host, container, settings):
    before = stored_ids(container)
    reply = send(host, modelgen.photo("red"), "purple_thing")
    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == "bad_label"
    assert "red_thing" in reply.json()["error"]["message"]  # says what the choices are
    assert stored_ids(container) == before


def test_feedback_latency_through_the_dev_host(host, settings, capsys):
    """Not a timed test: prints p50/max so a regression is visible (bench_feedback.py
    measures more)."""
    photo = modelgen.photo("red", (512, 384), seed=5)
    times = []
    for _ in range(10):
        started = time.perf_counter()
        assert send(host, photo, "red_thing").status_code == 202
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    with capsys.disabled():
        print(f"\nfeedback via dev host + Azurite: p50 {times[5]:.1f} ms, max {times[-1]:.1f} ms")


def test_without_node_the_azurite_tests_fail_in_ci_and_say_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no node, no npm
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="apt-get install nodejs npm"):
        start_azurite(tmp_path / "ws")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="make azurite"):
        start_azurite(tmp_path / "ws")


def test_without_the_npm_package_the_message_names_make_azurite(tmp_path, monkeypatch):
    monkeypatch.setenv("ISIT_AZURITE", str(tmp_path / "no-azurite"))
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="run `make azurite`"):
        start_azurite(tmp_path / "ws")
