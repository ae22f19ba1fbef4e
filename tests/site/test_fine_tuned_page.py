"""The web page in a real Chromium in front of a fine-tuned model with test-time flips
(issue 28): the same page works as with a frozen one: right answers, "unknown", and
"Show where it looked" from the model's own heatmap."""

from __future__ import annotations

from pathlib import Path

import modelgen
import pytest
from chromium import BROWSER_TESTS
from synthetic import new_shape_photos

SITE = Path(__file__).resolve().parents[2] / "site"
RESULT_DONE = "#result[data-state=known], #result[data-state=uncertain], " \
    "#result[data-state=unknown], #result[data-state=error]"

pytestmark = [pytest.mark.slow, *BROWSER_TESTS]


@pytest.fixture(scope="module")
def server(fine_tuned_model):
    from devhost.server import start

    host = start(port=0, site_dir=SITE, model_path=fine_tuned_model.model_path)
    yield host
    host.stop()


def _upload(page, data: bytes) -> str:
    page.set_input_files("#file", files=[{"name": "photo.jpg", "mimeType": "image/jpeg",
                                          "buffer": data}])  # fmt: skip
    page.wait_for_selector(RESULT_DONE)
    return page.get_attribute("#result", "data-state")


def test_the_page_answers_a_fine_tuned_model_and_shows_where_it_looked(browser, server):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("filechooser", lambda chooser: None)
    page.goto(server.url + "/")
    page.wait_for_selector("#classes .chip")
    assert page.locator("#classes .chip").count() == 3
    right = 0
    for data, label in new_shape_photos():
        state = _upload(page, data)
        assert state in ("known", "uncertain"), state
        right += page.inner_text("#result .score.top .score-label").lower() == label
    assert right >= 5  # of 6 new photos
    toggle = page.get_by_role("button", name="Show where it looked")
    toggle.click()
    assert toggle.get_attribute("aria-pressed") == "true" and page.is_visible("#heat")
    assert page.inner_text(".where-text").startswith("It looked mostly at")
    assert _upload(page, modelgen.photo("grey", noise=0)) == "unknown"
    assert errors == []
    page.close()
