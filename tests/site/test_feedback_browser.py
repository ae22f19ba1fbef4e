""" "Was this right?" in a real Chromium, against the dev host with feedback kept in a folder
(the Azurite path of the same route is tested in tests/serve/test_feedback_azurite.py).

Every request the page makes to /api/feedback is counted: nothing may leave before the
visitor has agreed, in words, that the photo will be kept."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import modelgen
import pytest
from chromium import BROWSER_TESTS
from feedback_helpers import FEEDBACK_SETTINGS, folder_items, reset_feedback_state
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "site"
ARTIFACTS = ROOT / "test-artifacts" / "site"
CLASSIFY = re.compile(r"/api/classify(\?|$)")
FEEDBACK = re.compile(r"/api/feedback$")

pytestmark = BROWSER_TESTS


def red_photo(size: tuple[int, int] = (1600, 1200)) -> bytes:
    """Big enough that the page downscales it before sending."""
    img = Image.open(io.BytesIO(modelgen.photo("red", seed=21))).convert("RGB").resize(size)
    out = io.BytesIO()
    img.save(out, "JPEG", quality=95)
    return out.getvalue()


@pytest.fixture(scope="module")
def server(colour_model_path):
    from devhost.server import start

    with pytest.MonkeyPatch.context() as mp:
        for name in FEEDBACK_SETTINGS:
            mp.delenv(name, raising=False)
        host = start(port=0, site_dir=SITE, model_path=colour_model_path)
        try:
            yield host
        finally:
            host.stop()


@pytest.fixture
def inbox(server, tmp_path, monkeypatch):
    """Feedback on, into a fresh folder (settings are read per request)."""
    monkeypatch.setenv("FEEDBACK_STORAGE", f"file:{tmp_path / 'inbox'}")
    reset_feedback_state()
    yield tmp_path / "inbox"
    reset_feedback_state()




class Sent:
    """What the page sent: classify bodies (read in a route: a request event has no blob
    body) and every /api/feedback request, whatever happens to it later."""

    def __init__(self, page) -> None:
        self.classified: list[bytes] = []
        self.feedback: list[object] = []
        page.route(CLASSIFY, self._classify)
        page.on("request", self._seen)

    def _classify(self, route) -> None:
        self.classified.append(route.request.post_data_buffer or b"")
        route.continue_()

    def _seen(self, request) -> None:
        if FEEDBACK.search(request.url):
            self.feedback.append(request)


@pytest.fixture
def page(browser, server):
    """The page, loaded: request `inbox` BEFORE it, or /api/model says feedback is off."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.sent = Sent(page)
    page.goto(server.url + "/")
    page.wait_for_selector("#classes .chip")
    yield page
    assert errors == []
    context.close()


def answer(page, data: bytes) -> None:
    page.set_input_files(
        "#file", files=[{"name": "me.jpg", "mimeType": "image/jpeg", "buffer": data}]
    )
    page.wait_for_selector("#result[data-state=known]")


def press(page, name: str) -> None:
    page.locator("#feedback").get_by_role("button", name=name, exact=True).click()


def feedback_state(page, state: str) -> str:
    page.wait_for_selector(f"#feedback[data-state={state}]")
    return page.inner_text("#feedback")


def test_the_visitor_agrees_then_the_downscaled_photo_is_kept(inbox, page):
    original = red_photo()
    answer(page, original)
    assert "Was this right?" in feedback_state(page, "ask")
    assert "not kept unless you choose to send it" in page.inner_text("#privacy")
    press(page, "No, it is…")
    feedback_state(page, "choose")
    press(page, "Blue Thing")
    consent = feedback_state(page, "confirm")
    assert "Send this photo to the owner as “Blue Thing”?" in consent
    assert "kept for up to 30 days" in consent and "improve the model" in consent
    assert page.sent.feedback == [] and not inbox.exists()  # asking sends nothing
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "feedback-confirm-1280.png"))
    press(page, "Send photo")
    thanks = feedback_state(page, "sent")
    assert "Thanks! Your photo was sent to the owner as “Blue Thing”." in thanks
    page.screenshot(path=str(ARTIFACTS / "feedback-sent-1280.png"))
    assert len(page.sent.feedback) == 1
    ((record, photo, _),) = folder_items(inbox).values()
    sent_for_answer = page.sent.classified[-1]
    assert photo == sent_for_answer and len(photo) < len(original)  # the downscaled upload
    model = json.loads(page.evaluate("fetch('/api/model').then(r => r.text())"))
    assert (record["label"], record["answer"], record["model_version"]) == (
        "blue_thing",
        "red_thing",
        model["version"],
    )
    # A new photo: the question is about it, not the last one.
    answer(page, red_photo((800, 600)))
    assert "Was this right?" in feedback_state(page, "ask")


def test_declining_sends_nothing(inbox, page):
    answer(page, red_photo())
    feedback_state(page, "ask")
    press(page, "Yes, it is Red Thing")
    assert "as “Red Thing”" in feedback_state(page, "confirm")
    press(page, "Don't send")
    assert "Nothing was sent" in feedback_state(page, "declined")
    page.wait_for_timeout(300)  # anything sent late would show up here
    assert page.sent.feedback == []
    assert not inbox.exists()


def test_none_of_these_is_offered_and_sent_as_none(inbox, page):
    answer(page, red_photo())
    press(page, "No, it is…")
    choices = page.locator("#feedback button").all_inner_texts()
    assert choices == ["Blue Thing", "Green Thing", "None of these", "Cancel"]
    press(page, "None of these")
    press(page, "Send photo")
    feedback_state(page, "sent")
    ((record, _, _),) = folder_items(inbox).values()
    assert record["label"] == "none"


def test_a_failed_send_is_explained_and_can_be_retried(inbox, page):
    answer(page, red_photo())
    body = {
        "error": {
            "code": "feedback_unavailable",
            "message": "Your photo could not be "
            "saved right now. Nothing was kept; try again later.",
        }
    }
    page.route(
        FEEDBACK,
        lambda route: route.fulfill(
            status=503, content_type="application/json", body=json.dumps(body)
        ),
    )
    press(page, "Yes, it is Red Thing")
    press(page, "Send photo")
    text = feedback_state(page, "error")
    assert "Not sent: the photo couldn't be saved" in text and "Nothing was kept" in text
    page.unroute(FEEDBACK)
    press(page, "Try again")
    feedback_state(page, "sent")
    assert len(folder_items(inbox)) == 1


def test_with_feedback_off_the_page_asks_nothing(page, server):
    # No `inbox`: FEEDBACK_STORAGE is unset, so /api/model says "feedback": false.
    answer(page, red_photo())
    page.wait_for_timeout(200)
    assert page.is_hidden("#feedback")
    assert (
        page.inner_text("#privacy") == "Your photo is sent to the model, classified and not kept."
    )
    assert page.sent.feedback == []
