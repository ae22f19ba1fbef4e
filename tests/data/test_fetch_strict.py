"""Issue 26, item 6: `isit fetch` is as strict as the server: an invalid Content-Length fails
that one download, a trickling server meets a deadline and a minimum rate, and manifest.csv
cells that a spreadsheet would run as formulas are written as text.

Real HTTP on 127.0.0.1 against tests/fake_flickr.py.
"""

from __future__ import annotations

import csv
import time
from dataclasses import replace
from pathlib import Path

import pytest
from fake_flickr import FakeFlickr, FakePhoto, sample_photos

from training.data.fetch import FetchOptions, fetch_flickr
from training.data.fetch.http import RetryPolicy
from training.data.fetch.store import as_text_cell, from_text_cell

FAST = RetryPolicy(attempts=3, backoff_base=0.001, connect_timeout=2, read_timeout=5)


def _fetch(fake: FakeFlickr, out: Path, retry: RetryPolicy = FAST, **overrides):
    options = FetchOptions(
        user="mila_owner",
        tags=("mila",),
        out=out,
        api_base=fake.api_base,
        per_page=4,
        workers=3,
        retry=retry,
        **overrides,
    )
    return fetch_flickr(options, fake.api_key, progress=False)


def _kept(out: Path) -> set[str]:
    return {p.stem for p in (out / "mila").iterdir() if not p.name.startswith(".")}


def test_a_non_ascii_content_length_fails_only_that_download(tmp_path) -> None:
    with FakeFlickr(sample_photos(9)) as fake:
        ids = sorted(p.id for p in fake.photos if "mila" in p.tags)
        fake.faults[ids[0]] = ["bad_length"]
        report = _fetch(fake, tmp_path)
    assert _kept(tmp_path) == set(ids[1:])  # the others are all there
    assert [(f.photo_id, f.reason) for f in report.failures] == [
        (ids[0], "invalid Content-Length from the server")
    ]


@pytest.mark.parametrize(
    ("policy", "reason"),
    [
        # One byte every 2 s: each read is quick, so a read timeout never trips.
        (replace(FAST, rate_grace=3.0, min_rate=100.0), "too slow"),
        (replace(FAST, download_deadline=3.0, min_rate=0.0), "slower than 3 s"),
    ],
)
def test_a_trickling_server_meets_the_rate_and_the_deadline(tmp_path, policy, reason) -> None:
    with FakeFlickr([FakePhoto("1", ["mila"]), FakePhoto("2", ["mila"])]) as fake:
        fake.faults["1"] = ["trickle"]
        fake.trickle_every, fake.trickle_bytes = 2.0, 10  # 20 s if nothing stops it
        started = time.monotonic()
        report = _fetch(fake, tmp_path, retry=policy)
        took = time.monotonic() - started
    assert took < 9, took
    assert _kept(tmp_path) == {"2"}
    assert len(report.failures) == 1
    assert report.failures[0].photo_id == "1" and reason in report.failures[0].reason
    assert fake.count("image", "1") == 1  # too slow is not retried: it would be as slow


@pytest.mark.parametrize(
    "value",
    ["=HYPERLINK(\"http://x\",\"y\")", "+1+1", "-2+3", "@SUM(A1)", "'=already", "''-x", "\tx"],
)
def test_formula_cells_round_trip_as_text(value: str) -> None:
    cell = as_text_cell(value)
    assert cell.startswith("'")
    assert from_text_cell(cell) == value


def test_plain_cells_are_unchanged() -> None:
    for value in ("mila", "photo 1", "'quoted'", "", "a=b"):
        assert as_text_cell(value) == from_text_cell(value) == value


def test_manifest_titles_cannot_be_spreadsheet_formulas(tmp_path) -> None:
    title = '=HYPERLINK("http://evil.example","click")'
    photos = [FakePhoto("1", ["mila"], title=title), FakePhoto("2", ["mila"], title="-1")]
    with FakeFlickr(photos) as fake:
        _fetch(fake, tmp_path)
        _fetch(fake, tmp_path)  # a second run reads the manifest back and writes it again
    with open(tmp_path / "manifest.csv", newline="", encoding="utf-8") as handle:
        rows = {row["photo_id"]: row for row in csv.DictReader(handle)}
    assert rows["1"]["title"] == "'" + title
    assert rows["2"]["title"] == "'-1"
    for row in rows.values():
        assert not any(cell.startswith(("=", "+", "-", "@")) for cell in row.values())
